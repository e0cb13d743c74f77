// A small cluster on one kernel: a switch namespace with a bridge, a
// database namespace running a real PostgreSQL server on its own address
// with TLS, and N host namespaces, each with its own hostname (UTS), its own
// /etc/machine-id and /run (mount namespace) and a root-only file holding
// its registry URL. Addresses exist only inside the namespaces; nothing is
// configured in the caller's network. Everything is removed by stop(), also
// when the test process exits early.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const DB_ADDR = '10.77.0.10';
export const DB_PORT = 5432;
export const HOST_ROLE = 'fsidmap_host';
export const HOST_PASSWORD = 'h0st-s3cret';
export const ADMIN_ROLE = 'fsidmap_admin';

export interface Host {
  readonly name: string;
  readonly ns: string;
  readonly addr: string;
  readonly machineId: string;
  readonly dir: string;
  /** The root-only file with this host's registry URL (FSIDMAP_DB_FILE). */
  readonly urlFile: string;
  /** The environment fsidmap runs with on this host. */
  readonly env: NodeJS.ProcessEnv;
  /** argv that runs cmd inside the host (its network, hostname, machine id, /run). */
  argv(cmd: string, args: readonly string[]): [string, string[]];
  run(cmd: string, args: readonly string[], options?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): ReturnType<typeof spawnSync>;
  /** Started detached (its own process group), so kill() reaches the whole chain. */
  start(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** Takes the host's link down on the switch side: its packets go nowhere, nothing is refused. */
  cut(): void;
  mend(): void;
}

export interface World {
  readonly dir: string;
  readonly hosts: readonly Host[];
  readonly caFile: string;
  /** The URL a host uses (TLS verify-full, the host role) for a database. */
  hostUrl(database: string, extra?: string): string;
  /** A client of the database as the owner role, over the server's Unix socket. */
  admin(database: string): Promise<pg.Client>;
  /** Creates a database owned by the admin role, migrated by it, with the host role's grants. */
  createDatabase(name: string, setup: (ownerUrl: string) => Promise<void>): Promise<void>;
  /** The socket URL of the owner role (for migrations). */
  ownerUrl(database: string): string;
  restartDb(mode?: 'fast' | 'immediate'): void;
  stop(): void;
}

function pgBin(): string {
  const base = '/usr/lib/postgresql';
  const v = existsSync(base) ? readdirSync(base).filter((d) => existsSync(join(base, d, 'bin', 'initdb'))) : [];
  if (v.length === 0)
    throw new Error('PostgreSQL server binaries not found: install the Debian package postgresql (scripts/setup.sh --test)');
  return join(base, v.sort((a, b) => Number(b) - Number(a))[0], 'bin');
}

/** Why the world cannot be built here, or undefined. As root (CI) it always is: a missing tool is a failure. */
export function worldSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root: network namespaces, veth pairs and a bridge';
  return undefined;
}

