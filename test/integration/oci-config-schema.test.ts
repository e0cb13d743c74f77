// `fsidmap oci config` output against the runtime-spec's JSON schema, with two validators that must agree.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SchemaSet } from '../support/json-schema.js';
import { int, pick, rng, type Rng } from '../support/rng.js';
import { cli, makeToyImage, mountsUnder, rootSkip, tempDir } from './support/run-fixtures.js';

/** Debian's python3 with python3-jsonschema 4.10 (a python3 earlier on PATH may be another, e.g. pyenv's). */
const PYTHON = '/usr/bin/python3';
/** Debian 12's golang-github-opencontainers-specs-dev. */
export const SCHEMA_DIR = '/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema';
const schemaSkip = existsSync(join(SCHEMA_DIR, 'config-schema.json'))
  ? spawnSync(PYTHON, ['-c', 'import jsonschema']).status === 0
    ? undefined
    : 'needs python3-jsonschema (scripts/debian-packages.txt)'
  : `needs the runtime-spec schema at ${SCHEMA_DIR} (golang-github-opencontainers-specs-dev)`;

const ORACLE = `
import json, os, sys, jsonschema
d = sys.argv[1]
store = {}
for f in os.listdir(d):
    if f.endswith('.json'):
        with open(os.path.join(d, f)) as fh:
            store['file://' + os.path.join(d, f)] = json.load(fh)
base = 'file://' + os.path.join(d, 'config-schema.json')
v = jsonschema.Draft4Validator(store[base], resolver=jsonschema.RefResolver(base_uri=base, referrer=store[base], store=store))
print(json.dumps([next(v.iter_errors(i), None) is None for i in json.load(sys.stdin)]))
`;

/** python3-jsonschema's verdicts (Draft4Validator, the schema's files resolved offline), one per instance. */
export function pythonVerdicts(instances: readonly unknown[]): boolean[] {
  const r = spawnSync(PYTHON, ['-c', ORACLE, SCHEMA_DIR], { input: JSON.stringify(instances), encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as boolean[];
}

type J = null | boolean | number | string | J[] | { [k: string]: J };

/** Subtrees of the schema's other parts (rlimits, seccomp, devices, …), for mutations to insert and then break. */
const FRAGMENTS: ReadonlyArray<readonly [string[], J]> = [
  [['process', 'rlimits'], [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]],
  [['process', 'consoleSize'], { height: 24, width: 80 }],
  [['process', 'oomScoreAdj'], 0],
  [
    ['linux', 'seccomp'],
    { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO' }] },
  ],
  [['linux', 'devices'], [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229 }]],
  [
    ['linux', 'resources'],
    { hugepageLimits: [{ pageSize: '2MB', limit: 0 }], blockIO: { weightDevice: [{ major: 8, minor: 0, weight: 10 }] } },
  ],
  [['linux', 'rootfsPropagation'], 'private'],
  [['linux', 'personality'], { domain: 'LINUX' }],
  [['linux', 'sysctl'], { 'net.ipv4.ip_forward': '1' }],
  [['hooks'], { prestart: [{ path: '/bin/true', args: ['true'], timeout: 5 }] }],
];

const ODD_VALUES: readonly J[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  4294967295,
  4294967296,
  2 ** 40,
  -(2 ** 40),
  '',
  'x',
  'RLIMIT_CPU',
  'rlimit_x',
  'user',
  'network',
  'bogus',
  'SCMP_ACT_KILL',
  '5MB',
  '0MB',
  'c',
  'z',
  [],
  [1],
  ['a'],
  {},
  { a: 1 },
];

function paths(v: J, at: string[] = [], out: string[][] = []): string[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, String(i)], out));
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k], [...at, k], out);
  return out;
}

function parentOf(root: J, at: string[]): { parent: { [k: string]: J } | J[]; key: string } | null {
  if (at.length === 0) return null;
  let node = root;
  for (const k of at.slice(0, -1)) node = (node as Record<string, J>)[k];
  return { parent: node as { [k: string]: J } | J[], key: at[at.length - 1] };
}

/** One to three random changes: a member deleted, a value replaced by an odd one, a fragment inserted, an unknown key added. */
function mutate(r: Rng, base: J): J {
  const v = structuredClone(base);
  for (let n = int(r, 1, 3); n > 0; n--) {
    const kind = int(r, 0, 3);
    if (kind === 0) {
      const [at, frag] = pick(r, FRAGMENTS);
      let node = v as Record<string, J>;
      for (const k of at.slice(0, -1)) node = (node[k] ??= {}) as Record<string, J>;
      if (node !== null && typeof node === 'object' && !Array.isArray(node)) node[at[at.length - 1]] = structuredClone(frag);
      continue;
    }
    const p = parentOf(v, pick(r, paths(v).slice(1)));
    if (!p) continue;
    if (kind === 1) {
      if (Array.isArray(p.parent)) p.parent.splice(Number(p.key), 1);
      else delete p.parent[p.key];
    } else if (kind === 2) {
      (p.parent as Record<string, J>)[p.key] = structuredClone(pick(r, ODD_VALUES));
    } else if (!Array.isArray(p.parent)) {
      p.parent[pick(r, ['extra', 'uidMappings', 'type', 'options', ''])] = structuredClone(pick(r, ODD_VALUES));
    }
  }
  return v;
}

