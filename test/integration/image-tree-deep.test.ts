import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { lchownSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { decodeJournal } from '../../src/tree/journal-codec.js';
import { encodeOldJournal } from '../support/old-journal.js';
import { rng } from '../support/rng.js';
import { diffSnapshots, expectedShift, makeFixture, type Snap, snapshot } from './tree-fixture.js';

/**
 * A tree 400 directories deep (issue 15): the C engine keeps each entry as a
 * name in its directory's row, and the journal (version 5) stores names and
 * directory rows. Runs killed with SIGKILL mid-shift and resumed must give
 * exactly what one uninterrupted run gives; so must a pending journal in the
 * version-4 layout (whole paths) that an older release left behind. The map
 * overlaps itself (0 → 1000), so an id shifted twice would show.
 */
const rootUser = process.getuid?.() === 0;
const skip = rootUser ? false : 'needs root (chown, mknod, security.capability)';
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const MAP = '0 1000 65536';
const DEPTH = 400;
const work = mkdtempSync(join(tmpdir(), 'fsidmap-deep-'));
const stateDir = join(work, 'state');
const original = join(work, 'original');
let reference: Map<string, Snap>;
let applyMs = 0;

after(() => rmSync(work, { recursive: true, force: true }));

/** DEPTH nested directories with three files each, hard links between levels, and a whole fixture (ACLs, capabilities, setuid, devices) at the bottom. */
function makeDeep(root: string): void {
  const rand = rng(15);
  const id = () => Math.floor(rand() * 3000);
  let dir = root;
  mkdirSync(dir);
  const files: string[] = [];
  for (let level = 1; level <= DEPTH; level++) {
    dir = join(dir, `l${String(level).padStart(3, '0')}`);
    mkdirSync(dir);
    lchownSync(dir, id(), id());
    for (let f = 0; f < 3; f++) {
      const p = join(dir, `f${f}`);
      if (f === 2 && level % 7 === 0) {
        linkSync(files[Math.floor(rand() * files.length)], p);
        continue;
      }
      writeFileSync(p, '');
      lchownSync(p, id(), id());
      files.push(p);
    }
    if (level % 50 === 0) execFileSync('setfacl', ['-m', 'u:1000:rwx,g:50:rx', join(dir, 'f0')]);
    if (level % 80 === 0) execFileSync('setcap', ['cap_net_raw+ep', join(dir, 'f1')]);
  }
  makeFixture(join(dir, 'fixture'), { files: 300, base: 0, seed: 15, capRootIds: [0, 1000] });
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
  journalAtMs: number | null;
}

const journalFile = (): string | null => {
  try {
    const f = readdirSync(join(stateDir, 'shift')).find((x) => x.endsWith('.journal'));
    return f ? join(stateDir, 'shift', f) : null;
  } catch {
    return null;
  }
};

/** Runs the CLI; with killAfterMs, SIGKILLs it that long after its journal appears. */
function run(args: string[], killAfterMs?: number): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, FSIDMAP_STATE_DIR: stateDir, FSIDMAP_CHECKPOINT_MS: '15', FSIDMAP_TREE_ENGINE: 'native' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let journalAtMs: number | null = null;
    let timer: NodeJS.Timeout | null = null;
    const watch = setInterval(() => {
      if (journalAtMs !== null || journalFile() === null) return;
      journalAtMs = performance.now() - t0;
      if (killAfterMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    }, 2);
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code, signal) => {
      clearInterval(watch);
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stderr, ms: performance.now() - t0, journalAtMs });
    });
  });
}

function copyOriginal(name: string): string {
  const dir = join(work, name);
  execFileSync('cp', ['-a', original, dir]);
  return dir;
}

/** Kills runs on fresh copies until one leaves its journal behind; returns that copy and the journal's first bytes. */
async function interrupted(name: string, rand: () => number): Promise<{ dir: string; magic: string }> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const dir = copyOriginal(`${name}-${attempt}`);
    await run(['image', 'shift', dir, MAP], Math.floor(rand() * applyMs));
    const file = journalFile();
    if (file) return { dir, magic: readFileSync(file).toString('latin1', 0, 24) };
    rmSync(dir, { recursive: true });
  }
  throw new Error('could not interrupt a run mid-shift');
}

