import { type AllocKind, type Allocation, checkKind, parsePool } from '../../alloc/index.js';
import { allocateOnHost, collectStale, holderOf, localMappedCheck, whoHolds } from '../../alloc-host/index.js';
import { UsageError } from '../../errors.js';
import type { Registry } from '../../registry/contract.js';
import { openRegistry } from '../../registry/open.js';
import { allocJson, fullJson, gcText, listTable, mapLines, showText, whoJson, whoText } from '../alloc-format.js';
import { type CommandIO, type ParsedArgs, defineCommand, flag, str, u32Arg, write, writeJson } from '../command.js';

const DB_HELP = `  --db PATH|URL    the registry: a SQLite file, or postgres://user@host/db for many hosts
                   (default: FSIDMAP_DB, else /var/lib/fsidmap/registry.db for root,
                   $XDG_STATE_HOME/fsidmap/registry.db for others)
  --realm NAME     an independent id space in the registry (default "default")`;

const common = { db: { type: 'string' }, realm: { type: 'string' }, json: { type: 'boolean' } } as const;

/** Opens the registry named by --db/FSIDMAP_DB, runs fn, and always closes it. */
async function withRegistry<T>(args: ParsedArgs, io: CommandIO, fn: (r: Registry) => Promise<T>): Promise<T> {
  const db = str(args, 'db');
  const registry = await openRegistry({ env: io.env, ...(db !== undefined ? { db } : {}) });
  try {
    return await fn(registry);
  } finally {
    await registry.close();
  }
}

function onlyName(args: ParsedArgs, command: string, what = 'NAME'): string {
  if (args.positionals.length !== 1) {
    throw new UsageError(`fsidmap ${command} takes exactly one ${what}, got ${args.positionals.length}`, `see fsidmap ${command} --help`);
  }
  return args.positionals[0];
}

