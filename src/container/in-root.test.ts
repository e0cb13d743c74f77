import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { findCommand, resolveInRoot } from './in-root.js';

describe('resolving paths inside a rootfs (RESOLVE_IN_ROOT)', () => {
  const outside = mkdtempSync(join(tmpdir(), 'fsidmap-inroot-'));
  const root = join(outside, 'root');
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(outside, 'secret'), 'host');
  writeFileSync(join(root, 'usr/bin/tool'), '#!/bin/sh\n');
  chmodSync(join(root, 'usr/bin/tool'), 0o755);
  writeFileSync(join(root, 'usr/bin/data'), 'not executable');
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
  symlinkSync('usr/bin', join(root, 'bin'));
  symlinkSync('/etc/passwd', join(root, 'abs-link'));
  symlinkSync('../../../secret', join(root, 'escape'));
  symlinkSync('loop2', join(root, 'loop1'));
  symlinkSync('loop1', join(root, 'loop2'));
  after(() => rmSync(outside, { recursive: true, force: true }));

  it('follows relative links (merged /usr: /bin → usr/bin)', () => {
    assert.equal(resolveInRoot(root, '/bin/tool')?.hostPath, join(root, 'usr/bin/tool'));
  });
  it('starts absolute links again at the rootfs, not the host', () => {
    assert.equal(resolveInRoot(root, '/abs-link')?.hostPath, join(root, 'etc/passwd'));
  });
  it('stops ".." at the rootfs, so a link cannot escape it', () => {
    assert.equal(resolveInRoot(root, '/escape'), null, 'resolves to <root>/secret, which does not exist');
    assert.equal(resolveInRoot(root, '/../../etc/passwd')?.hostPath, join(root, 'etc/passwd'));
  });
  it('gives up on link loops (ELOOP) and on missing paths', () => {
    assert.equal(resolveInRoot(root, '/loop1'), null);
    assert.equal(resolveInRoot(root, '/nope'), null);
  });
  it('can leave the last link unfollowed', () => {
    assert.ok(resolveInRoot(root, '/bin', { followLast: false })?.stat.isSymbolicLink());
  });
  it('finds commands as execvp would: PATH search, executables only', () => {
    assert.equal(findCommand(root, 'tool', '/usr/local/bin:/bin'), '/bin/tool');
    assert.equal(findCommand(root, '/usr/bin/tool', ''), '/usr/bin/tool');
    assert.equal(findCommand(root, 'data', '/usr/bin'), null);
    assert.equal(findCommand(root, 'sh', '/usr/bin:/bin'), null);
  });
});
