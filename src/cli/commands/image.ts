import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { FsidmapError, UsageError } from '../../errors.js';
import type { ImageEntry } from '../../ownership/entry.js';
import { type IdRange, type InspectReport, inspectEntries } from '../../ownership/inspect.js';
import { type ShiftReport, type TreePhase, type UnmappedPolicy, readTreeEntries, shiftTree } from '../../tree/index.js';
import { type Command, defineCommand, flag, str, u32Arg, write, writeJson } from '../command.js';
import { readMapArg } from '../map-arg.js';
import { progressLine } from '../progress.js';
import { envValue, stateDir } from '../../environment.js';

const LABELS: Record<TreePhase, string> = { walk: 'walking', scan: 'reading', verify: 'verifying', apply: 'shifting', sync: 'syncing' };

export const imageInspect = defineCommand({
  name: 'image inspect',
  summary: 'show the on-disk ownership of a directory tree or tar archive: id ranges, probable base, ACLs, capabilities',
  usage: `fsidmap image inspect [--json] [--cross-filesystems] [--store DIR] PATH|NAME[:TAG]

PATH is a directory tree or a tar archive (plain or gzip). Read-only. Prints
the uids and gids in use as ranges, the probable base of the image's range
(the on-disk owner of its root: the id an fsid map or idmapped mount must
point at), ids outside that range, setuid/setgid files,
POSIX ACL entries, file capabilities and hard links.

  --json                the report as one JSON object
  --cross-filesystems   trees: also enter other mounts below PATH
  --store DIR           where to look up NAME (default: images/ under the state dir)

When the argument is not a path on disk, it names an image in the store
(NAME[:TAG] or a digest): then its layers, their owners (as stored: unshifted),
whiteouts, config (entrypoint, cmd, user, workdir) and holders are shown.

Exit status: 0 done, 1 cannot read PATH, 2 usage error.`,
  options: { json: { type: 'boolean' }, 'cross-filesystems': { type: 'boolean' }, store: { type: 'string' } },
  async run(args, io) {
    const path = onePositional(args.positionals, 'image inspect', 'PATH');
    if (!existsSync(path) && !path.includes('/')) return (await import('./image-store.js')).inspectStored(path, args, io);
    const progress = progressLine(io);
    let report: InspectReport;
    try {
      report = await inspectEntries(
        openImage(path, flag(args, 'cross-filesystems'), (label, done, total) => progress.update({ label, done, total })),
      );
    } finally {
      progress.end();
    }
    if (flag(args, 'json')) writeJson(io, { path, ...report });
    else write(io.stdout, formatInspect(path, report));
    return 0;
  },
});

