// A throwaway PostgreSQL cluster for tests: initdb into a mkdtemp directory,
// listening on 127.0.0.1 at a free port, stopped and deleted afterwards (also
// when the test process exits early). Run as the `postgres` OS user when we
// are root (initdb refuses root), as ourselves otherwise.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PgCluster {
  readonly port: number;
  readonly dir: string;
  /** URL of a database on the cluster. */
  url(database: string): string;
  /** Creates an empty database with a unique fsidt5_ name and returns its URL. */
  createDatabase(): Promise<string>;
  stop(): void;
}

function findBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(base, versions[0], 'bin') : undefined;
}

/**
 * Why PostgreSQL tests cannot run here, or undefined when they can. As root
 * (CI) they always run: setup.sh --test installs the server there, so a
 * missing server is a failure to report, not a reason to skip.
 */
export function pgSkipReason(): string | undefined {
  if (process.getuid?.() === 0) return undefined;
  if (!findBin())
    return 'PostgreSQL server binaries not installed and not root (as root, scripts/setup.sh --test installs the Debian package postgresql)';
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startCluster(): Promise<PgCluster> {
  const bin = findBin();
  if (!bin)
    throw new Error(
      'PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install the Debian package postgresql (scripts/setup.sh --test does)',
    );
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0)
    throw new Error('running as root but there is no postgres OS user to run initdb as (the Debian package postgresql creates it)');
  const dir = mkdtempSync(join(tmpdir(), 'fsidt5-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres']).stdout.toString());
    const gid = Number(spawnSync('id', ['-g', 'postgres']).stdout.toString());
    chownSync(dir, uid, gid);
  }
  const run = (cmd: string, args: string[]): void => {
    const argv = asRoot ? (['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] as const) : ([join(bin, cmd), args] as const);
    const r = spawnSync(argv[0], [...argv[1]], { encoding: 'utf8', cwd: dir });
    if (r.status !== 0) {
      const log = existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8').slice(-2000) : '';
      throw new Error(`${cmd} failed (${r.status}): ${r.stderr}\n${log}`);
    }
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
  let port = 0;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      /* already down */
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  // The port may be taken between probing and binding by another test run; try a few.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      run('pg_ctl', [
        '-D',
        data,
        '-l',
        join(dir, 'log'),
        '-w',
        '-t',
        '60',
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c shared_buffers=32MB`,
        'start',
      ]);
      break;
    } catch (e) {
      if (attempt >= 3) {
        stop();
        throw e;
      }
    }
  }
  let counter = 0;
  const url = (database: string): string => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    dir,
    url,
    async createDatabase(): Promise<string> {
      const name = `fsidt5_${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`;
      const c = new pg.Client({ connectionString: url('postgres') });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    stop,
  };
}