function sh(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.error ?? ''}`);
  return r.stdout;
}

export async function buildWorld(hostCount: number): Promise<World> {
  const tag = `fsmh${process.pid % 100000}`;
  const dir = mkdtempSync(join(tmpdir(), `${tag}-`));
  chmodSync(dir, 0o755);
  const sw = `${tag}-sw`;
  const dbNs = `${tag}-db`;
  const made: string[] = [];
  const bin = pgBin();
  const data = join(dir, 'pgdata');
  const sock = join(dir, 'sock');
  const pgUid = Number(sh('id', ['-u', 'postgres']));
  const pgGid = Number(sh('id', ['-g', 'postgres']));
  let stopped = false;
  const asPg = (cmd: string, args: readonly string[]): string =>
    sh('ip', ['netns', 'exec', dbNs, 'runuser', '-u', 'postgres', '--', join(bin, cmd), ...args]);
  const pgOpts = [
    `-p ${DB_PORT} -k ${sock} -c listen_addresses=${DB_ADDR} -c fsync=off -c max_connections=300 -c shared_buffers=64MB`,
    `-c ssl=on -c ssl_cert_file=${join(dir, 'tls', 'server.crt')} -c ssl_key_file=${join(dir, 'tls', 'server.key')}`,
    // The server notices a vanished client within ~10 s, not the kernel's two hours.
    '-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3',
  ].join(' ');
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    if (existsSync(join(data, 'postmaster.pid')))
      spawnSync('ip', [
        'netns',
        'exec',
        dbNs,
        'runuser',
        '-u',
        'postgres',
        '--',
        join(bin, 'pg_ctl'),
        '-D',
        data,
        '-m',
        'immediate',
        '-w',
        'stop',
      ]);
    for (const ns of made.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  try {
    const addNs = (ns: string): void => {
      sh('ip', ['netns', 'add', ns]);
      made.push(ns);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    };
    addNs(sw);
    sh('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
    const plug = (ns: string, port: string, addr: string): void => {
      addNs(ns);
      sh('ip', ['-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      sh('ip', ['-n', sw, 'link', 'set', port, 'master', 'br0', 'up']);
      sh('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    };
    plug(dbNs, 'p-db', DB_ADDR);

    // A CA made here, and the server's certificate for its address.
    const tls = join(dir, 'tls');
    sh('mkdir', ['-p', tls]);
    const ssl = (args: string[]): string => sh('openssl', args);
    ssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=fsidmap test CA',
      '-keyout',
      join(tls, 'ca.key'),
      '-out',
      join(tls, 'ca.crt'),
    ]);
    ssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      `/CN=${DB_ADDR}`,
      '-keyout',
      join(tls, 'server.key'),
      '-out',
      join(tls, 'server.csr'),
    ]);
    writeFileSync(join(tls, 'ext'), `subjectAltName=IP:${DB_ADDR}\n`);
    ssl([
      'x509',
      '-req',
      '-in',
      join(tls, 'server.csr'),
      '-CA',
      join(tls, 'ca.crt'),
      '-CAkey',
      join(tls, 'ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      join(tls, 'ext'),
      '-out',
      join(tls, 'server.crt'),
    ]);
    // A second CA that signed nothing here, for the refusal test.
    ssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=other CA',
      '-keyout',
      join(tls, 'other.key'),
      '-out',
      join(tls, 'other.crt'),
    ]);
    for (const f of ['server.key', 'server.crt']) chownSync(join(tls, f), pgUid, pgGid);
    chmodSync(join(tls, 'server.key'), 0o600);
    chmodSync(tls, 0o755);
    sh('mkdir', ['-p', data, sock]);
    chownSync(data, pgUid, pgGid);
    chownSync(sock, pgUid, pgGid);
    asPg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
    // Local socket: the test's own administration. The network: TLS and a password only.
    writeFileSync(
      join(data, 'pg_hba.conf'),
      'local all all trust\nhostssl all all 10.77.0.0/24 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\n',
    );
    asPg('pg_ctl', ['-D', data, '-l', join(sock, 'pg.log'), '-w', '-t', '60', '-o', pgOpts, 'start']);

    const ownerUrl = (database: string): string => `postgres://${ADMIN_ROLE}@/${database}?host=${encodeURIComponent(sock)}&port=${DB_PORT}`;
    const admin = async (database: string, user = ADMIN_ROLE): Promise<pg.Client> => {
      const c = new pg.Client({ host: sock, port: DB_PORT, user, database });
      await c.connect();
      return c;
    };
    const root = await admin('postgres', 'postgres');
    try {
      await root.query(`CREATE ROLE ${ADMIN_ROLE} LOGIN`);
      await root.query(`CREATE ROLE ${HOST_ROLE} LOGIN PASSWORD '${HOST_PASSWORD}'`);
    } finally {
      await root.end();
    }

    const hostUrl = (database: string, extra = ''): string =>
      `postgres://${HOST_ROLE}:${HOST_PASSWORD}@${DB_ADDR}:${DB_PORT}/${database}?sslmode=verify-full&sslrootcert=${encodeURIComponent(join(tls, 'ca.crt'))}${extra}`;

    const hosts: Host[] = [];
    for (let i = 1; i <= hostCount; i++) {
      const name = `h${i}`;
      const ns = `${tag}-${name}`;
      const addr = `10.77.0.${20 + i}`;
      const port = `p-${name}`;
      plug(ns, port, addr);
      const hdir = join(dir, name);
      sh('mkdir', ['-p', hdir]);
      const machineId = `${'0'.repeat(30)}${String(i).padStart(2, '0')}`;
      writeFileSync(join(hdir, 'machine-id'), `${machineId}\n`);
      const urlFile = join(hdir, 'registry.url');
      writeFileSync(urlFile, hostUrl('registry') + '\n', { mode: 0o600 });
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: hdir,
        FSIDMAP_DB: '',
        FSIDMAP_DB_FILE: urlFile,
        FSIDMAP_DB_TIMEOUT: '2',
      };
      const argv = (cmd: string, args: readonly string[]): [string, string[]] => [
        'ip',
        [
          'netns',
          'exec',
          ns,
          'unshare',
          '--uts',
          '--mount',
          '--propagation',
          'private',
          '--',
          'sh',
          '-ec',
          'hostname "$1"; mount --bind "$2" /etc/machine-id; mount -t tmpfs -o mode=755 tmpfs /run; shift 2; exec "$@"',
          'host',
          name,
          join(hdir, 'machine-id'),
          cmd,
          ...args,
        ],
      ];
      hosts.push({
        name,
        ns,
        addr,
        machineId,
        dir: hdir,
        urlFile,
        env,
        argv,
        run(cmd, args, options = {}) {
          const [c, a] = argv(cmd, args);
          return spawnSync(c, a, { encoding: 'utf8', env: { ...env, ...options.env }, timeout: options.timeoutMs ?? 120000 });
        },
        start(cmd, args, extraEnv = {}) {
          const [c, a] = argv(cmd, args);
          return spawn(c, a, { env: { ...env, ...extraEnv }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        },
        cut: () => void sh('ip', ['-n', sw, 'link', 'set', port, 'down']),
        mend: () => void sh('ip', ['-n', sw, 'link', 'set', port, 'up']),
      });
    }

    return {
      dir,
      hosts,
      caFile: join(tls, 'ca.crt'),
      hostUrl,
      admin: (database) => admin(database),
      ownerUrl,
      async createDatabase(name, setup) {
        const c = await admin('postgres', 'postgres');
        try {
          await c.query(`CREATE DATABASE ${name} OWNER ${ADMIN_ROLE}`);
          await c.query(`REVOKE ALL ON DATABASE ${name} FROM PUBLIC`);
          await c.query(`GRANT CONNECT ON DATABASE ${name} TO ${HOST_ROLE}`);
        } finally {
          await c.end();
        }
        await setup(ownerUrl(name));
      },
      restartDb(mode = 'fast') {
        asPg('pg_ctl', ['-D', data, '-l', join(sock, 'pg.log'), '-m', mode, '-w', '-t', '60', '-o', pgOpts, 'restart']);
      },
      stop,
    };
  } catch (e) {
    const log = existsSync(join(sock, 'pg.log')) ? readFileSync(join(sock, 'pg.log'), 'utf8').slice(-2000) : '';
    stop();
    throw new Error(`${(e as Error).message}\n${log}`);
  }
}
