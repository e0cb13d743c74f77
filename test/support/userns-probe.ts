import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs test/native/userns-probe.c: writes maps to real user namespaces and
 * reports the kernel's verdict, the installed map and the translations seen
 * from inside. See the C file for the protocol.
 */
export interface ProbeCase {
  readonly kind: 'uid' | 'gid';
  /** priv: root (of the parent namespace when `parent` is set); nofcap: root without CAP_SETFCAP; unpriv: a capability-less owner. */
  readonly writer: 'priv' | 'nofcap' | 'unpriv';
  readonly euid?: number;
  readonly egid?: number;
  readonly setgroups?: 'allow' | 'deny';
  /** The parent namespace's map (written by root to both its uid_map and gid_map), or none for the initial namespace. */
  readonly parent?: Uint8Array;
  readonly map: Uint8Array;
  /** Kernel ids to stat from inside (from_kuid_munged). */
  readonly up?: readonly number[];
  /** Ids inside the namespace to turn into kernel ids (make_kuid, via setfsuid + create). */
  readonly down?: readonly number[];
}

export interface ProbeResult {
  readonly verdict: string;
  /** The installed map exactly as the kernel prints it from the initial namespace, one string per line. */
  readonly map: string[];
  readonly up: number[];
  readonly down: Array<number | null>;
}

export const probePath = join(dirname(fileURLToPath(import.meta.url)), '..', 'native', 'userns-probe');

export function probeAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root: writes maps to real user namespaces';
  if (!existsSync(probePath)) return `the probe was not built (${probePath}); run npm run build with a C compiler`;
  return undefined;
}

export function runProbe(cases: readonly ProbeCase[]): ProbeResult[] {
  const work = mkdtempSync(join(tmpdir(), 'fsidmap-probe-'));
  chmodSync(work, 0o777);
  try {
    const chunks: Buffer[] = [];
    for (const c of cases) {
      const parent = c.parent ?? new Uint8Array();
      const up = c.up ?? [],
        down = c.down ?? [];
      chunks.push(
        Buffer.from(
          `case ${c.kind} ${c.writer} ${c.euid ?? 0} ${c.egid ?? 0} ${c.setgroups ?? '-'} ${parent.length} ${c.map.length} ${up.length} ${down.length}\n`,
        ),
      );
      chunks.push(Buffer.from(parent), Buffer.from(c.map), Buffer.from(`${up.join(' ')}\n${down.join(' ')}\n`));
    }
    const r = spawnSync(probePath, [work], { input: Buffer.concat(chunks), maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`userns-probe exited ${r.status}: ${r.stderr.toString()}`);
    const lines = r.stdout.toString().split('\n');
    const results: ProbeResult[] = [];
    for (let i = 0; i + 3 < lines.length; i += 4) {
      const field = (line: string, key: string) => {
        if (!line.startsWith(key)) throw new Error(`userns-probe: expected "${key}", got "${line}"`);
        return line.slice(key.length).trim();
      };
      const mapText = field(lines[i + 1], 'map');
      results.push({
        verdict: field(lines[i], 'verdict'),
        map: mapText === '' ? [] : lines[i + 1].slice(4).split('|'),
        up: field(lines[i + 2], 'up')
          .split(' ')
          .filter(Boolean)
          .map(Number),
        down: field(lines[i + 3], 'down')
          .split(' ')
          .filter(Boolean)
          .map((s) => (s === '-' ? null : Number(s))),
      });
    }
    if (results.length !== cases.length)
      throw new Error(`userns-probe answered ${results.length} of ${cases.length} cases: ${r.stderr.toString()}`);
    return results;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
