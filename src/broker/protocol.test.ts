import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { auditView, errorAnswer, okAnswer, parseRequest } from './protocol.js';

/** Each row: a request line, and the code it is refused with (null: accepted, with the op). */
const rows: Array<[name: string, line: string, expect: string]> = [
  ['hello', '{"v":1,"id":1,"op":"hello"}', 'hello'],
  ['a string id', '{"v":1,"id":"abc","op":"list"}', 'list'],
  ['no id at all', '{"v":1,"op":"hello"}', 'hello'],
  ['setmaps with both maps', '{"v":1,"id":1,"op":"setmaps","uidMap":"0 1 1","gidMap":"0 1 1"}', 'setmaps'],
  ['setmaps with setgroups deny', '{"v":1,"id":1,"op":"setmaps","uidMap":"0 1 1","gidMap":"0 1 1","setgroups":"deny"}', 'setmaps'],
  ['mount with a mount map', '{"v":1,"id":1,"op":"mount","path":"/x","mountMap":{"uid":"0 1 1","gid":"0 1 1"},"readonly":true}', 'mount'],
  [
    'mount with id and fsid maps',
    '{"v":1,"id":1,"op":"mount","path":"/x","idmap":{"uid":"0:1:1","gid":"0:1:1"},"fsidmap":{"uid":"0:2:1","gid":"0:2:1"}}',
    'mount',
  ],
  ['alloc with kind and size', '{"v":1,"id":1,"op":"alloc","name":"web-1","kind":"image","size":131072}', 'alloc'],
  ['release', '{"v":1,"id":1,"op":"release","name":"web.1"}', 'release'],
  ['not JSON', '{"v":1,', 'ERR_BROKER_PROTOCOL'],
  ['a JSON array', '[]', 'ERR_BROKER_PROTOCOL'],
  ['null', 'null', 'ERR_BROKER_PROTOCOL'],
  ['version 2', '{"v":2,"id":1,"op":"hello"}', 'ERR_BROKER_VERSION'],
  ['version as a string', '{"v":"1","id":1,"op":"hello"}', 'ERR_BROKER_VERSION'],
  ['no op', '{"v":1,"id":1}', 'ERR_BROKER_PROTOCOL'],
  ['unknown op', '{"v":1,"id":1,"op":"exec"}', 'ERR_BROKER_PROTOCOL'],
  ['op of the prototype', '{"v":1,"id":1,"op":"constructor"}', 'ERR_BROKER_PROTOCOL'],
  ['an unknown field', '{"v":1,"id":1,"op":"hello","uid":0}', 'ERR_BROKER_PROTOCOL'],
  ['the peer naming itself is an unknown field', '{"v":1,"id":1,"op":"list","user":"root"}', 'ERR_BROKER_PROTOCOL'],
  ['an object id', '{"v":1,"id":{},"op":"hello"}', 'ERR_BROKER_PROTOCOL'],
  ['a fractional id', '{"v":1,"id":1.5,"op":"hello"}', 'ERR_BROKER_PROTOCOL'],
  ['an id too long', `{"v":1,"id":"${'x'.repeat(129)}","op":"hello"}`, 'ERR_BROKER_PROTOCOL'],
  ['setmaps without gidMap', '{"v":1,"id":1,"op":"setmaps","uidMap":"0 1 1"}', 'ERR_BROKER_PROTOCOL'],
  ['setmaps with a numeric map', '{"v":1,"id":1,"op":"setmaps","uidMap":0,"gidMap":"0 1 1"}', 'ERR_BROKER_PROTOCOL'],
  ['setgroups maybe', '{"v":1,"id":1,"op":"setmaps","uidMap":"0 1 1","gidMap":"0 1 1","setgroups":"maybe"}', 'ERR_BROKER_PROTOCOL'],
  ['mount without maps', '{"v":1,"id":1,"op":"mount","path":"/x"}', 'ERR_BROKER_PROTOCOL'],
  [
    'mount with both kinds of maps',
    '{"v":1,"id":1,"op":"mount","path":"/x","mountMap":{"uid":"0 1 1","gid":"0 1 1"},"idmap":{"uid":"0 1 1","gid":"0 1 1"},"fsidmap":{"uid":"0 1 1","gid":"0 1 1"}}',
    'ERR_BROKER_PROTOCOL',
  ],
  [
    'mount with an id map but no fsid map',
    '{"v":1,"id":1,"op":"mount","path":"/x","idmap":{"uid":"0 1 1","gid":"0 1 1"}}',
    'ERR_BROKER_PROTOCOL',
  ],
  [
    'a map pair with an extra key',
    '{"v":1,"id":1,"op":"mount","path":"/x","mountMap":{"uid":"0 1 1","gid":"0 1 1","projid":"0 1 1"}}',
    'ERR_BROKER_PROTOCOL',
  ],
  [
    'readonly as a string',
    '{"v":1,"id":1,"op":"mount","path":"/x","mountMap":{"uid":"0 1 1","gid":"0 1 1"},"readonly":"yes"}',
    'ERR_BROKER_PROTOCOL',
  ],
  ['a name with a slash', '{"v":1,"id":1,"op":"alloc","name":"a/b"}', 'ERR_BROKER_PROTOCOL'],
  ['a name starting with a dot', '{"v":1,"id":1,"op":"alloc","name":".x"}', 'ERR_BROKER_PROTOCOL'],
  ['size zero', '{"v":1,"id":1,"op":"alloc","name":"x","size":0}', 'ERR_BROKER_PROTOCOL'],
  ['kind "host"', '{"v":1,"id":1,"op":"alloc","name":"x","kind":"host"}', 'ERR_BROKER_PROTOCOL'],
  [
    'a map longer than 32768 characters',
    `{"v":1,"id":1,"op":"setmaps","uidMap":"${'0'.repeat(32769)}","gidMap":"0 1 1"}`,
    'ERR_BROKER_PROTOCOL',
  ],
];