export const imageShift = defineCommand({
  name: 'image shift',
  summary: 'move the ownership of a directory tree through MAP (owners, setuid bits, ACLs, capabilities), resumably',
  usage: `fsidmap image shift [--reverse] [--dry-run] [--json] [--unmapped keep|ID] [--keep-v2-caps] [--cross-filesystems] [--no-sync] DIR MAP

MAP's first column is an id as it is on disk now, the second the id it must
become (the orientation of an idmapped mount's map); --reverse reads it the
other way. Every entry is lchown'ed (symlinks themselves), setuid/setgid bits
that chown clears are restored, ids inside POSIX ACLs (access and default) and
the root id of v3 file capabilities are rewritten, each hard-linked inode is
shifted once, and other mounts below DIR are left alone. A v2 file capability
becomes what the kernel stores when it is written inside the target namespace:
v3 with rootid MAP(0) (v2 still when MAP(0) is 0 or MAP does not cover 0).

Before changing anything the whole tree is read; ids MAP does not cover are
listed and nothing is done, unless --unmapped says what to do with them. The
plan is journaled (in $FSIDMAP_STATE_DIR or /var/lib/fsidmap) before the first
change: if the run is interrupted, even by kill -9 or a crash, running the
same command again finishes it, and nothing is shifted twice.

  -r, --reverse         read MAP from the second column to the first
  --dry-run             read and plan only: what would change, what is unmapped
  --json                the report as one JSON object
  --unmapped keep       leave ids MAP does not cover as they are
  --unmapped ID         set them to ID (e.g. 65534)
  --keep-v2-caps        leave v2 file capabilities as v2 (honoured in every namespace,
                        the host's included) instead of scoping them to MAP(0)
  --cross-filesystems   also shift other mounts below DIR
  --no-sync             skip the syncfs before checkpoints and at the end: faster on a
                        busy filesystem; kill -9 is still resumed exactly, a power
                        loss during or just after the shift is not

Exit status: 0 shifted (or nothing to do), 1 refused or failed (nothing changed
when refused), 2 usage error, 130 interrupted (run again to finish).
MAP is an inline spec (0:100000:65536[,…]), map lines ("0 100000 65536"), a file, or - for stdin.`,
  options: {
    reverse: { type: 'boolean', short: 'r' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
    unmapped: { type: 'string' },
    'cross-filesystems': { type: 'boolean' },
    'keep-v2-caps': { type: 'boolean' },
    'no-sync': { type: 'boolean' },
  },
  async run(args, io) {
    if (args.positionals.length !== 2)
      throw new UsageError(
        `fsidmap image shift takes DIR and MAP, got ${args.positionals.length} argument${args.positionals.length === 1 ? '' : 's'}`,
        'see fsidmap image shift --help',
      );
    const [dir, mapArg] = args.positionals;
    const map = readMapArg(mapArg, 'MAP');
    const unmapped = parseUnmapped(str(args, 'unmapped'));
    const progress = progressLine(io);
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let report: ShiftReport;
    try {
      report = await shiftTree(dir, map, {
        reverse: flag(args, 'reverse'),
        dryRun: flag(args, 'dry-run'),
        unmapped,
        crossFilesystems: flag(args, 'cross-filesystems'),
        capabilities: flag(args, 'keep-v2-caps') ? 'keep-v2' : 'scope',
        sync: !flag(args, 'no-sync'),
        stateDir: stateDir(io.env),
        signal: controller.signal,
        ...(envValue('FSIDMAP_CHECKPOINT_MS', io.env) ? { checkpointMs: Number(envValue('FSIDMAP_CHECKPOINT_MS', io.env)) } : {}),
        ...(envValue('FSIDMAP_WORKERS', io.env) ? { workers: Number(envValue('FSIDMAP_WORKERS', io.env)) } : {}),
        onProgress: (p) => progress.update({ label: LABELS[p.phase], done: p.done, total: p.total }),
      });
    } catch (e) {
      progress.end();
      if (e instanceof FsidmapError && e.code === 'ERR_SHIFT_INTERRUPTED') {
        write(io.stderr, `fsidmap: ${e.message}\n  hint: ${e.hint}`);
        return 130;
      }
      throw e;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      progress.end();
    }
    if (flag(args, 'json')) writeJson(io, report);
    else write(io.stdout, formatShift(report));
    return 0;
  },
});

export const imageCommands: Command[] = [imageInspect, imageShift];

function parseUnmapped(v: string | undefined): UnmappedPolicy {
  if (v === undefined) return { kind: 'refuse' };
  if (v === 'keep') return { kind: 'keep' };
  if (/^\d+$/.test(v)) return { kind: 'overflow', id: u32Arg(v, '--unmapped') };
  throw new UsageError(`--unmapped takes keep or an id, got "${v}"`, 'e.g. --unmapped keep, or --unmapped 65534');
}

function onePositional(p: string[], command: string, what: string): string {
  if (p.length !== 1) throw new UsageError(`fsidmap ${command} takes one ${what}, got ${p.length}`, `see fsidmap ${command} --help`);
  return p[0];
}

type ProgressFn = (label: string, done: number, total: number | null) => void;

/** A directory, or a tar archive (plain or gzip) recognised by its first bytes. */
function openImage(path: string, crossFilesystems: boolean, progress: ProgressFn): AsyncIterable<ImageEntry> {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new FsidmapError(
      'ERR_IMAGE_NOT_FOUND',
      `cannot open ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`,
      { context: { path } },
    );
  }
  if (st.isDirectory()) return readTreeEntries(path, { crossFilesystems, onProgress: (p) => progress(LABELS[p.phase], p.done, p.total) });
  const kind = st.isFile() ? archiveKind(path) : null;
  if (kind === null) {
    throw new FsidmapError('ERR_IMAGE_UNKNOWN', `${path} is neither a directory nor a tar archive`, {
      context: { path },
      hint: 'image inspect reads directory trees and tar archives (plain or gzip)',
    });
  }
  return tarEntries(path);
}

/** The tar reader is loaded only for archives: `image shift` starts faster without its modules. */
async function* tarEntries(path: string): AsyncGenerator<ImageEntry> {
  const { readTarEntries } = await import('../../tar-io/index.js');
  yield* readTarEntries(path);
}

