import { accessSync, constants, createReadStream, existsSync, openSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { FsidmapError, fromSystemError, isSystemError, UsageError } from '../../errors.js';
import type { IdMap } from '../../idmap/index.js';
import { writeFileAtomically } from '../../tar-io/atomic-output.js';
import { fdReadable, fdWritable, shiftTarFd } from '../../tar-io/shift-fd.js';
import { type ShiftTarOptions, shiftTarStream, type TarShiftResult } from '../../tar-io/shift-stream.js';
import { blockingStdio, releaseStdio } from '../../tar-io/stdio-fd.js';
import type { UnpackResult } from '../../tar-io/unpack.js';
import type { NamesPolicy, ShiftOptions, UnmappedPolicy } from '../../tar/id-shift.js';
import type { TarWarning } from '../../tar/warnings.js';
import { type CommandIO, type ParsedArgs, defineCommand, flag, str, u32Arg, write, writeJson } from '../command.js';
import { readMapArg } from '../map-arg.js';

const MAP_HELP = `MAP is an inline spec (0:100000:65536[,…]), map lines ("0 100000 65536") or a file,
in kernel map format whose first column is the id stored in the archive now and
whose second column is the id it becomes (an idmapped mount's orientation).`;

const SHIFT_OPTIONS_HELP = `  --reverse            apply MAP the other way round (second column → first)
  --gid-map MAP        a different map for gids (default: MAP for both)
  --unmapped POLICY    ids MAP does not cover: refuse (default: stop with an error),
                       keep (leave them), or an id to write instead (e.g. 65534)
  --keep-v2-caps       leave v2 file capabilities v2 (honoured in every namespace) instead
                       of what the kernel stores when they are written inside the target
                       namespace: v3 with rootid MAP(0) (v2 when MAP(0) is 0 or unmapped)
  --strict             treat warnings (odd but survivable archive data) as errors
  --json               print the summary as JSON (see below)`;
const NAMES_HELP = `  --names clear|keep   uname/gname after the shift: clear (default; readers then use
                       the ids, which the names no longer match) or keep (as stored)`;

export const tarShift = defineCommand({
  name: 'tar shift',
  summary: 'shift the owners of a tar stream through a map (ustar, GNU, PAX; gzip in and out)',
  usage: `fsidmap tar shift MAP [OPTIONS] < IN.tar > OUT.tar
fsidmap tar shift MAP [OPTIONS] -i IN.tar[.gz] -o OUT.tar[.gz]

Rewrites every uid and gid of the archive (header fields, PAX records, ids in
POSIX ACLs and in v3 file capabilities; v2 capabilities become v3 with rootid
MAP(0), as the kernel would store them inside the target namespace) and recomputes the checksums; file data
passes through untouched, and memory use does not grow with the archive.
gzip input is recognised by its magic bytes.

${SHIFT_OPTIONS_HELP}
${NAMES_HELP}
  -i, --input FILE     read the archive from FILE (default: standard input)
  -o, --output FILE    write to FILE atomically (temporary file, fsync, rename); a name
                       ending in .gz or .tgz is gzip-compressed (default: standard output)
  --gzip               gzip the output
  -v, --verbose        print a summary line on standard error

Exit status: 0 done; 1 the archive could not be shifted (corrupt, truncated, an
unmapped id under --unmapped refuse, a warning under --strict); 2 usage error.
With --json the summary {"entries","headersRewritten","paxRewritten","paxCreated",
"globalHeaders","bytesIn","bytesOut","input","output","ids":{"mapped","kept",
"replaced"},"warnings"} goes to standard output when -o is given, else to
standard error (standard output carries the archive).
${MAP_HELP}`,
  options: {
    reverse: { type: 'boolean' },
    'gid-map': { type: 'string' },
    unmapped: { type: 'string' },
    'keep-v2-caps': { type: 'boolean' },
    names: { type: 'string' },
    strict: { type: 'boolean' },
    json: { type: 'boolean' },
    input: { type: 'string', short: 'i' },
    output: { type: 'string', short: 'o' },
    gzip: { type: 'boolean' },
    verbose: { type: 'boolean', short: 'v' },
  },
  async run(args, io) {
    const [mapArg, ...extra] = args.positionals;
    if (mapArg === undefined || extra.length > 0)
      throw new UsageError('fsidmap tar shift takes exactly one argument, MAP', 'see fsidmap tar shift --help');
    const shift = shiftOptions(args, mapArg, 'tar shift');
    const inputPath = str(args, 'input');
    const outputPath = str(args, 'output');
    if (outputPath === undefined && (io.stdout as { isTTY?: boolean }).isTTY) {
      throw new UsageError('refusing to write an archive to a terminal', 'redirect standard output to a file or pass -o FILE');
    }
    if (inputPath === undefined && (io.stdin as { isTTY?: boolean }).isTTY) {
      throw new UsageError(
        'fsidmap tar shift reads the archive from standard input, which is a terminal',
        'redirect a file into it (< in.tar) or pass -i FILE',
      );
    }
    const gzip = flag(args, 'gzip') || (outputPath !== undefined && /\.(t?gz)$/.test(outputPath));
    const warnings = warningPrinter(io, flag(args, 'strict'));
    const options = { ...shift, gzip, onWarning: warnings.onWarning };
    let result: TarShiftResult;
    try {
      result = await shiftWithIo(io, inputPath, outputPath, options);
    } catch (e) {
      throw inputError(e, inputPath, outputPath);
    } finally {
      warnings.finish();
    }
    const summaryTo = outputPath === undefined ? io.stderr : io.stdout;
    if (flag(args, 'json')) summaryTo.write(JSON.stringify(result) + '\n');
    else if (flag(args, 'verbose')) {
      write(
        io.stderr,
        `fsidmap: ${n(result.entries, 'entry', 'entries')}, ${n(result.headersRewritten, 'header')} rewritten, ${n(result.paxRewritten, 'PAX header')} rewritten, ${result.paxCreated} created; ids: ${result.ids.mapped} mapped, ${result.ids.kept} kept, ${result.ids.replaced} replaced; ${result.bytesIn} bytes in, ${result.bytesOut} out`,
      );
    }
    return 0;
  },
});

export const tarUnpack = defineCommand({
  name: 'tar unpack',
  summary: 'unpack a tar archive into a directory with its owners shifted through a map',
  usage: `fsidmap tar unpack MAP ARCHIVE DIR [OPTIONS]

Extracts ARCHIVE (plain or gzip; - for standard input) into DIR, creating DIR
if needed, with every owner, ACL id and file capability root id shifted
through MAP: regular files (sparse ones with their holes), directories,
symlinks, hard links, fifos, devices, modes with setuid/setgid, mtimes, and
xattrs including POSIX ACLs and file capabilities. Paths that would leave DIR
(absolute, "..", or through a symlink the archive made) are refused.

As root, owners are set as MAP says. Inside a user namespace (the seed's
"unpack from within a userns"), owners are ids of that namespace and the
kernel stores them through its map, so an unprivileged user with subordinate
ids runs, for example:
  unshare --user --map-root-user --map-auto -- fsidmap tar unpack 0:0:65536 image.tar rootfs
and gets files owned by their subordinate range on disk. Device nodes cannot
be created there (the kernel refuses mknod in a user namespace); they are
skipped with a TAR_MKNOD_DENIED warning, as GNU tar does.

${SHIFT_OPTIONS_HELP}
  --no-same-owner      do not set owners (files belong to the caller), only modes and data
Owners are always set by number: names no longer match shifted ids.

Exit status: 0 done; 1 the archive could not be unpacked (corrupt, an unmapped
id, an unsafe path under --strict, an I/O error); 2 usage error.
With --json: {"entries","files","dirs","symlinks","hardlinks","devices","fifos",
"skipped","bytes","ids":{"mapped","kept","replaced"},"warnings"} on standard output.
${MAP_HELP}`,
  options: {
    reverse: { type: 'boolean' },
    'gid-map': { type: 'string' },
    unmapped: { type: 'string' },
    'keep-v2-caps': { type: 'boolean' },
    strict: { type: 'boolean' },
    json: { type: 'boolean' },
    'no-same-owner': { type: 'boolean' },
  },
  async run(args, io) {
    if (args.positionals.length !== 3)
      throw new UsageError('fsidmap tar unpack takes three arguments: MAP ARCHIVE DIR', 'see fsidmap tar unpack --help');
    const [mapArg, archive, dir] = args.positionals;
    const shift = shiftOptions(args, mapArg, 'tar unpack');
    const warnings = warningPrinter(io, flag(args, 'strict'));
    checkTargetDir(dir);
    const input = archive === '-' ? stdinStream(io) : openArchive(archive);
    // A failed unpack leaves nothing behind: a DIR it created goes again.
    const created = !existsSync(dir);
    let result: UnpackResult;
    try {
      // Loaded here: unpack needs koffi (mknod, lsetxattr), which `tar shift` should not pay for.
      const { unpackTar } = await import('../../tar-io/unpack.js');
      result = await unpackTar(input, dir, { ...shift, sameOwner: !flag(args, 'no-same-owner'), onWarning: warnings.onWarning });
    } catch (e) {
      if (created) rmSync(dir, { recursive: true, force: true });
      input.destroy();
      throw inputError(e, archive === '-' ? undefined : archive);
    } finally {
      warnings.finish();
    }
    if (flag(args, 'json')) writeJson(io, result);
    else
      write(
        io.stdout,
        `unpacked ${n(result.entries, 'entry', 'entries')} into ${dir} (${n(result.files, 'file')}, ${n(result.dirs, 'directory', 'directories')}, ${n(result.symlinks, 'symlink')}, ${n(result.hardlinks, 'hard link')}, ${n(result.devices + result.fifos, 'special file')}${result.skipped > 0 ? `, ${result.skipped} skipped` : ''})`,
      );
    return 0;
  },
});

export const tarCommands = [tarShift, tarUnpack];

/**
 * Picks the I/O path: descriptors on both sides (files, or the process's own
 * stdin/stdout) take the fast blocking loop; anything else (a test's
 * in-memory streams) goes through node streams.
 */
async function shiftWithIo(
  io: CommandIO,
  inputPath: string | undefined,
  outputPath: string | undefined,
  options: ShiftTarOptions,
): Promise<TarShiftResult> {
  const inFd =
    inputPath !== undefined ? { fd: openSync(inputPath, 'r'), owned: true } : io.stdin === process.stdin ? blockingStdio(0) : null;
  try {
    const input = (): Readable => (inFd ? fdReadable(inFd.fd) : stdinStream(io));
    if (outputPath !== undefined) {
      return await writeFileAtomically(outputPath, (outFd) =>
        inFd ? shiftTarFd(inFd.fd, outFd, options) : shiftTarStream(input(), fdWritable(outFd), options),
      );
    }
    const outFd = io.stdout === process.stdout ? blockingStdio(1) : null;
    try {
      if (inFd && outFd) return await shiftTarFd(inFd.fd, outFd.fd, options);
      return await shiftTarStream(input(), outFd ? fdWritable(outFd.fd) : (io.stdout as Writable), options);
    } finally {
      if (outFd) releaseStdio(outFd);
    }
  } finally {
    if (inFd) releaseStdio(inFd);
  }
}

/** The shift options both commands share, validated once here. */
function shiftOptions(args: ParsedArgs, mapArg: string, command: string): ShiftOptions {
  if (mapArg === '-')
    throw new UsageError(
      `fsidmap ${command}: MAP cannot be "-" here (standard input carries the archive)`,
      'give the map inline (0:100000:65536) or as a file',
    );
  const map: IdMap = readMapArg(mapArg, 'MAP');
  const gidArg = str(args, 'gid-map');
  const gidMap = gidArg === undefined ? undefined : readMapArg(gidArg, '--gid-map');
  return {
    map,
    ...(gidMap ? { gidMap } : {}),
    direction: flag(args, 'reverse') ? 'up' : 'down',
    unmapped: unmappedPolicy(str(args, 'unmapped')),
    names: namesPolicy(str(args, 'names')),
    capabilities: flag(args, 'keep-v2-caps') ? 'keep-v2' : 'scope',
  };
}

function unmappedPolicy(v: string | undefined): UnmappedPolicy {
  if (v === undefined || v === 'refuse') return { kind: 'refuse' };
  if (v === 'keep') return { kind: 'keep' };
  const id = u32Arg(v, '--unmapped');
  if (id === 4294967295) throw new UsageError('--unmapped cannot be 4294967295, which is no valid id');
  return { kind: 'replace', id };
}

function namesPolicy(v: string | undefined): NamesPolicy {
  if (v === undefined) return 'clear';
  if (v !== 'clear' && v !== 'keep') throw new UsageError(`--names must be clear or keep, got "${v}"`);
  return v;
}

function stdinStream(io: CommandIO): Readable {
  return io.stdin instanceof Readable ? io.stdin : Readable.from(io.stdin as AsyncIterable<Buffer>);
}

/** Prints warnings to stderr (the first 10 of each code, then a count); under --strict the first one aborts. */
function warningPrinter(io: CommandIO, strict: boolean): { onWarning: (w: TarWarning) => void; finish: () => void } {
  const counts = new Map<string, number>();
  return {
    onWarning(w) {
      if (strict) {
        throw new FsidmapError('ERR_TAR_STRICT', `${w.code}: ${w.message}`, {
          context: { warning: w.code, offset: w.offset },
          hint: 'drop --strict to pass such data through with a warning',
        });
      }
      const n = (counts.get(w.code) ?? 0) + 1;
      counts.set(w.code, n);
      if (n <= 10) write(io.stderr, `fsidmap: warning: ${w.code}: ${w.message}`);
    },
    finish() {
      for (const [code, n] of counts) if (n > 10) write(io.stderr, `fsidmap: warning: ${code}: ${n - 10} more not shown`);
    },
  };
}

/**
 * Operating-system errors named by what the user gave: the archive they
 * pointed at, or the output file (whose temporary sibling the error names).
 * A closed output pipe is said as such.
 */
function inputError(e: unknown, path: string | undefined, output?: string): unknown {
  if (!isSystemError(e)) return e;
  if (e.code === 'EPIPE')
    return new FsidmapError('ERR_OUTPUT_CLOSED', 'the output was closed before the whole archive was written', { cause: e });
  if (path !== undefined && (e.path === path || e.path === undefined))
    return fromSystemError(e, { path, doing: 'read the archive', argument: 'ARCHIVE' });
  const outDir = output === undefined ? undefined : dirname(resolve(output));
  if (output !== undefined && e.path !== undefined && (e.path === outDir || dirname(e.path) === outDir))
    return fromSystemError(e, { path: output, doing: 'write the output' });
  return e;
}

/** DIR must be a writable directory, or creatable: checked before anything is unpacked, and said in terms of DIR. */
function checkTargetDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    if (!isSystemError(e) || e.code !== 'ENOENT') throw isSystemError(e) ? fromSystemError(e, { path: dir, doing: 'use DIR' }) : e;
    const parent = dirname(resolve(dir));
    try {
      if (!statSync(parent).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR', syscall: 'mkdir' });
      accessSync(parent, constants.W_OK | constants.X_OK);
    } catch (e2) {
      throw isSystemError(e2) ? fromSystemError(e2, { path: dir, doing: 'create the directory' }) : e2;
    }
    return;
  }
  if (!st.isDirectory())
    throw new FsidmapError('ERR_NOT_A_DIRECTORY', `cannot unpack into ${dir}: it exists and is not a directory`, {
      hint: 'give a directory, or a path that does not exist yet (it is created)',
      context: { path: dir },
    });
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw isSystemError(e) ? fromSystemError(e, { path: dir, doing: 'unpack into' }) : e;
  }
}

/** The archive opened before anything is created, so a missing or unreadable one changes nothing. */
function openArchive(path: string): Readable {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw inputError(e, path);
  }
  return createReadStream(path, { fd, highWaterMark: 1 << 20 });
}

/** "1 entry", "2 entries". */
function n(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