describe('parseRequest', () => {
  for (const [name, line, expect] of rows) {
    test(name, () => {
      const r = parseRequest(line);
      if (expect.startsWith('ERR_')) {
        assert.equal(r.ok, false);
        if (!r.ok) {
          assert.equal(r.error.code, expect);
          assert.ok(r.error.message.length > 0 && r.error.hint.length > 0);
        }
      } else {
        assert.equal(r.ok, true, r.ok ? '' : r.error.message);
        if (r.ok) assert.equal(r.request.op, expect);
      }
    });
  }

  test('the id is echoed when the line got far enough to have one', () => {
    const r = parseRequest('{"v":1,"id":"q7","op":"nope"}');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.id, 'q7');
  });

  test('never throws, whatever the line (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (line) => {
          const r = parseRequest(line);
          assert.equal(typeof r.ok, 'boolean');
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('a well-formed request survives being serialised again (property)', () => {
    const req = fc.record({
      id: fc.integer(),
      name: fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/),
      kind: fc.constantFrom('container', 'image', 'volume'),
    });
    fc.assert(
      fc.property(req, ({ id, name, kind }) => {
        const r = parseRequest(JSON.stringify({ v: 1, id, op: 'alloc', name, kind }));
        assert.ok(r.ok);
        if (r.ok && r.request.op === 'alloc')
          assert.deepEqual([r.request.id, r.request.name, r.request.kind, r.request.size], [id, name, kind, null]);
      }),
    );
  });
});

describe('answers', () => {
  test('ok and error answers are one JSON line with v and the id', () => {
    const ok = okAnswer(3, { a: 1 });
    const err = errorAnswer('x', { code: 'ERR_X', message: 'no', hint: null });
    assert.ok(ok.endsWith('\n') && !ok.slice(0, -1).includes('\n'));
    assert.deepEqual(JSON.parse(ok), { v: 1, id: 3, ok: true, result: { a: 1 } });
    assert.deepEqual(JSON.parse(err), { v: 1, id: 'x', ok: false, error: { code: 'ERR_X', message: 'no', hint: null } });
  });

  test('the audit view keeps the maps, drops the id and cuts long strings', () => {
    const r = parseRequest(`{"v":1,"id":1,"op":"mount","path":"/${'p'.repeat(5000)}","mountMap":{"uid":"0 1 1","gid":"0 2 1"}}`);
    assert.ok(r.ok);
    if (!r.ok) return;
    const v = auditView(r.request);
    assert.equal(v.id, undefined);
    assert.deepEqual(v.mountMap, { uid: '0 1 1', gid: '0 2 1' });
    assert.ok(String(v.path).length < 4200 && String(v.path).includes('5001 chars'));
  });
});