function archiveKind(path: string): 'tar' | 'gzip' | null {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const n = readSync(fd, head, 0, 512, 0);
    if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (n >= 262 && head.toString('latin1', 257, 262) === 'ustar') return 'tar';
    return null;
  } finally {
    closeSync(fd);
  }
}

/** 1234567 → "1,234,567" (toLocaleString would load ICU's data: ~20 ms at start-up). */
const num = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const plural = (n: number, one: string, many = one + 's') => `${num(n)} ${n === 1 ? one : many}`;

function ranges(rs: readonly IdRange[], max = 8): string {
  if (rs.length === 0) return 'none';
  const shown = rs.slice(0, max).map((r) => `${r.end - r.start === 1 ? r.start : `${r.start}-${r.end - 1}`} (${num(r.entries)})`);
  return shown.join(', ') + (rs.length > max ? `, … ${rs.length - max} more ranges` : '');
}

function examples(e: { count: number; examples: string[] }): string {
  return e.count === 0 ? 'none' : `${num(e.count)}: ${e.examples.slice(0, 5).join(', ')}${e.count > 5 ? ', …' : ''}`;
}

export function formatInspect(path: string, r: InspectReport): string {
  const types = Object.entries(r.types)
    .filter(([, n]) => n > 0)
    .map(([t, n]) => `${num(n)} ${t}`)
    .join(', ');
  const base =
    r.base.reason === 'empty'
      ? 'unknown (no entries)'
      : `uid ${r.base.uid}, gid ${r.base.gid} (${r.base.reason === 'root-owner' ? 'owner of the root directory' : 'most common owner'}); offset map: uid "${r.base.uidMap}", gid "${r.base.gidMap}"`;
  return [
    `${path}: ${plural(r.entries, 'entry', 'entries')} (${types || 'none'})`,
    `  uids:        ${ranges(r.uids)}`,
    `  gids:        ${ranges(r.gids)}`,
    `  base:        ${base}`,
    `  outside:     uids ${ranges(r.outside.uids)}; gids ${ranges(r.outside.gids)}`,
    `  setuid:      ${examples(r.setuid)}`,
    `  setgid:      ${examples(r.setgid)}`,
    `  ACLs:        ${examples(r.acl)}${r.acl.count > 0 ? ` — uids ${ranges(r.acl.uids)}; gids ${ranges(r.acl.gids)}` : ''}`,
    `  capabilities: ${examples(r.capabilities)}${r.capabilities.namespaced > 0 ? ` — ${num(r.capabilities.namespaced)} namespaced (v3), root ids ${ranges(r.capabilities.rootIds)}` : ''}`,
    `  hard links:  ${r.hardLinks.count === 0 ? 'none' : `${plural(r.hardLinks.count, 'inode')} with ${plural(r.hardLinks.extraNames, 'extra name')}: ${r.hardLinks.examples.slice(0, 5).join(', ')}`}`,
  ].join('\n');
}

export function formatShift(r: ShiftReport): string {
  const s = r.stats;
  if (r.alreadyDone)
    return `${r.root} is already as a completed shift with this MAP left it: nothing to do (a shift is never applied twice)`;
  const verb = r.dryRun
    ? r.resumed
      ? 'would finish the interrupted shift of'
      : 'would shift'
    : r.resumed
      ? 'finished the interrupted shift of'
      : 'shifted';
  const lines = [
    `${verb} ${r.root}: ${plural(s.owner, 'owner')}, ${plural(s.mode, 'mode')} restored, ${plural(s.aclAccess + s.aclDefault, 'ACL')}, ${plural(s.capability, 'capability', 'capabilities')}` +
      (r.resumed
        ? ''
        : `; ${plural(s.entries, 'entry', 'entries')} read, ${num(s.unchanged)} unchanged, ${plural(s.hardLinks, 'extra hard link')}`) +
      ` (${(r.durationMs / 1000).toFixed(2)} s)`,
  ];
  for (const k of r.kept) {
    lines.push(
      `  not covered by MAP: ${k.kind} ${k.end - k.start === 1 ? k.start : `${k.start}-${k.end - 1}`} (${k.where}, ${plural(k.entries, 'entry', 'entries')})`,
    );
  }
  if (r.skippedMounts.length > 0) lines.push(`  other mounts left alone: ${r.skippedMounts.join(', ')}`);
  return lines.join('\n');
}
