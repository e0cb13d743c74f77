import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseScenario } from './schema.js';
import { runScenario } from './runner.js';

const minimal = (extra: Record<string, unknown> = {}) => JSON.stringify({ name: 't', steps: [{ op: 'stat', path: '/' }], ...extra });

test('scenario files: errors name the field, what was expected and what was found', () => {
  const cases: Array<[string, RegExp]> = [
    ['{', /not valid JSON/],
    [JSON.stringify({ name: 't', steps: [] }), /steps: a scenario needs at least one step/],
    [JSON.stringify({ name: 't', steps: [{ op: 'fly' }] }), /steps\[0\]\.op: expected one of/],
    [JSON.stringify({ name: 't', steps: [{ op: 'chmod', path: '/' }] }), /steps\[0\]\.mode: "chmod" needs "mode"/],
    [JSON.stringify({ name: 't', steps: [{ op: 'stat', path: '/', color: 1 }] }), /steps\[0\]: unknown field "color"/],
    [minimal({ tree: [{ path: '/x', mode: '999' }] }), /tree\[0\]\.mode: expected a mode/],
    [minimal({ processes: [{ name: 'p', caps: ['CAP_FLY'] }] }), /processes\[0\]\.caps: unknown capability/],
    [minimal({ semantics: 'v4' }), /semantics: expected one of off, v3, v2/],
    [JSON.stringify({ name: 't', steps: [{ op: 'stat', path: '/', expect: 'sure' }] }), /expect: expected "ok" or an errno name/],
  ];
  for (const [text, re] of cases)
    assert.throws(
      () => parseScenario(text, 'f.json'),
      (e: Error & { code?: string }) => e.code === 'ERR_SCENARIO_INVALID' && re.test(e.message),
      text,
    );
});

test('scenario setup: references to undeclared processes or namespaces fail before any step runs', () => {
  const s = parseScenario(minimal({ processes: [{ name: 'p', ns: 'nowhere' }] }), 'f.json');
  assert.throws(() => runScenario(s), { code: 'ERR_SCENARIO_INVALID' });
  const bad = parseScenario(minimal({ namespaces: [{ name: 'c', uidmap: '0 100000 10', fsuidmap: '0 300000 10' }] }), 'f.json');
  assert.throws(
    () => runScenario(bad, { semantics: 'off' }),
    (e: Error & { code?: string }) => e.code === 'ERR_SCENARIO_SETUP' && /fsuid_map/.test(e.message),
  );
});

test('scenario steps: a result other than the expected one is a mismatch naming both', () => {
  const s = parseScenario(
    JSON.stringify({
      name: 't',
      tree: [{ path: '/f', uid: 5, gid: 5, mode: '0600' }],
      steps: [
        { op: 'stat', path: '/f', expect: { uid: 6 } },
        { op: 'open', path: '/f', access: 'write', expect: 'EACCES' },
      ],
    }),
    'f.json',
  );
  const r = runScenario(s);
  assert.equal(r.ok, false);
  assert.equal(r.mismatches, 2);
  assert.match(r.steps[0].mismatch!, /uid 5, expected 6/);
  assert.match(r.steps[1].mismatch!, /result ok, expected EACCES/);
});
