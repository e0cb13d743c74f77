// Benchmark: `fsidmap subid audit` on a generated 100,000-line /etc/subuid
// (budget: under one second), next to shadow-utils reading the same file
// (getsubids, which parses it with the same commonio code as newuidmap, run
// as root in a private mount namespace with the file bound over /etc/subuid).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Accounts } from '../src/policy/accounts.js';
import { auditSubids } from '../src/policy/audit.js';
import { parseSubidDb } from '../src/policy/subid-db.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'src', 'cli', 'main.js');
const RUNS = Number(process.env.FSIDMAP_BENCH_RUNS ?? 7);
const BUDGET_MS = 1000;

/** 25,000 owners with four adjacent 16384-id entries each (100,000 lines), plus a few planted problems. */
function generate(dir: string): { subuid: string; subgid: string; passwd: string; group: string; last: string; lines: number } {
  const sub: string[] = [];
  const pw: string[] = ['root:x:0:0::/root:/bin/sh'];
  const gr: string[] = ['root:x:0:'];
  for (let i = 0; i < 25000; i++) {
    const name = `user${i}`;
    const base = 100000 + i * 65536;
    for (let j = 0; j < 4; j++) sub.push(`${name}:${base + j * 16384}:16384`);
    pw.push(`${name}:x:${2000 + i}:${2000 + i}::/home/${name}:/bin/sh`);
    gr.push(`${name}:x:${2000 + i}:`);
  }
  // Planted: an overlap, an unparsable line, an octal start, a range over real uids; they replace lines so the count stays 100,000.
  sub[500] = 'user999:100000:65536';
  sub[1500] = 'user375:24676000:65536 ';
  sub[2500] = 'user625:0100000:16384';
  sub[3500] = 'user875:2000:100';
  const write = (name: string, lines: string[]) => {
    const p = join(dir, name);
    writeFileSync(p, lines.join('\n') + '\n');
    return p;
  };
  return {
    subuid: write('subuid', sub),
    subgid: write('subgid', sub),
    passwd: write('passwd', pw),
    group: write('group', gr),
    last: 'user24999',
    lines: sub.length,
  };
}

function stats(samples: number[]): { median: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
}

/**
 * Wall time of whole node processes, and their CPU time (user + system,
 * reported by a preloaded hook at exit): on a machine shared with other
 * work the wall time includes waiting for a core, the CPU time does not.
 */
function timeNode(args: string[], expectStatus: number[], hook: string): { wall: number[]; cpu: number[] } {
  const wall: number[] = [],
    cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ['--require', hook, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
    wall.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (r.error || !expectStatus.includes(r.status ?? -1))
      throw new Error(`${args.slice(0, 4).join(' ')}… exited ${r.status}: ${r.stderr?.slice(0, 500)}`);
    const m = /FSIDMAP_CPU_US (\d+)/.exec(r.stderr);
    if (!m) throw new Error('the CPU-time hook did not report');
    cpu.push(Number(m[1]) / 1000);
  }
  return { wall, cpu };
}

