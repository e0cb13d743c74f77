import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { IdMap, formatInline, mountMap } from '../idmap/index.js';
import type { FsidSemantics } from '../userns/namespace.js';
import { JsonReader } from './reader.js';
import { runScenario } from './runner.js';
import { readScenario } from './schema.js';

/**
 * Properties of the whole model, over generated scenarios:
 * 1. fsid maps equal to the id maps (written explicitly, mirrored by v3, or
 *    fallen back to by v2) behave exactly like today's kernel (semantics
 *    off), step for step;
 * 2. an idmapped mount with M = mountMap(I, F) gives a container with id
 *    map I the same results as fsid map F, for trees whose owners all lie in
 *    F's range (outside it the two differ by design: HAS_UNMAPPED_ID).
 */

const MODES = [
  '0755',
  '0700',
  '0711',
  '0775',
  '0777',
  '1777',
  '2775',
  '0644',
  '0600',
  '0640',
  '0660',
  '0666',
  '4755',
  '2755',
  '0000',
  '0604',
];
const NEW_MODES = ['0644', '0600', '0755', '2755', '0777'];

interface Plan {
  idExtents: Array<[number, number, number]>;
  entries: Array<{ path: string; type: 'file' | 'dir'; owner: number; group: number; mode: string; acl: boolean }>;
  proc: { uid: number; gid: number; groups: number[]; caps: string[] | null; fsuid: number | null };
  ops: Array<{ op: string; path: string; a: number; b: number; mode: string; access: string }>;
}

const PATHS = ['d0', 'd1', 'd0/d2', 'f0', 'f1', 'd0/f2', 'd1/f3', 'd0/d2/f4'];
const NEW = ['n0', 'd0/n1', 'd1/n2', 'd0/d2/n3'];

/** A container id map of one to three extents inside [0, 70000), lower ids 100000+. */
const idExtents = fc
  .array(fc.record({ first: fc.integer({ min: 0, max: 18000 }), count: fc.integer({ min: 1, max: 5000 }) }), { minLength: 1, maxLength: 3 })
  .map((xs) =>
    xs.map((x, i) => [i * 20000 + (i === 0 ? 0 : x.first % 10000), 100000 + i * 40000 + x.first, x.count] as [number, number, number]),
  );

function planArb(
  owners: (ext: Array<[number, number, number]>) => fc.Arbitrary<number>,
  ids: (ext: Array<[number, number, number]>) => fc.Arbitrary<number>,
): fc.Arbitrary<Plan> {
  return idExtents.chain((ext) =>
    fc.record({
      idExtents: fc.constant(ext),
      entries: fc.tuple(
        ...PATHS.map((p) =>
          fc.record({
            path: fc.constant(p),
            type: fc.constant(p.split('/').pop()!.startsWith('d') ? ('dir' as const) : ('file' as const)),
            owner: owners(ext),
            group: owners(ext),
            mode: fc.constantFrom(...MODES),
            acl: fc.boolean(),
          }),
        ),
      ),
      proc: fc.record({
        uid: ids(ext),
        gid: ids(ext),
        groups: fc.array(ids(ext), { maxLength: 2 }),
        caps: fc.option(fc.subarray(['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID']), { nil: null }),
        fsuid: fc.option(ids(ext), { nil: null }),
      }),
      ops: fc.array(
        fc.record({
          op: fc.constantFrom('stat', 'open', 'create', 'mkdir', 'chown', 'chmod', 'utimes', 'unlink', 'rmdir'),
          path: fc.constantFrom(...PATHS, ...NEW),
          a: ids(ext),
          b: ids(ext),
          mode: fc.constantFrom(...MODES, ...NEW_MODES),
          access: fc.constantFrom('read', 'write', 'rdwr', 'exec'),
        }),
        { minLength: 6, maxLength: 16 },
      ),
    }),
  );
}

/** Ids the container can use: the first ids of each extent (so they are mapped), plus 0 when mapped. */
const mappedId = (ext: Array<[number, number, number]>) =>
  fc.constantFrom(...ext.flatMap(([f, , c]) => [f, f + Math.min(5, c - 1), f + c - 1]));

