import { lstatSync } from 'node:fs';
import { FsidmapError, UsageError } from '../../errors.js';
import { FSID_SEMANTICS, type FsidSemantics } from '../../userns/namespace.js';
import { type ExplainRow, type Realisation, REALISATIONS, type Verdict, Explainer } from '../../vfs/explain.js';
import { modeString } from '../../vfs/inode.js';
import { readTree, type UnreadableEntry } from '../../vfs-host/tree-reader.js';
import { defineCommand, flag, requireStr, str, u32Arg } from '../command.js';
import { clip } from '../failure.js';
import { readMapArg } from '../map-arg.js';

export const explainCommand = defineCommand({
  name: 'explain',
  summary: 'show how a container with given (fs)id maps sees a real tree, and what its user may do there',
  usage: `fsidmap explain --uidmap MAP --gidmap MAP [--fsuidmap MAP --fsgidmap MAP] [--as UID:GID]
                [--realisation idmapped-mount|fsid-series] [--semantics v3|v2|off]
                [--no-acl] [--json] PATH...

Reads each PATH recursively with lstat (and the POSIX ACL xattr), changes
nothing, and prints per entry: the on-disk owner, the owner as the container
sees it (65534: unmapped), the mode, and whether the container's user can
read, write (a directory: create in it), chown it, and set a user.* xattr
and an access ACL on it, with the kernel rule and the reason for every "no".

  --uidmap, --gidmap       the container's id maps
  --fsuidmap, --fsgidmap   its fsid maps (both or neither); without them the
                           filesystem uses the id maps, as today's kernel does
  --as UID:GID             the container user (default 0:0: root, all capabilities
                           in the container)
  --realisation R          how the fsid maps are realised: idmapped-mount (default:
                           what fsidmap run and mount give, an idmapped mount with
                           map idmap ∘ fsidmap⁻¹; nobody may write an entry whose
                           owner or group lies outside the fsid map) or fsid-series
                           (the unmerged fsid-map series' plain mount). A verdict the
                           other realisation would give differently carries its answer
  --semantics S            the series' semantics: v3 (default), v2 or off
  --no-acl                 do not read ACL xattrs
  --json                   {"setup":{...},"entries":[{"path","type","disk":{"uid","gid"},
                           "seen":{"uid","gid"},"mode","acl","reachable","read","write",
                           "chown","setxattr","setacl"}],"summary":{...}}; each verdict is {"ok","rule","why"};
                           with fsid maps a "no" also has "by" (both, or the
                           realisation whose rule refused) and a verdict the other
                           realisation gives differently has "contrast"
MAP is an inline spec (0:100000:65536[,…]), map lines, a file, or - for stdin.`,
  options: {
    uidmap: { type: 'string' },
    gidmap: { type: 'string' },
    fsuidmap: { type: 'string' },
    fsgidmap: { type: 'string' },
    as: { type: 'string' },
    semantics: { type: 'string' },
    realisation: { type: 'string' },
    'no-acl': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    if (args.positionals.length === 0) throw new UsageError('fsidmap explain: give at least one PATH', 'see fsidmap explain --help');
    const sem = str(args, 'semantics') ?? 'v3';
    if (!(FSID_SEMANTICS as readonly string[]).includes(sem)) throw new UsageError(`--semantics must be v3, v2 or off, got "${sem}"`);
    const realisation = str(args, 'realisation') ?? 'idmapped-mount';
    if (!(REALISATIONS as readonly string[]).includes(realisation))
      throw new UsageError(`--realisation must be idmapped-mount or fsid-series, got "${realisation}"`);
    const as = parseAs(str(args, 'as') ?? '0:0');
    const fsu = str(args, 'fsuidmap'),
      fsg = str(args, 'fsgidmap');
    const explainer = new Explainer({
      uidmap: readMapArg(requireStr(args, 'uidmap', 'explain'), '--uidmap'),
      gidmap: readMapArg(requireStr(args, 'gidmap', 'explain'), '--gidmap'),
      ...(fsu !== undefined ? { fsuidmap: readMapArg(fsu, '--fsuidmap') } : {}),
      ...(fsg !== undefined ? { fsgidmap: readMapArg(fsg, '--fsgidmap') } : {}),
      as,
      semantics: sem as FsidSemantics,
      realisation: realisation as Realisation,
    });
    // Every PATH is looked at before the first byte is written: the output is whole, or absent with the error.
    for (const root of args.positionals) {
      if (!lstatSync(root, { throwIfNoEntry: false }))
        throw new FsidmapError('ERR_NOT_FOUND', `cannot explain ${clip(root)}: no such file or directory (ENOENT)`, {
          context: { path: root, errno: 'ENOENT', argument: 'PATH' },
          hint: 'give an existing path',
        });
    }
    const json = flag(args, 'json');
    const unreadable: UnreadableEntry[] = [];
    const summary = { entries: 0, readable: 0, writable: 0, chownable: 0, unmappedOwner: 0, unreachable: 0, differing: 0 };
    const out = io.stdout;
    // A reader that goes away (explain … | head) ends the walk quietly instead of crashing on EPIPE.
    let closed = false;
    out.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') closed = true;
      else throw e;
    });
    if (json)
      out.write(
        `{"setup":${JSON.stringify({ uidmap: str(args, 'uidmap'), gidmap: str(args, 'gidmap'), fsuidmap: fsu ?? null, fsgidmap: fsg ?? null, as, realisation, semantics: sem })},"entries":[`,
      );
    else
      out.write(`${'PATH'.padEnd(40)} ${'ON DISK'.padEnd(15)} ${'SEEN'.padEnd(13)} ${'MODE'.padEnd(11)} READ  WRITE CHOWN XATTR SETACL\n`);
    let first = true;
    for (const root of args.positionals) {
      for (const e of readTree(root, { acl: !flag(args, 'no-acl'), onUnreadable: (u) => unreadable.push(u) })) {
        if (closed) return 0;
        const row = explainer.explain(e.path === '.' ? { ...e, path: root } : { ...e, path: `${root.replace(/\/+$/, '')}/${e.path}` });
        count(summary, row);
        if (json) {
          out.write((first ? '' : ',') + JSON.stringify(row));
          first = false;
        } else out.write(textRow(row));
      }
    }
    if (json) out.write(`],"summary":${JSON.stringify({ ...summary, unreadable })}}\n`);
    else {
      out.write(
        `\n${summary.entries} ${summary.entries === 1 ? 'entry' : 'entries'}: ${summary.readable} readable, ${summary.writable} writable, ${summary.chownable} chownable; ${summary.unmappedOwner} with an owner the container cannot map (shown as 65534), ${summary.unreachable} unreachable${fsu !== undefined ? `; ${summary.differing} judged otherwise by the ${realisation === 'idmapped-mount' ? 'fsid-map series' : 'idmapped mount'}` : ''}\n`,
      );
      for (const u of unreadable) out.write(`could not ${u.action} ${clip(u.path)} (${u.errno}): what is below it is not shown\n`);
    }
    if (unreadable.length === 0) return 0;
    // The report is whole but not of the whole tree: say so on stderr too, and exit 1.
    const n = unreadable.length;
    throw new FsidmapError(
      'ERR_TREE_READ',
      `explain could not read ${n} ${n === 1 ? 'entry' : 'entries'} of the tree, first ${clip(unreadable[0].path)} (${unreadable[0].errno}); the report above leaves out what is below ${n === 1 ? 'it' : 'them'}`,
      {
        context: { path: unreadable[0].path, errno: unreadable[0].errno },
        hint: 'run explain as a user who can read the whole tree (root)',
      },
    );
  },
});

