import { showRange } from '../../idmap/index.js';
import { UsageError } from '../../errors.js';
import { auditHost, checkDelegation, type CheckReport, type HostPaths, type MapCheck, type MapKindName } from '../../host/index.js';
import type { Finding } from '../../policy/audit.js';
import type { FsidMapDecision } from '../../policy/fsid-policy.js';
import { mapTextToArgs } from '../../policy/map-args.js';
import type { NewIdmapDecision } from '../../policy/newidmap.js';
import { type Command, type ParsedArgs, defineCommand, flag, requireStr, str, u32Arg, write, writeJson } from '../command.js';
import { readMapSource } from '../map-arg.js';

const PATH_OPTIONS = {
  subuid: { type: 'string' },
  subgid: { type: 'string' },
  passwd: { type: 'string' },
  group: { type: 'string' },
} as const;

const PATH_HELP = `  --subuid F, --subgid F, --passwd F, --group F
                       read these files instead of the ones in /etc`;

export const subidCheck = defineCommand({
  name: 'subid check',
  summary: 'may a user install these uid/gid maps (newuidmap/newgidmap) and fsuid/fsgid maps (fsid policy)?',
  usage: `fsidmap subid check --user U [--uidmap MAP] [--gidmap MAP] [--fsuidmap MAP] [--fsgidmap MAP] [--gid N] [--json]

For --uidmap and --gidmap, "allowed" means the whole newuidmap/newgidmap call
would succeed: shadow-utils 4.13's own checks (argument parsing, the caller's
own id, coverage by /etc/subuid or /etc/subgid ranges, adjacent entries
joined), then the kernel's rules for the write. For --fsuidmap and
--fsgidmap: every lower id must be the user's own uid (gid) or inside their
subordinate ranges, and the map must pass the kernel's rules. Without a map
it prints what the user owns.

  --user U             user name or uid
  --gid N              the caller's real gid (default: the passwd gid)
  --json               {"user","uid","gid","allowed","owned","maps":[…]}
${PATH_HELP}
  --login-defs F       read GRANT_AUX_GROUP_SUBIDS from F (default /etc/login.defs)
MAP is an inline spec (0:100000:65536[,…]), map lines ("0 100000 65536"), a
file, or - for stdin; its numbers become newuidmap's arguments, three per line.
Exit status: 0 all given maps allowed, 1 any refused, 2 usage error.`,
  options: {
    user: { type: 'string' },
    uidmap: { type: 'string' },
    gidmap: { type: 'string' },
    fsuidmap: { type: 'string' },
    fsgidmap: { type: 'string' },
    gid: { type: 'string' },
    json: { type: 'boolean' },
    'login-defs': { type: 'string' },
    ...PATH_OPTIONS,
  },
  async run(args, io) {
    noPositionals(args, 'subid check');
    const maps: Partial<Record<MapKindName, string[]>> = {};
    for (const kind of ['uid', 'gid', 'fsuid', 'fsgid'] as const) {
      const a = str(args, `${kind}map`);
      if (a !== undefined) maps[kind] = mapTextToArgs(readMapSource(a).text);
    }
    const gid = str(args, 'gid');
    const report = checkDelegation({
      user: requireStr(args, 'user', 'subid check'),
      maps,
      paths: { ...paths(args), loginDefs: str(args, 'login-defs') },
      ...(gid === undefined ? {} : { gid: u32Arg(gid, '--gid') }),
    });
    if (flag(args, 'json')) writeJson(io, checkJson(report));
    else io.stdout.write(checkText(report));
    return report.allowed ? 0 : 1;
  },
});

export const subidAudit = defineCommand({
  name: 'subid audit',
  summary: 'check /etc/subuid and /etc/subgid for overlaps, grants of real or special ids, and lines shadow ignores',
  usage: `fsidmap subid audit [--subuid F] [--subgid F] [--passwd F] [--group F] [--max-per-code N] [--json]

Reports, with severity and line numbers: ranges of different owners that
overlap; ranges covering real users or groups, 0, or the overflow id 65534;
ranges in systemd's foreign range (0x7FFE0000–0x7FFEFFFF) or at or above 2^31;
owners whose uid and gid ranges differ; owners without a 65536-id block;
owners without an account; lines shadow cannot parse (kept, ignored);
numbers shadow reads differently than they look (octal, hex, signs);
"owner:0:0", which shadow reads as every id; unusable files.
${PATH_HELP}
  --max-per-code N     list at most N findings of each kind (default 1000; the rest are counted)
  --json               {"paths","counts","truncated","entries","lines","findings":[…]}
Exit status: 0 no error-level finding, 1 at least one, 2 usage error.`,
  options: { ...PATH_OPTIONS, json: { type: 'boolean' }, 'max-per-code': { type: 'string' } },
  async run(args, io) {
    noPositionals(args, 'subid audit');
    const max = str(args, 'max-per-code');
    const report = auditHost({ paths: paths(args), ...(max === undefined ? {} : { maxPerCode: u32Arg(max, '--max-per-code') }) });
    if (flag(args, 'json')) {
      writeJson(io, {
        paths: report.paths,
        counts: report.counts,
        truncated: report.truncated,
        entries: report.entries,
        lines: report.lines,
        findings: report.findings,
      });
    } else {
      for (const f of report.findings) write(io.stdout, findingText(f, report.paths));
      const more = Object.entries(report.truncated)
        .map(([c, n]) => `${n} more ${c}`)
        .join(', ');
      write(
        io.stdout,
        `${report.paths.subuid}: ${report.lines.subuid} lines, ${report.entries.subuid} entries; ${report.paths.subgid}: ${report.lines.subgid} lines, ${report.entries.subgid} entries; ` +
          `${report.counts.error} error(s), ${report.counts.warning} warning(s), ${report.counts.info} note(s)${more ? ` (not listed: ${more})` : ''}`,
      );
    }
    return report.counts.error > 0 ? 1 : 0;
  },
});

