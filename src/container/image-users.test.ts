import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseGroup, parsePasswd, resolveUser } from './image-users.js';

describe('users of the image', () => {
  const root = mkdtempSync(join(tmpdir(), 'fsidmap-users-'));
  mkdirSync(join(root, 'etc'));
  writeFileSync(
    join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/bash\nbroken line\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/sh\n',
  );
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nshadow:x:42:\nstaff:x:50:alice,bob\nalice:x:1000:\nbad\n');
  after(() => rmSync(root, { recursive: true, force: true }));

  it('parses passwd and group, skipping malformed lines', () => {
    assert.equal(parsePasswd('root:x:0:0::/root:/bin/sh\nx:y\n').length, 1);
    assert.deepEqual(parseGroup('staff:x:50:alice,bob\n'), [{ name: 'staff', gid: 50, members: ['alice', 'bob'] }]);
  });

  const cases: Array<
    [string, Parameters<typeof resolveUser>[0], { uid: number; gid: number; groups: number[]; name: string | null; home: string }]
  > = [
    ['root by default', undefined, { uid: 0, gid: 0, groups: [0], name: 'root', home: '/root' }],
    [
      'a name, with the groups listing it (initgroups)',
      { user: 'alice', group: null },
      { uid: 1000, gid: 1000, groups: [1000, 50], name: 'alice', home: '/home/alice' },
    ],
    ['a number the image knows', { user: '33', group: null }, { uid: 33, gid: 33, groups: [33], name: 'www-data', home: '/var/www' }],
    [
      'a number it does not: its group is the same number',
      { user: '4242', group: null },
      { uid: 4242, gid: 4242, groups: [4242], name: null, home: '/' },
    ],
    [
      "an explicit group replaces the user's groups",
      { user: 'alice', group: 'shadow' },
      { uid: 1000, gid: 42, groups: [42], name: 'alice', home: '/home/alice' },
    ],
    ['a numeric group', { user: '1000', group: '7' }, { uid: 1000, gid: 7, groups: [7], name: 'alice', home: '/home/alice' }],
  ];
  for (const [what, spec, want] of cases) {
    it(`resolves ${what}`, () => assert.deepEqual({ ...resolveUser(spec, root) }, want));
  }
  it('refuses names the image lacks', () => {
    assert.throws(() => resolveUser({ user: 'mallory', group: null }, root), { code: 'ERR_RUN_NO_SUCH_USER' });
    assert.throws(() => resolveUser({ user: 'alice', group: 'wheel' }, root), { code: 'ERR_RUN_NO_SUCH_GROUP' });
    assert.throws(() => resolveUser({ user: '4294967295', group: null }, root), { code: 'ERR_RUN_BAD_USER' });
  });
});