function scenarioJson(
  p: Plan,
  o: {
    semantics: FsidSemantics;
    fsid: 'none' | 'equal' | Array<[number, number, number]>;
    idmapped?: IdMap;
    diskOf: (id: number) => number;
  },
): unknown {
  const spec = p.idExtents.map((e) => e.join(' ')).join('\n');
  const ns: Record<string, unknown> = { name: 'c', uidmap: spec, gidmap: spec };
  if (o.fsid === 'equal') {
    ns.fsuidmap = spec;
    ns.fsgidmap = spec;
  } else if (Array.isArray(o.fsid)) {
    const f = o.fsid.map((e) => e.join(' ')).join('\n');
    ns.fsuidmap = f;
    ns.fsgidmap = f;
  }
  const namespaces: unknown[] = [ns];
  if (o.idmapped) namespaces.push({ name: 'm', uidmap: o.idmapped.toString(), gidmap: o.idmapped.toString() });
  const pr = p.proc;
  return {
    name: 'generated',
    semantics: o.semantics,
    namespaces,
    processes: [
      {
        name: 'p',
        ns: 'c',
        uid: pr.uid,
        gid: pr.gid,
        groups: pr.groups,
        ...(pr.caps ? { caps: pr.caps } : {}),
        ...(pr.fsuid !== null ? { fsuid: pr.fsuid } : {}),
      },
    ],
    tree: [
      { path: '/img', type: 'dir', uid: o.diskOf(p.idExtents[0][0]), gid: o.diskOf(p.idExtents[0][0]), mode: '0777' },
      ...p.entries.map((e) => ({
        path: `/img/${e.path}`,
        type: e.type,
        uid: o.diskOf(e.owner),
        gid: o.diskOf(e.group),
        mode: e.mode,
        ...(e.acl ? { acl: { users: [{ id: o.diskOf(pr.uid), perm: 'rw-' }], groupObj: 'r--' } } : {}),
      })),
      { path: '/c', type: 'dir' },
      { path: '/c/root', type: 'dir' },
    ],
    mounts: [o.idmapped ? { path: '/c/root', source: '/img', idmap: 'm' } : { path: '/c/root', source: '/img' }],
    steps: p.ops.map((x) => {
      const path = `/c/root/${x.path}`;
      switch (x.op) {
        case 'open':
          return { op: 'open', as: 'p', path, access: x.access };
        case 'create':
        case 'mkdir':
          return { op: x.op, as: 'p', path, mode: x.mode };
        case 'chown':
          return { op: 'chown', as: 'p', path, uid: x.a, gid: x.b };
        case 'chmod':
          return { op: 'chmod', as: 'p', path, mode: x.mode };
        case 'utimes':
          return { op: 'utimes', as: 'p', path, how: x.a % 2 ? 'now' : 'set' };
        default:
          return { op: x.op, as: 'p', path };
      }
    }),
  };
}

function results(json: unknown, semantics?: FsidSemantics): string[] {
  const r = runScenario(readScenario(new JsonReader(json, 'generated')), semantics ? { semantics } : {});
  return r.steps.map((s) => `${s.op} ${s.target}: ${s.result} ${JSON.stringify(s.value)}`);
}

test("property: fsid maps equal to the id maps behave exactly like today's kernel (explicit, v3-mirrored, v2 fallback)", () => {
  // Owners: ids the container maps (through its id map) and ids it does not.
  const owners = (ext: Array<[number, number, number]>) =>
    fc
      .oneof(
        mappedId(ext).map((id) => ({ inside: id })),
        fc.constantFrom(0, 65534, 300000, 99999).map((k) => ({ kernel: k })),
      )
      .map((x) => ('inside' in x ? x.inside : -1 - x.kernel));
  fc.assert(
    fc.property(planArb(owners, mappedId), (p) => {
      const map = IdMap.from(p.idExtents.map(([first, lower, count]) => ({ first, lower, count })));
      const diskOf = (id: number) => (id < 0 ? -1 - id : map.mapIdDown(id)!);
      const kernel = results(scenarioJson(p, { semantics: 'off', fsid: 'none', diskOf }));
      assert.deepEqual(results(scenarioJson(p, { semantics: 'v3', fsid: 'none', diskOf })), kernel, 'v3, fsid maps mirrored');
      assert.deepEqual(results(scenarioJson(p, { semantics: 'v3', fsid: 'equal', diskOf })), kernel, 'v3, fsid maps written equal');
      assert.deepEqual(results(scenarioJson(p, { semantics: 'v2', fsid: 'none', diskOf })), kernel, 'v2, fallback to the id maps');
      assert.deepEqual(results(scenarioJson(p, { semantics: 'v2', fsid: 'equal', diskOf })), kernel, 'v2, fsid maps written equal');
    }),
    { numRuns: 150 },
  );
});

test('property: an idmapped mount with mountMap(I, F) gives the results of fsid map F, for owners inside F', () => {
  fc.assert(
    fc.property(planArb(mappedId, mappedId), fc.integer({ min: 200000, max: 3000000 }), (p, base) => {
      // F maps the same inside ids as I, to on-disk ids base+.
      const fsid = p.idExtents.map(([first, , count], i) => [first, base + i * 50000, count] as [number, number, number]);
      const I = IdMap.from(p.idExtents.map(([first, lower, count]) => ({ first, lower, count })));
      const F = IdMap.from(fsid.map(([first, lower, count]) => ({ first, lower, count })));
      const M = mountMap(I, F);
      const diskOf = (id: number) => F.mapIdDown(id)!;
      const withFsid = results(scenarioJson(p, { semantics: 'v3', fsid, diskOf }));
      const withMount = results(scenarioJson(p, { semantics: 'off', fsid: 'none', idmapped: M, diskOf }));
      assert.deepEqual(withMount, withFsid, `I=${formatInline(I)} F=${formatInline(F)} M=${formatInline(M)}`);
    }),
    { numRuns: 150 },
  );
});