function parseAs(s: string): { uid: number; gid: number } {
  const m = /^(\d+):(\d+)$/.exec(s);
  if (!m) throw new UsageError(`--as must be UID:GID (ids inside the container), got "${s}"`);
  return { uid: u32Arg(m[1], '--as UID'), gid: u32Arg(m[2], '--as GID') };
}

function count(
  s: {
    entries: number;
    readable: number;
    writable: number;
    chownable: number;
    unmappedOwner: number;
    unreachable: number;
    differing: number;
  },
  r: ExplainRow,
): void {
  s.entries++;
  if (r.read.ok) s.readable++;
  if (r.write.ok) s.writable++;
  if (r.chown.ok) s.chownable++;
  if (r.seen.uid === 65534 || r.seen.gid === 65534) s.unmappedOwner++;
  if (!r.reachable.ok) s.unreachable++;
  if (r.reachable.contrast || r.read.contrast || r.write.contrast || r.chown.contrast || r.setxattr.contrast || r.setacl.contrast)
    s.differing++;
}

const yn = (v: Verdict) => (v.ok === null ? '-' : v.ok ? 'yes' : 'no');

function textRow(r: ExplainRow): string {
  const type = r.type === 'other' ? 'file' : (r.type as 'file' | 'dir' | 'symlink');
  const line = `${r.path.padEnd(40)} ${`${r.disk.uid}:${r.disk.gid}`.padEnd(15)} ${`${r.seen.uid}:${r.seen.gid}`.padEnd(13)} ${(modeString(type, r.mode) + (r.acl ? '+' : '')).padEnd(11)} ${yn(r.read).padEnd(5)} ${yn(r.write).padEnd(5)} ${yn(r.chown).padEnd(5)} ${yn(r.setxattr).padEnd(5)} ${yn(r.setacl)}\n`;
  const why = (['read', 'write', 'chown', 'setxattr', 'setacl'] as const)
    .filter((k) => r[k].ok === false || r[k].contrast)
    .map((k) => {
      const v = r[k];
      const by = v.by === undefined || v.by === 'both' ? '' : `[${v.by} rule] `;
      const c = v.contrast ? `; the ${v.contrast.realisation}: ${yn(v.contrast)} (${v.contrast.why})` : '';
      return `    ${k}: ${v.ok === false ? by + v.why : `yes (${v.why})`}${c}\n`;
    });
  return line + why.join('');
}
