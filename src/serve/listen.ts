import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { isIP, createConnection } from 'node:net';
import { FsidmapError, UsageError } from '../errors.js';

/** Where the server listens: a TCP address, or a Unix socket path. */
export type ListenSpec =
  { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

export const DEFAULT_LISTEN: ListenSpec = Object.freeze({ kind: 'tcp', host: '127.0.0.1', port: 0 });

/** HOST:PORT, [IPV6]:PORT. */
export function parseListen(spec: string): ListenSpec {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(spec);
  const host = m ? (m[1] ?? m[2]) : undefined;
  const port = m ? Number(m[3]) : NaN;
  if (!m || host === undefined || port > 65535 || (m[1] !== undefined && isIP(m[1]) !== 6)) {
    throw new UsageError(
      `--listen "${spec}" is not HOST:PORT`,
      'e.g. --listen 127.0.0.1:8080, --listen [::1]:8080 (port 0: any free port)',
    );
  }
  return { kind: 'tcp', host, port };
}

/** Addresses only this machine reaches: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** Host header values a loopback server answers (anything else may be DNS rebinding: another site's page reading this one). */
export function allowedHosts(host: string, port: number): Set<string> {
  const names = new Set(['127.0.0.1', 'localhost', '[::1]', isIP(host) === 6 ? `[${host}]` : host]);
  return new Set([...names].map((n) => `${n}:${port}`.toLowerCase()));
}

/**
 * A Unix socket path may be left over from a server that was killed: remove
 * it when nothing answers there, refuse when something does or when the
 * path is not a socket.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) {
    throw new FsidmapError('ERR_USAGE', `--socket ${path} exists and is not a socket`, { hint: 'choose another path', context: { path } });
  }
  const answered = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (answered) {
    throw new FsidmapError('ERR_SERVE_ADDRESS_IN_USE', `another server answers on ${path}`, {
      hint: 'stop it, or choose another --socket',
      context: { path },
    });
  }
  unlinkSync(path);
}
