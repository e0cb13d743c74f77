import { spawn } from 'node:child_process';
import { closeSync, openSync, statSync, writeFileSync } from 'node:fs';
import { FsidmapError } from '../errors.js';
import { formatKernel, type IdMap } from '../idmap/index.js';
import type { MapHolder } from './ports.js';

/**
 * INTERIM (until src/kernel's createUserns from the kernel-run work is on
 * main): a user-namespace holder made with util-linux unshare(1), whose
 * maps the broker writes as root.
 */
export async function interimHolder(maps: { uid: IdMap; gid: IdMap }): Promise<MapHolder> {
  const child = spawn('unshare', ['--user', '--', 'sleep', '3600'], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const own = statSync('/proc/self/ns/user').ino;
  let nsFd = -1;
  try {
    const until = Date.now() + 5000;
    for (;;) {
      if (child.exitCode !== null || Date.now() > until) throw new FsidmapError('ERR_USERNS_CREATE', 'the user-namespace holder did not start');
      try { if (statSync(`/proc/${child.pid}/ns/user`).ino !== own) break; } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 2));
    }
    writeFileSync(`/proc/${child.pid}/gid_map`, formatKernel(maps.gid));
    writeFileSync(`/proc/${child.pid}/uid_map`, formatKernel(maps.uid));
    nsFd = openSync(`/proc/${child.pid}/ns/user`, 'r');
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    throw e;
  }
  return {
    nsFd,
    async release() {
      closeSync(nsFd);
      child.kill('SIGKILL');
      await exited;
    },
  };
}