describe('oci config: the runtime-spec schema', { skip: rootSkip ?? schemaSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let root: string, mnt: string, vol: string;
  const configs: J[] = [];
  const schemas = schemaSkip ? null : new SchemaSet(SCHEMA_DIR);

  before(async () => {
    tmp = tempDir('oci-schema');
    root = join(tmp.dir, 'root');
    mnt = join(tmp.dir, 'mnt');
    vol = join(tmp.dir, 'vol');
    for (const d of [root, mnt, vol]) mkdirSync(d);
    makeToyImage(root, 300000);
    writeFileSync(join(vol, 'f'), 'v\n');
    chownSync(vol, 300000, 300000);
    chownSync(join(vol, 'f'), 300005, 300005);
    const m = await cli(['mount', '--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', root, mnt]);
    assert.equal(m.code, 0, m.stderr);
  });
  after(async () => {
    const u = await cli(['umount', mnt]);
    assert.equal(u.code, 0, u.stderr);
    assert.deepEqual(mountsUnder(tmp.dir), []);
    rmdirSync(mnt);
    tmp.remove();
  });

  const RUNS: ReadonlyArray<readonly string[]> = [
    ['--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', '--root-path', '<mnt>', '--', 'sh'],
    [
      '--idmap',
      '0:100000:65536',
      '--fsidmap',
      '0:300000:65536',
      '--root-path',
      '<mnt>',
      '--volume',
      '<vol>:/shared',
      '--user',
      '1000',
      '--',
      'id',
    ],
    ['--idmap', '0:100000:65536', '--', 'sh', '-c', 'echo hi'],
    [
      '--uidmap',
      '0:100000:65536',
      '--gidmap',
      '0:100000:65536',
      '--volume',
      '<vol>:/shared:ro:fsidmap=0:300000:65536',
      '--workdir',
      '/data',
      '--',
      'ls',
    ],
    [
      '--idmap',
      '0:100000:1000,1000:201000:64536',
      '--env',
      'A=1',
      '--env',
      'PATH=/bin',
      '--hostname',
      'box',
      '--user',
      '1000:50',
      '--',
      'sh',
    ],
  ];

  it('every config it writes passes the schema, in our validator and in python3-jsonschema', async () => {
    for (const run of RUNS) {
      const args = run.map((a) => a.replace('<mnt>', mnt).replace('<vol>', vol));
      const r = await cli(['oci', 'config', '--name', 'schema', '--rootfs', root, ...args]);
      assert.equal(r.code, 0, r.stderr);
      configs.push(JSON.parse(r.stdout) as J);
    }
    for (const c of configs) assert.deepEqual(schemas!.validate('config-schema.json', c), []);
    assert.deepEqual(
      pythonVerdicts(configs),
      configs.map(() => true),
    );
  });

  it('our validator and python3-jsonschema agree on 3,000 mutated configs, valid and invalid', () => {
    assert.ok(configs.length > 0, 'the configs of the previous test');
    const r = rng(16);
    const instances = Array.from({ length: 3000 }, () => mutate(r, pick(r, configs)));
    const theirs = pythonVerdicts(instances);
    const ours = instances.map((i) => schemas!.validate('config-schema.json', i).length === 0);
    const disagree = ours.flatMap((o, i) =>
      o === theirs[i] ? [] : [{ i, ours: o, python: theirs[i], instance: JSON.stringify(instances[i]).slice(0, 400) }],
    );
    assert.deepEqual(disagree.slice(0, 3), []);
    const invalid = ours.filter((o) => !o).length;
    // Both kinds, in numbers: a validator that says "valid" (or "invalid") to everything cannot pass.
    assert.ok(invalid > 300 && invalid < 2700, `${invalid} of 3000 invalid`);
  });

  it('the validator names what is wrong: a namespace type outside the enum, an id beyond uint32, a mount without destination', () => {
    const c = structuredClone(configs[0]) as { linux: { namespaces: J[]; uidMappings: J[] }; mounts: J[] };
    c.linux.namespaces.push({ type: 'bogus' });
    c.linux.uidMappings[0] = { containerID: 0, hostID: 4294967296, size: 1 };
    c.mounts.push({ source: '/x', type: 'bind' });
    const errors = schemas!.validate('config-schema.json', c);
    const at = errors.map((e) => e.at);
    assert.ok(at.includes(`/linux/namespaces/${c.linux.namespaces.length - 1}`), JSON.stringify(errors));
    assert.ok(at.includes('/linux/uidMappings/0/hostID'), JSON.stringify(errors));
    assert.ok(at.includes(`/mounts/${c.mounts.length - 1}`), JSON.stringify(errors));
    assert.deepEqual(pythonVerdicts([c]), [false]);
  });
});