before(() => {
  if (!rootUser) return;
  makeDeep(original);
});

test('deep tree: an uninterrupted shift gives the expected tree, with a journal of names and directory rows', { skip }, async () => {
  const dir = copyOriginal('reference');
  const start = snapshot(dir);
  assert.ok(
    [...start.keys()].some((p) => p.split('/').length > DEPTH),
    'the fixture is DEPTH levels down',
  );
  const r = await run(['image', 'shift', dir, MAP]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.journalAtMs !== null, 'the run wrote a journal');
  applyMs = Math.max(20, r.ms - r.journalAtMs);
  reference = snapshot(dir);
  assert.deepEqual(
    diffSnapshots(
      reference,
      expectedShift(start, (id) => id + 1000),
    ),
    [],
  );
  // The report's journal size: in proportion to the entries, though the mean path is ~1 KiB here.
  const json = copyOriginal('json');
  const out = execFileSync(process.execPath, [CLI, 'image', 'shift', '--json', json, MAP], {
    env: { ...process.env, FSIDMAP_STATE_DIR: stateDir },
    encoding: 'utf8',
  });
  const report = JSON.parse(out) as { journalBytes: number; stats: { entries: number } };
  assert.ok(report.journalBytes < 100 * report.stats.entries, `${report.journalBytes} bytes for ${report.stats.entries} entries`);
});

test('deep tree: runs killed with SIGKILL mid-shift (journal version 5) are finished by the same command', { skip }, async () => {
  assert.ok(reference, 'reference run');
  const rand = rng(1515);
  for (let round = 0; round < 4; round++) {
    const { dir, magic } = await interrupted(`kill-${round}`, rand);
    assert.equal(magic, 'FSIDMAP-SHIFT-JOURNAL 5\n');
    // A second kill, this time of the resuming run, now and then.
    if (round % 2 === 1) await run(['image', 'shift', dir, MAP], Math.floor(rand() * applyMs));
    const last = await run(['image', 'shift', dir, MAP]);
    assert.equal(last.code, 0, last.stderr);
    assert.equal(journalFile(), null);
    assert.deepEqual(diffSnapshots(snapshot(dir), reference), [], `round ${round}: the resumed tree differs from the uninterrupted run`);
    rmSync(dir, { recursive: true });
  }
});

test('deep tree: a pending journal of version 4 (whole paths, an older release) is resumed', { skip }, async () => {
  assert.ok(reference, 'reference run');
  const { dir } = await interrupted('v4', rng(44));
  const file = journalFile() as string;
  const bytes = readFileSync(file);
  const { header, plan } = decodeJournal(bytes.subarray(0, bytes.length - 4));
  const old = encodeOldJournal(4, header, plan);
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(crc32(old));
  writeFileSync(file, Buffer.concat([old, trailer]));
  const last = await run(['image', 'shift', dir, MAP]);
  assert.equal(last.code, 0, last.stderr);
  assert.deepEqual(diffSnapshots(snapshot(dir), reference), []);
});

test('deep tree: a damaged pending journal is refused before any change', { skip }, async () => {
  assert.ok(reference, 'reference run');
  const { dir } = await interrupted('damaged', rng(45));
  const file = journalFile() as string;
  const bytes = readFileSync(file);
  const { header, plan } = decodeJournal(bytes.subarray(0, bytes.length - 4));
  // A directory row that names a file, with a valid checksum: the layout itself must be checked.
  const body = Buffer.from(bytes.subarray(0, bytes.length - 4));
  const headLen = body.readUInt32LE(24);
  const namesAt = 24 + 4 + headLen + 8;
  const parentsAt = namesAt + body.readUInt32LE(namesAt - 4);
  const fileRow = plan.mode.findIndex((m) => (m & 0o170000) === 0o100000);
  const victim = plan.flags.length - 1;
  body.writeUInt32LE(fileRow, parentsAt + 4 * victim);
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(crc32(body));
  writeFileSync(file, Buffer.concat([body, trailer]));
  assert.ok(header.actions === plan.flags.length);
  const beforeRun = snapshot(dir);
  const r = await run(['image', 'shift', dir, MAP]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /journal is damaged/);
  assert.deepEqual(diffSnapshots(snapshot(dir), beforeRun), []);
  rmSync(join(stateDir, 'shift'), { recursive: true, force: true });
});
