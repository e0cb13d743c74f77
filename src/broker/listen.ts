import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { FsidmapError } from '../errors.js';
import { SyscallError } from '../kernel/libc.js';
import { closeDescriptor, isListeningUnixStream, setNonBlocking, unixConnect, unixListen } from '../kernel/socket/unix-socket.js';

export const DEFAULT_SOCKET = '/run/fsidmap/broker.sock';

/**
 * The broker's listening socket: inherited from systemd (fsidmap-broker.socket,
 * LISTEN_FDS) or bound at path. The socket is mode 0666 — who may ask is
 * decided per request from SO_PEERCRED, not by file permissions — so its
 * directory must be root's and writable by nobody else, or another user
 * could put their own socket there first.
 */
export interface Listener {
  readonly fd: number;
  readonly path: string | null;
  readonly inherited: boolean;
  close(): void;
}

export function openListener(path: string, env: NodeJS.ProcessEnv = process.env): Listener {
  if (env.LISTEN_PID === String(process.pid) && Number(env.LISTEN_FDS ?? 0) >= 1) {
    const fd = 3;
    if (!isListeningUnixStream(fd)) {
      throw new FsidmapError('ERR_BROKER_SOCKET', 'LISTEN_FDS is set but fd 3 is not a listening Unix stream socket', {
        hint: 'check ListenStream= in fsidmap-broker.socket',
      });
    }
    setNonBlocking(fd);
    return { fd, path: null, inherited: true, close: () => closeDescriptor(fd) };
  }
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new FsidmapError(
      'ERR_BROKER_SOCKET',
      `the socket directory ${dir} must be a directory owned by root and writable only by root (it is ${st.isDirectory() ? `uid ${st.uid}, mode 0${(st.mode & 0o7777).toString(8)}` : 'not a directory'})`,
      {
        context: { path: dir },
        hint: `chown root ${dir} && chmod 0755 ${dir}, or choose another --socket`,
      },
    );
  }
  removeStale(path);
  const fd = unixListen(path);
  chmodSync(path, 0o666);
  const ino = lstatSync(path).ino;
  return {
    fd,
    path,
    inherited: false,
    close() {
      closeDescriptor(fd);
      try {
        if (lstatSync(path).ino === ino) unlinkSync(path);
      } catch {
        /* already gone */
      }
    },
  };
}

/** A socket file nobody listens on is removed; a live one, or anything that is not a socket, is left alone and refused. */
function removeStale(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new FsidmapError('ERR_BROKER_SOCKET', `${path} exists and is not a socket`, {
      context: { path },
      hint: 'remove it or choose another --socket',
    });
  }
  try {
    closeDescriptor(unixConnect(path));
  } catch (e) {
    if (e instanceof SyscallError && e.errnoName === 'ECONNREFUSED') {
      unlinkSync(path);
      return;
    }
    throw e;
  }
  throw new FsidmapError('ERR_BROKER_RUNNING', `a broker is already listening on ${path}`, {
    context: { path },
    hint: 'stop it first (systemctl stop fsidmap-broker), or choose another --socket',
  });
}
