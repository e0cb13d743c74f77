import { type AllocKind, type Allocation, checkKind, parsePool } from '../../alloc/index.js';
import { allocateOnHost, collectStale, holderOf, localMappedCheck, whoHolds } from '../../alloc-host/index.js';
import { existsSync, statSync } from 'node:fs';
import { defaultRegistryPath, envValue } from '../../environment.js';
import { FsidmapError, fromSystemError, isSystemError, UsageError } from '../../errors.js';
import { clip } from '../failure.js';
import type { Registry } from '../../registry/contract.js';
import { openRegistry } from '../../registry/open.js';
import { allocJson, fullJson, gcText, listTable, mapLines, showText, whoJson, whoText } from '../alloc-format.js';
import { type CommandIO, type ParsedArgs, defineCommand, flag, str, u32Arg, write, writeJson } from '../command.js';

const DB_HELP = `  --db PATH|URL    the registry: a SQLite file, or postgres://user@host/db for many hosts
                   (default: FSIDMAP_DB, else /var/lib/fsidmap/registry.db for root,
                   $XDG_STATE_HOME/fsidmap/registry.db for others)
  --realm NAME     an independent id space in the registry (default "default")`;

const common = { db: { type: 'string' }, realm: { type: 'string' }, json: { type: 'boolean' } } as const;

/**
 * Opens the registry named by --db/FSIDMAP_DB, runs fn, and always closes it.
 * The commands that only read (list, show, who) open it read-only when run
 * by an ordinary user: root's registry is readable to them but not
 * writable, and a read must not create or migrate anything. Such a user with
 * no registry of their own yet (nothing at the default location) reads an
 * empty one; a --db or FSIDMAP_DB that names nothing is still an error.
 */
async function withRegistry<T>(
  args: ParsedArgs,
  io: CommandIO,
  fn: (r: Registry) => Promise<T>,
  options: { readsOnly?: boolean } = {},
): Promise<T> {
  const db = str(args, 'db');
  const named = db ?? envValue('FSIDMAP_DB', io.env);
  const readOnly = options.readsOnly === true && (process.geteuid?.() ?? 0) !== 0;
  let registry: Registry;
  if (readOnly && named === undefined && !existsSync(defaultRegistryPath(io.env))) {
    registry = await openRegistry({ env: {}, db: ':memory:' });
  } else {
    registry = await openRegistry({ env: io.env, ...(db !== undefined ? { db } : {}), ...(readOnly ? { readOnly } : {}) });
  }
  try {
    return await fn(registry);
  } finally {
    await registry.close();
  }
}

/** --root DIR must be a directory: a typo must not read as a host with no users and no subordinate ids. */
function rootArg(args: ParsedArgs): string | undefined {
  const root = str(args, 'root');
  if (root === undefined) return undefined;
  try {
    if (!statSync(root).isDirectory()) {
      throw new FsidmapError('ERR_NOT_A_DIRECTORY', `--root ${clip(root)} is not a directory`, {
        hint: 'give the directory that holds etc/passwd, etc/group, etc/subuid and etc/subgid',
        context: { path: root, argument: '--root' },
      });
    }
  } catch (e) {
    throw isSystemError(e) ? fromSystemError(e, { path: root, doing: 'use --root', argument: '--root' }) : e;
  }
  return root;
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

Allocates uid and gid ranges for NAME in 65536-id slots: the slot given by a
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
  --pool-user USER   take the pool from USER's /etc/subuid and /etc/subgid lines,
                     as they are: slots start at each line's START (100000:65536)
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
    const root = rootArg(args);
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
    return withRegistry(
      args,
      io,
      async (registry) => {
        const list = await registry.list({ ...(kind ? { kind } : {}), ...(realm !== undefined ? { realm } : {}) });
        if (flag(args, 'json')) writeJson(io, list.map(fullJson));
        else io.stdout.write(listTable(list));
        return 0;
      },
      { readsOnly: true },
    );
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
    return withRegistry(
      args,
      io,
      async (registry) => {
        const refs = await referencesByReading(registry, name, realm);
        const a = refs.allocation;
        if (flag(args, 'json'))
          writeJson(io, { ...fullJson(a), usedBy: refs.users.map((u) => u.name), children: refs.children.map((c) => c.name) });
        else io.stdout.write(showText(a, refs));
        return 0;
      },
      { readsOnly: true },
    );
  },
});

/**
 * What Registry.references answers, from reads alone (it takes a write
 * transaction, which a registry opened read-only refuses): the containers
 * whose --fs is NAME and the allocations carved out of it.
 */
async function referencesByReading(
  registry: Registry,
  name: string,
  realm: string | undefined,
): Promise<{ allocation: Allocation; users: Allocation[]; children: Allocation[] }> {
  const allocation = await registry.get(name, realm);
  if (!allocation) {
    throw new FsidmapError('ERR_NO_SUCH_ALLOCATION', `no allocation named "${clip(name)}" in realm ${clip(realm ?? 'default')}`, {
      hint: 'fsidmap list shows what is allocated',
      context: { name, realm: realm ?? 'default' },
    });
  }
  const all = await registry.list(realm !== undefined ? { realm } : {});
  return { allocation, users: all.filter((x) => x.fs === name), children: all.filter((x) => x.parent === name) };
}

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
    const root = rootArg(args);
    return withRegistry(
      args,
      io,
      async (registry) => {
        const w = await whoHolds(registry, id, { ...(realm !== undefined ? { realm } : {}), ...(root !== undefined ? { root } : {}) });
        if (flag(args, 'json')) writeJson(io, whoJson(w));
        else io.stdout.write(whoText(w));
        return 0;
      },
      { readsOnly: true },
    );
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