const dir = mkdtempSync(join(tmpdir(), 'fsidmap-bench-subid-'));
try {
  const g = generate(dir);
  const files = ['--subuid', g.subuid, '--subgid', g.subgid, '--passwd', g.passwd, '--group', g.group];
  const rows: Array<{ name: string; samples: number[]; cpu?: number[]; note: string }> = [];
  const hook = join(dir, 'cpu-hook.cjs');
  writeFileSync(
    hook,
    "process.on('exit', () => { const u = process.cpuUsage(); process.stderr.write('FSIDMAP_CPU_US ' + (u.user + u.system) + '\\n'); });\n",
  );
  const proc = (name: string, args: string[], status: number[], note: string) => {
    const t = timeNode(args, status, hook);
    rows.push({ name, samples: t.wall, cpu: t.cpu, note });
  };

  // In-process: parse both files and audit them (what the CLI does after reading).
  const texts = { subuid: readFileSync(g.subuid, 'latin1'), subgid: readFileSync(g.subgid, 'latin1') };
  const accounts = Accounts.parse(readFileSync(g.passwd, 'latin1'), readFileSync(g.group, 'latin1'));
  const lib: number[] = [],
    libCpu: number[] = [];
  const libOne: number[] = [],
    libOneCpu: number[] = [];
  let findings = 0;
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    let c = process.cpuUsage();
    const report = auditSubids({
      subuid: { path: g.subuid, state: 'present', db: parseSubidDb(texts.subuid) },
      subgid: { path: g.subgid, state: 'present', db: parseSubidDb(texts.subgid) },
      accounts,
    });
    lib.push(performance.now() - t);
    c = process.cpuUsage(c);
    libCpu.push((c.user + c.system) / 1000);
    findings = report.counts.error + report.counts.warning + report.counts.info;
    t = performance.now();
    c = process.cpuUsage();
    auditSubids({
      subuid: { path: g.subuid, state: 'present', db: parseSubidDb(texts.subuid) },
      subgid: { path: '-', state: 'missing', db: null },
      accounts,
    });
    libOne.push(performance.now() - t);
    c = process.cpuUsage(c);
    libOneCpu.push((c.user + c.system) / 1000);
  }
  rows.push({ name: 'fsidmap audit, library (1 file: parse + audit)', samples: libOne, cpu: libOneCpu, note: `${g.lines} lines` });
  rows.push({
    name: 'fsidmap audit, library (subuid + subgid)',
    samples: lib,
    cpu: libCpu,
    note: `${2 * g.lines} lines, ${findings} findings`,
  });
  const emptyGid = join(dir, 'subgid-empty');
  writeFileSync(emptyGid, '');
  proc(
    'fsidmap subid audit (CLI process, 1 file)',
    [cli, 'subid', 'audit', '--subuid', g.subuid, '--subgid', emptyGid, '--passwd', g.passwd, '--group', g.group, '--json'],
    [0, 1],
    '100,000-line subuid, empty subgid',
  );
  proc(
    'fsidmap subid audit (CLI process, both files)',
    [cli, 'subid', 'audit', ...files, '--json'],
    [0, 1],
    'node start + read + audit + JSON',
  );
  proc(
    `fsidmap subid check --user ${g.last} (CLI)`,
    [cli, 'subid', 'check', ...files, '--user', g.last, '--uidmap', `0:${100000 + 24999 * 65536}:65536`],
    [0],
    'newuidmap decision for the last owner',
  );

  // Peer: shadow's reader (libsubid list_owner_ranges → commonio_open + subordinate_parse) on the same file.
  let peer = 'getsubids: needs root (private mount namespace)';
  if (process.getuid?.() === 0 && existsSync('/usr/bin/getsubids')) {
    const script = `mount --bind ${g.subuid} /etc/subuid && for i in $(seq ${RUNS}); do s=$(date +%s%N); getsubids ${g.last} >/dev/null || exit 3; e=$(date +%s%N); echo $(( (e - s) / 1000 )); done`;
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' });
    if (r.status === 0) {
      rows.push({
        name: `getsubids ${g.last} (shadow 4.13 libsubid)`,
        samples: r.stdout
          .trim()
          .split('\n')
          .map((us) => Number(us) / 1000),
        note: 'C, reads and parses the whole file',
      });
      peer = 'getsubids';
    } else peer = `getsubids failed: ${r.stderr.trim()}`;
  }

  const shown = rows.map((r) => ({ ...r, ...stats(r.samples), cpuMedian: r.cpu ? stats(r.cpu).median : null }));
  const w = Math.max(...shown.map((r) => r.name.length));
  const load = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  console.log(
    `subid audit benchmark: ${g.lines}-line subuid and subgid, 25,000 owners; ${RUNS} runs; ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}); load average ${load}`,
  );
  console.log(`${'measurement'.padEnd(w)}  wall median     min ms     max ms   cpu median  note`);
  for (const r of shown) {
    const cpu = r.cpuMedian === null ? '-' : r.cpuMedian.toFixed(1);
    console.log(
      `${r.name.padEnd(w)}  ${r.median.toFixed(1).padStart(11)}  ${r.min.toFixed(1).padStart(9)}  ${r.max.toFixed(1).padStart(9)}  ${cpu.padStart(11)}  ${r.note}`,
    );
  }
  const cliOne = shown[2];
  const cliAudit = shown[3];
  const peerRow = shown.find((r) => r.name.startsWith('getsubids'));
  if (peerRow) {
    console.log(
      `ratio: fsidmap audit of both files (CLI) / getsubids reading one = ${(cliAudit.median / peerRow.median).toFixed(2)}; fsidmap check / getsubids = ${(shown[4].median / peerRow.median).toFixed(2)}`,
    );
  } else console.log(`peer: ${peer}`);
  const within = shown[0].median < BUDGET_MS && cliOne.median < BUDGET_MS;
  const withinCpu = (shown[0].cpuMedian ?? Infinity) < BUDGET_MS && (cliOne.cpuMedian ?? Infinity) < BUDGET_MS;
  console.log(
    `budget ${BUDGET_MS} ms for a 100,000-line file: wall ${within ? 'met' : 'MISSED'}, CPU ${withinCpu ? 'met' : 'MISSED'} ` +
      `(whole CLI process: wall ${cliOne.median.toFixed(0)} ms, CPU ${cliOne.cpuMedian?.toFixed(0)} ms; library: wall ${shown[0].median.toFixed(0)} ms; both 100,000-line files: wall ${cliAudit.median.toFixed(0)} ms)`,
  );
  mkdirSync(join(here, '..', '..', 'bench', 'results'), { recursive: true });
  writeFileSync(
    join(here, '..', '..', 'bench', 'results', 'subid.json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        loadavg: loadavg(),
        lines: g.lines,
        runs: RUNS,
        cpus: cpus().length,
        cpu: cpus()[0]?.model ?? null,
        budgetMs: BUDGET_MS,
        withinBudget: { wall: within, cpu: withinCpu },
        peer,
        rows: shown.map(({ samples, ...r }) => ({ ...r, samples })),
      },
      null,
      2,
    ) + '\n',
  );
  // The wall-clock budget is the requirement; CPU time is reported so a loaded machine can be told from a slow program.
  process.exitCode = within ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
