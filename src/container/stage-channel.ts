import type { Duplex } from 'node:stream';
import { FsidmapError } from '../errors.js';
import { errnoName } from '../kernel/index.js';

/**
 * The control socket to the C stage (fd 3 in the stage): lines "ready",
 * "started PID", "running", or "error STEP ERRNO SUBJECT"; fsidmap answers
 * "go" once the maps are written. Closing it before "go" makes the stage
 * give up.
 */
export class StageChannel {
  private buffer = '';
  private readonly lines: string[] = [];
  private waiter: ((line: string | null) => void) | null = null;
  private ended = false;

  constructor(private readonly socket: Duplex) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        this.deliver(this.buffer.slice(0, nl));
        this.buffer = this.buffer.slice(nl + 1);
      }
    });
    const end = () => {
      this.ended = true;
      this.deliver(null);
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  private deliver(line: string | null): void {
    if (line !== null) this.lines.push(line);
    const w = this.waiter;
    if (w && (this.lines.length > 0 || this.ended)) {
      this.waiter = null;
      w(this.lines.shift() ?? null);
    }
  }

  /** The next line, or null when the stage closed the socket (it exited, or handed over to CMD). */
  next(abort?: AbortSignal): Promise<string | null> {
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift()!);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiter = null;
        reject(abortError(abort!));
      };
      if (abort?.aborted) return onAbort();
      abort?.addEventListener('abort', onAbort, { once: true });
      this.waiter = (line) => {
        abort?.removeEventListener('abort', onAbort);
        resolve(line);
      };
    });
  }

  send(line: string): void {
    this.socket.write(line + '\n');
  }

  close(): void {
    this.socket.destroy();
  }
}

export function abortError(abort: AbortSignal): FsidmapError {
  const reason = typeof abort.reason === 'string' ? abort.reason : 'abort';
  return new FsidmapError('ERR_RUN_INTERRUPTED', `container setup interrupted by ${reason}; everything made so far was removed`, {
    context: { signal: reason },
  });
}

/** What each stage step means for a user when it fails. */
const STEP_HINTS: Record<string, string> = {
  'unshare-mnt': 'fsidmap needs CAP_SYS_ADMIN to make a mount namespace',
  unshare: 'user, pid, uts or ipc namespaces may be disabled or at their limit (sysctl user.max_*_namespaces)',
  attach: "the detached mount could not be attached in the container's mount namespace",
  'open-volume-target': "the volume's DST must exist in the rootfs",
  'clone-rootfs': 'the kernel refused to copy the rootfs mount inside the container',
  'mount-proc': "proc can only be mounted where a full proc is visible: is the host's /proc partly covered by other mounts?",
  'mount-dev': 'the minimal /dev could not be made',
  'mount-devpts': 'a private devpts instance could not be mounted',
  'mount-tmp': 'the tmpfs for /tmp could not be mounted',
  'pivot-root': 'pivot_root into the rootfs failed',
  setgroups: "the supplementary groups must be mapped by the container's gid map",
  setuid: "the --user uid must be mapped by the container's uid map",
  setgid: "the --user gid must be mapped by the container's gid map",
  'stage-mounts': "the image's layers could not be attached in the container's mount namespace",
  overlay:
    'overlayfs refused the layers: it needs idmapped lower layers (Linux 5.19), overlay in a user namespace with userxattr (5.11) and layers given by descriptor (6.13); the kernel log says more',
  'overlay-layer': 'a layer could not be given to overlayfs (layers by descriptor need Linux 6.13)',
  'overlay-upper': "the container's writable layer (upper/ and work/ in its directory) could not be used",
  'overlay-readonly': "overlayfs came up read-only: it could not write the container's work directory through its mount map",
  chdir: "the working directory does not exist in the container, or CMD's user may not enter it",
};

/** Turns the stage's "error STEP ERRNO SUBJECT" into the error fsidmap reports. */
export function stageError(line: string): FsidmapError {
  const m = /^error (\S+) (\d+) ?(.*)$/.exec(line);
  if (!m) return new FsidmapError('ERR_RUN_SETUP', `the namespace stage said: ${line}`);
  const [, step, errnoText, subject] = m;
  const errno = errnoName(Number(errnoText));
  if (step === 'exec') {
    const notFound = errno === 'ENOENT';
    return new FsidmapError(
      notFound ? 'ERR_RUN_CMD_NOT_FOUND' : 'ERR_RUN_CMD_NOT_EXECUTABLE',
      `${subject}: ${notFound ? 'no such file or directory in the container' : `cannot be executed (${errno})`}`,
      {
        context: { command: subject, errno },
        hint: notFound
          ? 'give a command the image has (check PATH inside the image)'
          : "check the file's mode and that its interpreter exists in the image",
      },
    );
  }
  return new FsidmapError('ERR_RUN_SETUP', `container setup failed at ${step}${subject ? ` (${subject})` : ''}: ${errno}`, {
    context: { step, errno, subject },
    hint: STEP_HINTS[step],
  });
}