export const subidCommands: Command[] = [subidCheck, subidAudit];

function paths(args: ParsedArgs): Partial<HostPaths> {
  return {
    subuid: str(args, 'subuid'),
    subgid: str(args, 'subgid'),
    passwd: str(args, 'passwd'),
    group: str(args, 'group'),
  } as Partial<HostPaths>;
}

function noPositionals(args: ParsedArgs, command: string): void {
  if (args.positionals.length > 0)
    throw new UsageError(`fsidmap ${command}: unexpected argument "${args.positionals[0]}"`, `see fsidmap ${command} --help`);
}

const intervals = (spans: ReadonlyArray<readonly [number, number]>) =>
  spans.length === 0 ? 'nothing' : spans.map(([s, e]) => showRange(s, e)).join(', ');

function checkText(r: CheckReport): string {
  const out: string[] = [];
  out.push(
    r.user
      ? `user ${r.user.name} (uid ${r.uid}, gid ${r.gid}): subordinate uids ${intervals(r.owned.subuid)}; subordinate gids ${intervals(r.owned.subgid)}`
      : `uid ${r.uid}: no passwd entry`,
  );
  for (const m of r.maps) {
    if (m.allowed) {
      out.push(`${m.kind} map: allowed${allowedDetail(m)}`);
    } else {
      out.push(`${m.kind} map: refused (${m.stage}, ${m.rule}): ${m.message}`);
      if (m.hint) out.push(`  hint: ${m.hint}`);
    }
  }
  return out.join('\n') + '\n';
}

function allowedDetail(m: MapCheck): string {
  const parts: string[] = [];
  const d = m.decision;
  if (d && 'ranges' in d) {
    const via = d.ranges.map((g) => (g.via === 'own-id' ? `own ${m.kind}` : `lines ${g.lines.join(',')}`)).join('; ');
    parts.push(`; writes ${JSON.stringify(m.write)} (${via})`);
    if (d.setgroups === 'deny') parts.push('; newgidmap first writes "deny" to /proc/PID/setgroups (no range came from /etc/subgid)');
    if (d.setgroups === 'unchanged') parts.push('; setgroups is left as it is');
  } else if (m.write !== null) {
    parts.push(`; ${m.kind}_map ${JSON.stringify(m.write)}`);
  }
  return parts.join('');
}

function checkJson(r: CheckReport): unknown {
  return {
    user: r.user ? { name: r.user.name, uid: r.user.uid, gid: r.user.gid } : null,
    uid: r.uid,
    gid: r.gid,
    allowed: r.allowed,
    owned: r.owned,
    maps: r.maps.map((m) => {
      const d = m.decision;
      const base = {
        kind: m.kind,
        allowed: m.allowed,
        stage: m.stage,
        rule: m.rule,
        message: m.message,
        hint: m.hint,
        write: m.write,
        installed: m.installed,
      };
      if (d && 'ranges' in d) {
        const nd = d as NewIdmapDecision;
        return { ...base, tool: nd.tool, stderr: nd.stderr, setgroups: nd.setgroups, ranges: nd.ranges, kernel: kernelJson(nd.kernel) };
      }
      if (d) {
        const fd = d as FsidMapDecision;
        return { ...base, owned: fd.owned, refusal: fd.refusal, kernel: kernelJson(fd.kernel) };
      }
      return base;
    }),
  };
}

function kernelJson(k: NewIdmapDecision['kernel']): unknown {
  return k ? { ok: k.ok, errno: k.errno, line: k.line, rule: k.rule, message: k.message } : null;
}

function findingText(f: Finding, p: HostPaths): string {
  const where =
    f.file === null
      ? ''
      : ` ${f.file === 'subuid' ? p.subuid : p.subgid}${f.lines.length > 0 ? `:${f.lines.slice(0, 6).join(',')}${f.lines.length > 6 ? ',…' : ''}` : ''}`;
  return `${f.severity.padEnd(7)} ${f.code}${where}: ${f.message}\n  hint: ${f.hint}`;
}