function sizeArg(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--size must be a decimal number of ids (a multiple of 65536), got "${value}"`);
  return Number(value);
}

export const allocCommand = defineCommand({
  name: 'alloc',
  summary: 'give NAME distinct host id ranges (idempotent) and print its maps',
  usage: `fsidmap alloc NAME [--size N] [--kind container|image|volume] [--fs NAME] [--pool START:COUNT]
              [--db PATH|URL] [--json] [--owner TENANT] [--parent NAME] [--pool-user USER]
              [--respect-subids] [--holder PID] [--realm NAME] [--root DIR]

Allocates 65536-aligned uid and gid ranges for NAME: the slot given by a
SHA-256 hash of NAME when free (a re-created container lands where it was),
otherwise one drawn uniformly from all free slots. An existing NAME returns
its allocation unchanged. Prints "uid_map 0 START COUNT" and "gid_map …"
lines (plus fsuid_map/fsgid_map with --fs); --json prints
{"name","kind","uid":{"start","count"},"gid":{"start","count"},"fs"}.

  --size N           ids per range, a multiple of 65536 (default 65536)
  --kind K           container (default), image or volume (on-disk ranges)
  --fs NAME          a container's fsid map points at image/volume NAME
  --pool START:COUNT host ids to take from (default systemd's container range
                     524288:1878523904)
  --pool-user USER   take the pool from USER's /etc/subuid and /etc/subgid lines
  --respect-subids   keep clear of every user's /etc/subuid and /etc/subgid ranges
  --owner TENANT     owner of an image/volume (default "shared") or of a container
  --parent NAME      carve the range out of container NAME (nested containers)
  --holder PID       record PID as the running holder (fsidmap gc frees it when gone;
                     an existing NAME whose holder is gone is taken over)
  --root DIR         read passwd/group/subuid/subgid under DIR instead of /
${DB_HELP}
Exit status: 0 allocated or found, 1 refused (pool exhausted, name taken,
database unreachable, …), 2 usage error.`,
  options: {
    ...common,
    size: { type: 'string' },
    kind: { type: 'string' },
    fs: { type: 'string' },
    pool: { type: 'string' },
    'pool-user': { type: 'string' },
    'respect-subids': { type: 'boolean' },
    owner: { type: 'string' },
    parent: { type: 'string' },
    holder: { type: 'string' },
    root: { type: 'string' },
  },
  async run(args, io) {
    const name = onlyName(args, 'alloc');
    const kind = checkKind(str(args, 'kind') ?? 'container');
    const size = sizeArg(str(args, 'size'));
    const poolSpec = str(args, 'pool');
    const pool = poolSpec === undefined ? undefined : parsePool(poolSpec);
    const holderPid = str(args, 'holder');
    const holder = holderPid === undefined ? undefined : holderOf(u32Arg(holderPid, '--holder'));
    const fs = str(args, 'fs');
    const owner = str(args, 'owner');
    const parent = str(args, 'parent');
    const realm = str(args, 'realm');
    const poolUser = str(args, 'pool-user');
    const root = str(args, 'root');
    return withRegistry(args, io, async (registry) => {
      const result = await allocateOnHost(
        registry,
        {
          name,
          kind,
          ...(size !== undefined ? { size } : {}),
          ...(fs !== undefined ? { fs } : {}),
          ...(owner !== undefined ? { owner } : {}),
          ...(parent !== undefined ? { parent } : {}),
          ...(realm !== undefined ? { realm } : {}),
          ...(pool ? { uidPool: pool } : {}),
          ...(holder ? { holder } : {}),
        },
        {
          respectSubids: flag(args, 'respect-subids'),
          ...(poolUser !== undefined ? { poolUser } : {}),
          ...(root !== undefined ? { root } : {}),
        },
      );
      const a = result.allocation;
      if (flag(args, 'json')) {
        writeJson(io, allocJson(a));
      } else {
        const fsAlloc = a.fs ? await registry.get(a.fs, a.realm) : undefined;
        io.stdout.write(mapLines(a, fsAlloc));
      }
      if (io.interactive) {
        write(
          io.stderr,
          result.created
            ? `fsidmap: allocated ${a.kind} ${a.name} (${result.via === 'hash' ? 'its hash slot' : 'a random free slot'})`
            : `fsidmap: ${a.kind} ${a.name} was already allocated`,
        );
      }
      return 0;
    });
  },
});

export const releaseCommand = defineCommand({
  name: 'release',
  summary: 'release the ranges of NAME (refused while containers use them)',
  usage: `fsidmap release NAME [--db PATH|URL] [--realm NAME] [--json]

Removes NAME's allocation. An image or volume a container's --fs points at,
or a container with children, is refused with ERR_RANGE_REFERENCED naming
them. Exit status: 0 released, 1 refused or not allocated, 2 usage error.
${DB_HELP}
  --json           print the released allocation`,
  options: { ...common },
  async run(args, io) {
    const name = onlyName(args, 'release');
    const realm = str(args, 'realm');
    return withRegistry(args, io, async (registry) => {
      const a = await registry.release(name, { ...(realm !== undefined ? { realm } : {}), mapped: await localMappedCheck() });
      const ids = `uid ${a.uid.start}:${a.uid.end - a.uid.start} gid ${a.gid.start}:${a.gid.end - a.gid.start}`;
      if (flag(args, 'json')) writeJson(io, { ...fullJson(a), ...(a.heldBy ? { heldBy: a.heldBy } : {}) });
      else if (a.draining)
        write(io.stdout, `released ${a.kind} ${a.name}, held draining (${ids}): ${a.heldBy}; fsidmap gc frees it once nothing maps it`);
      else write(io.stdout, `released ${a.kind} ${a.name}: ${ids}`);
      return 0;
    });
  },
});

export const listCommand = defineCommand({
  name: 'list',
  summary: 'list the allocations of the registry',
  usage: `fsidmap list [--kind container|image|volume] [--db PATH|URL] [--realm NAME] [--json]

One line per allocation, ordered by uid range. --json prints an array of
{"name","kind","uid","gid","fs","realm","owner","parent","holder","createdAt"}.
${DB_HELP}`,
  options: { ...common, kind: { type: 'string' } },
  async run(args, io) {
    if (args.positionals.length > 0) throw new UsageError('fsidmap list takes no arguments', 'see fsidmap list --help');
    const kindArg = str(args, 'kind');
    const kind: AllocKind | undefined = kindArg === undefined ? undefined : checkKind(kindArg);
    const realm = str(args, 'realm');
    return withRegistry(args, io, async (registry) => {
      const list = await registry.list({ ...(kind ? { kind } : {}), ...(realm !== undefined ? { realm } : {}) });
      if (flag(args, 'json')) writeJson(io, list.map(fullJson));
      else io.stdout.write(list.length === 0 ? '' : listTable(list));
      return 0;
    });
  },
});

export const showCommand = defineCommand({
  name: 'show',
  summary: 'show one allocation, its holder and what refers to it',
  usage: `fsidmap show NAME [--db PATH|URL] [--realm NAME] [--json]

--json prints the allocation as in list --json plus "usedBy" (containers whose
--fs is NAME) and "children" (allocations carved out of NAME).
${DB_HELP}`,
  options: { ...common },
  async run(args, io) {
    const name = onlyName(args, 'show');
    const realm = str(args, 'realm');
    return withRegistry(args, io, async (registry) => {
      const refs = await registry.references(name, realm);
      const a = (await registry.get(name, realm)) as Allocation;
      if (flag(args, 'json'))
        writeJson(io, { ...fullJson(a), usedBy: refs.users.map((u) => u.name), children: refs.children.map((c) => c.name) });
      else io.stdout.write(showText(a, refs));
      return 0;
    });
  },
});

export const whoCommand = defineCommand({
  name: 'who',
  summary: 'explain who holds host id ID: allocations, subids, users, groups, reserved ranges',
  usage: `fsidmap who ID [--db PATH|URL] [--realm NAME] [--root DIR] [--json]

Looks host uid/gid ID up everywhere a Linux host hands ids out: the
registry's allocations (with the id's offset inside), /etc/subuid and
/etc/subgid, /etc/passwd and /etc/group, and systemd's reserved ranges; says
"nobody" when none holds it and flags conflicts (two unrelated holders).
Exit status 0 whether or not the id is held.
${DB_HELP}
  --root DIR       read the /etc files under DIR instead of /
  --json           {"id","nobody","conflicts","inContainerRange","holders":[…]}`,
  options: { ...common, root: { type: 'string' } },
  async run(args, io) {
    const id = u32Arg(onlyName(args, 'who', 'ID'), 'ID');
    const realm = str(args, 'realm');
    const root = str(args, 'root');
    return withRegistry(args, io, async (registry) => {
      const w = await whoHolds(registry, id, { ...(realm !== undefined ? { realm } : {}), ...(root !== undefined ? { root } : {}) });
      if (flag(args, 'json')) writeJson(io, whoJson(w));
      else io.stdout.write(whoText(w));
      return 0;
    });
  },
});

export const gcCommand = defineCommand({
  name: 'gc',
  summary: 'release allocations whose holder process is gone',
  usage: `fsidmap gc [--dry-run] [--dead-host MACHINE] [--db PATH|URL] [--realm NAME] [--json]

