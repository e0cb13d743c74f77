import { FsidmapError, UsageError } from '../../errors.js';
import {
  type CheckKind,
  type MapWriter,
  checkMapWrite,
  compose,
  formatKernel,
  type IdMap,
  invert,
  MAX_EXTENTS,
  mountMap,
  normalize,
  OVERFLOW_ID,
  PAGE_SIZE,
} from '../../idmap/index.js';
import {
  type Command,
  type CommandIO,
  defineCommand,
  flag,
  type ParsedArgs,
  requireStr,
  str,
  u32Arg,
  write,
  writeJson,
} from '../command.js';
import { readMapArg, readMapSource } from '../map-arg.js';

const MAP_HELP = 'MAP is an inline spec (0:100000:65536[,…]), map lines ("0 100000 65536"), a file, or - for stdin.';

export const mapCheck = defineCommand({
  name: 'map check',
  summary: 'say whether the kernel would accept a write of MAP to uid_map or gid_map, and why not',
  usage: `fsidmap map check [--kind uid|gid] [--parent MAP] [--unprivileged --euid N --egid N --setgroups allow|deny] [--no-setfcap] [--json] MAP

Checks MAP exactly as the kernel's map_write would: exit 0 when it would accept
the write, 1 when it would refuse (stderr names the line, the rule and errno),
2 for usage errors. A file is checked byte for byte as one write(2).

  --kind uid|gid       which map is written (default uid)
  --parent MAP         the parent namespace's map as read from the initial namespace
                       (default: the initial namespace, 0 0 4294967295)
  --unprivileged       the writer holds no CAP_SETUID/CAP_SETGID in the parent
  --euid N, --egid N   the unprivileged writer's ids, as seen in the parent
  --setgroups V        the target's /proc/PID/setgroups (default allow)
  --no-setfcap         a privileged writer without CAP_SETFCAP
  --json               {"ok","errno","line","rule","message","extents"}
${MAP_HELP}`,
  options: {
    kind: { type: 'string' },
    parent: { type: 'string' },
    unprivileged: { type: 'boolean' },
    euid: { type: 'string' },
    egid: { type: 'string' },
    setgroups: { type: 'string' },
    'no-setfcap': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  // map_write refuses a write of PAGE_SIZE bytes or more: past that nothing on stdin can change the answer.
  stdinLimit: PAGE_SIZE,
  async run(args, io) {
    const mapArg = onePositional(args.positionals, 'map check', 'MAP');
    const kind = (str(args, 'kind') ?? 'uid') as CheckKind;
    if (kind !== 'uid' && kind !== 'gid') throw new UsageError(`--kind must be uid or gid, got "${kind}"`);
    const parent = args.values.parent === undefined ? undefined : readMapArg(requireStr(args, 'parent', 'map check'), 'parent map');
    let writer: MapWriter;
    if (flag(args, 'unprivileged')) {
      const setgroups = str(args, 'setgroups') ?? 'allow';
      if (setgroups !== 'allow' && setgroups !== 'deny') throw new UsageError(`--setgroups must be allow or deny, got "${setgroups}"`);
      writer = {
        privileged: false,
        euid: u32Arg(requireStr(args, 'euid', 'map check'), '--euid'),
        egid: u32Arg(str(args, 'egid') ?? requireStr(args, 'euid', 'map check'), '--egid'),
        setgroups,
      };
    } else {
      for (const o of ['euid', 'egid', 'setgroups'])
        if (args.values[o] !== undefined) throw new UsageError(`--${o} only applies with --unprivileged`);
      writer = { privileged: true, capSetfcap: !flag(args, 'no-setfcap') };
    }
    const { bytes, origin, cut } = readMapSource(mapArg);
    const checked = checkMapWrite(bytes, { kind, writer, ...(parent ? { parent } : {}) });
    // Cut at the kernel's limit, the input is refused as too long whatever follows; its length is unknown.
    const v = cut ? { ...checked, message: `${origin}: the kernel takes fewer than ${PAGE_SIZE} bytes in one write` } : checked;
    if (flag(args, 'json')) {
      writeJson(io, {
        ok: v.ok,
        errno: v.errno,
        line: v.line,
        rule: v.rule,
        message: v.message,
        extents: v.extents.map((e) => [e.first, e.lower, e.count]),
      });
    } else if (v.ok) {
      write(
        io.stdout,
        `ok: the kernel would accept ${origin} as ${kind}_map (${v.extents.length} line${v.extents.length === 1 ? '' : 's'})`,
      );
    } else {
      write(
        io.stderr,
        `fsidmap: ${kind}_map write refused with ${v.errno}${v.line === null ? '' : ` at line ${v.line}`} (rule ${v.rule}): ${v.message}`,
      );
      if (v.hint) write(io.stderr, `  hint: ${v.hint}`);
    }
    return v.ok ? 0 : 1;
  },
});

export const mapShow = defineCommand({
  name: 'map show',
  summary: 'print MAP as the kernel prints it ("%10u %10u %10u")',
  usage: `fsidmap map show [--normalize] [--json] MAP

Prints MAP in /proc/PID/uid_map format, in the order the kernel keeps it
(written order up to 5 lines, sorted by the first column above).
  --normalize   sort and merge adjacent lines first; MAP may then have any
                number of lines, as long as at most 340 remain after merging
  --json        {"extents":[{"first","lower","count"}],"kernel"}: the same lines, and the text
${MAP_HELP}`,
  options: { normalize: { type: 'boolean' }, json: { type: 'boolean' } },
  async run(args, io) {
    const normalizing = flag(args, 'normalize');
    const map = readMapArg(onePositional(args.positionals, 'map show', 'MAP'), 'map', undefined, { anyLines: normalizing });
    const shown = normalizing ? normalize(map) : map;
    if (shown.extents.length > MAX_EXTENTS) {
      throw new FsidmapError(
        'ERR_IDMAP_TOO_MANY_EXTENTS',
        `after merging adjacent lines ${shown.extents.length} remain; the kernel holds at most ${MAX_EXTENTS}`,
        {
          context: { lines: map.extents.length, merged: shown.extents.length },
          hint: 'map fewer, larger ranges: only lines that continue each other in both columns merge',
        },
      );
    }
    if (flag(args, 'json')) {
      const extents = shown.extents.map(({ first, lower, count }) => ({ first, lower, count }));
      writeJson(io, { extents, kernel: formatKernel(shown) });
    } else io.stdout.write(formatKernel(shown));
    return 0;
  },
});

export const mapTranslate = defineCommand({
  name: 'map translate',
  summary: 'translate ids through MAP, down (inside → outside) or up',
  usage: `fsidmap map translate MAP (--down|--up) [--munged] [--json] ID...

One line per id: the translation, or - when unmapped.
  --down     first column to lower column (make_kuid)
  --up       lower column to first column (from_kuid)
  --munged   print the overflow id 65534 for unmapped ids, as stat does
  --json     {"results":[{"input":N,"output":N|null},…]}
${MAP_HELP}`,
  options: { down: { type: 'boolean' }, up: { type: 'boolean' }, munged: { type: 'boolean' }, json: { type: 'boolean' } },
  async run(args, io) {
    const [mapArg, ...ids] = args.positionals;
    if (mapArg === undefined || ids.length === 0)
      throw new UsageError('fsidmap map translate: give MAP and at least one ID', 'see fsidmap map translate --help');
    const down = flag(args, 'down'),
      up = flag(args, 'up');
    if (down === up) throw new UsageError('fsidmap map translate: give exactly one of --down and --up');
    const map = readMapArg(mapArg, 'map');
    const munged = flag(args, 'munged');
    const results = ids.map((s) => {
      const input = u32Arg(s, 'ID');
      const out = down ? map.mapIdDown(input) : map.mapIdUp(input);
      return { input, output: out ?? (munged ? OVERFLOW_ID : null) };
    });
    if (flag(args, 'json')) writeJson(io, { results });
    else io.stdout.write(results.map((r) => `${r.output ?? '-'}\n`).join(''));
    return 0;
  },
});

const JSON_HELP = '--json prints {"extents":[[first,lower,count],…]} instead.';

export const mapCompose = defineCommand({
  name: 'map compose',
  summary: "the map x → B(A(x)): A's lower column feeds B's first column",
  usage: `fsidmap map compose [--json] A B\n\nPrints the composition in kernel format, normalized. ${JSON_HELP}\n${MAP_HELP}`,
  options: { json: { type: 'boolean' } },
  async run(args, io) {
    const [a, b] = twoPositionals(args.positionals, 'map compose', 'A', 'B');
    printMap(io, args, compose(readMapArg(a, 'map A'), readMapArg(b, 'map B')));
    return 0;
  },
});

export const mapInvert = defineCommand({
  name: 'map invert',
  summary: 'swap the columns of MAP',
  usage: `fsidmap map invert [--json] MAP\n\n${JSON_HELP}\n${MAP_HELP}`,
  options: { json: { type: 'boolean' } },
  async run(args, io) {
    printMap(io, args, invert(readMapArg(onePositional(args.positionals, 'map invert', 'MAP'), 'map')));
    return 0;
  },
});

export const mapMountMap = defineCommand({
  name: 'map mount-map',
  summary: 'the idmapped-mount map that realizes an fsid map: M(d) = idmap(fsidmap⁻¹(d))',
  usage: `fsidmap map mount-map --idmap A --fsidmap B [--allow-unmapped] [--json]

Prints, in kernel format, the map to give an idmapped mount so that a
namespace with id map A sees the filesystem as fsid map B would show it:
the first column is the on-disk id, the lower column the kernel id the
namespace sees. Example: --idmap 0:100000:100000 --fsidmap 0:300000:100000
gives "300000 100000 100000".
  --allow-unmapped   do not refuse fsid-mapped ids that A leaves unmapped
${JSON_HELP}
${MAP_HELP}`,
  options: { idmap: { type: 'string' }, fsidmap: { type: 'string' }, 'allow-unmapped': { type: 'boolean' }, json: { type: 'boolean' } },
  async run(args, io) {
    if (args.positionals.length > 0)
      throw new UsageError(
        `fsidmap map mount-map: unexpected argument "${args.positionals[0]}"`,
        'give the maps with --idmap and --fsidmap',
      );
    const idmap = readMapArg(requireStr(args, 'idmap', 'map mount-map'), 'id map');
    const fsidmap = readMapArg(requireStr(args, 'fsidmap', 'map mount-map'), 'fsid map');
    printMap(io, args, mountMap(idmap, fsidmap, { allowUnmapped: flag(args, 'allow-unmapped') }));
    return 0;
  },
});

export const mapCommands: Command[] = [mapCheck, mapShow, mapTranslate, mapCompose, mapInvert, mapMountMap];

/** A resulting map: kernel format, or with --json its extents as map check gives them. */
function printMap(io: CommandIO, args: ParsedArgs, m: IdMap): void {
  if (flag(args, 'json')) writeJson(io, { extents: m.extents.map((e) => [e.first, e.lower, e.count]) });
  else io.stdout.write(formatKernel(m));
}

function onePositional(p: string[], command: string, what: string): string {
  if (p.length !== 1) throw new UsageError(`fsidmap ${command}: expected one ${what}, got ${p.length}`, `see fsidmap ${command} --help`);
  return p[0];
}

function twoPositionals(p: string[], command: string, a: string, b: string): [string, string] {
  if (p.length !== 2)
    throw new UsageError(`fsidmap ${command}: expected ${a} and ${b}, got ${p.length} argument(s)`, `see fsidmap ${command} --help`);
  return [p[0], p[1]];
}