For allocations with a recorded holder on this machine (fsidmap run, or
alloc --holder PID): releases those whose process is gone, was replaced by
another process with the same pid (start time differs), or belonged to an
earlier boot. Holders on other machines are left to those machines.
Allocations without a holder are never collected.
  --dry-run        say what would be released
  --dead-host M    also release the allocations held on machine M (its machine id
                   or host name, as list --json shows): only for a machine that is
                   gone for good, since no host can see another's processes
${DB_HELP}
  --json           {"released":[…],"kept":[{"name","code","reason"}],"elsewhere":N}`,
  options: { ...common, 'dry-run': { type: 'boolean' }, 'dead-host': { type: 'string' } },
  async run(args, io) {
    if (args.positionals.length > 0) throw new UsageError('fsidmap gc takes no arguments', 'see fsidmap gc --help');
    const realm = str(args, 'realm');
    const dryRun = flag(args, 'dry-run');
    const deadHost = str(args, 'dead-host');
    if (deadHost !== undefined && deadHost.trim() === '')
      throw new UsageError('--dead-host must name a machine', 'give its machine id or host name');
    return withRegistry(args, io, async (registry) => {
      const r = await collectStale(registry, {
        dryRun,
        ...(realm !== undefined ? { realm } : {}),
        ...(deadHost !== undefined ? { deadHost } : {}),
      });
      if (flag(args, 'json')) {
        writeJson(io, {
          released: r.released.map(fullJson),
          kept: r.kept.map((k) => ({ name: k.allocation.name, code: k.code, reason: k.reason })),
          elsewhere: r.elsewhere,
          draining: r.draining.map((d) => ({ name: d.allocation.name, heldBy: d.heldBy })),
          drained: r.drained.map(fullJson),
        });
      } else io.stdout.write(gcText(r, dryRun));
      return 0;
    });
  },
});

export const allocCommands = [allocCommand, releaseCommand, listCommand, showCommand, whoCommand, gcCommand];
