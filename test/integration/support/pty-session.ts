import { spawn } from 'node:child_process';

/**
 * Drives a command on a real pseudo-terminal (python3's pty module: the
 * command is the session leader of a fresh pty, as under a terminal
 * emulator) through steps: send text, wait for text in the output, resize
 * the terminal (TIOCSWINSZ, which sends SIGWINCH to its foreground job).
 * Resolves with everything the command wrote and its exit status.
 */
export type PtyStep =
  | { send: string }
  | { expect: string }
  | { resize: [rows: number, cols: number] }
  /** Waits until some process runs with exactly this argv (e.g. a sleep the next step interrupts). */
  | { running: readonly string[] };

const DRIVER = String.raw`
import json, os, pty, select, struct, sys, fcntl, termios, time
argv, steps, rows, cols = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
def resize(r, c):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', r, c, 0, 0))
resize(rows, cols)
out = b''
failed = None
# Each expect looks only at what came after the previous one's match.
cursor = 0
def running(argv, limit):
    want = ('\0'.join(argv) + '\0').encode()
    end = time.time() + limit
    while time.time() < end:
        for p in os.listdir('/proc'):
            if p.isdigit():
                try:
                    with open('/proc/%s/cmdline' % p, 'rb') as f:
                        if f.read() == want:
                            return True
                except OSError:
                    pass
        pump(None, 0.05)
    return False
def pump(until, limit):
    global out, cursor
    end = time.time() + limit
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                return False
            if not d:
                return False
            out += d
        if until is not None and out.find(until, cursor) >= 0:
            cursor = out.find(until, cursor) + len(until)
            return True
    return until is None
for s in steps:
    if failed:
        break
    if 'send' in s:
        os.write(fd, s['send'].encode())
    elif 'expect' in s:
        if not pump(s['expect'].encode(), 20):
            failed = s['expect']
    elif 'running' in s:
        if not running(s['running'], 20):
            failed = ' '.join(s['running'])
    else:
        resize(*s['resize'])
try:
    while True:
        r, _, _ = select.select([fd], [], [], 20)
        if not r:
            break
        d = os.read(fd, 4096)
        if not d:
            break
        out += d
except OSError:
    pass
if failed:
    os.kill(pid, 9)
_, st = os.waitpid(pid, 0)
sys.stdout.write(json.dumps({'out': out.decode('utf-8', 'replace'), 'status': os.waitstatus_to_exitcode(st), 'failed': failed}))
`;

export interface PtyResult {
  readonly out: string;
  readonly status: number;
  /** The expected text that did not come, or null. */
  readonly failed: string | null;
}

export function ptySession(
  argv: readonly string[],
  steps: readonly PtyStep[],
  env: NodeJS.ProcessEnv,
  size: [number, number] = [24, 80],
): Promise<PtyResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', DRIVER, JSON.stringify([argv, steps, ...size])], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      text += d;
    });
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(text) as PtyResult);
      } catch {
        reject(new Error(`the pty driver said: ${text}`));
      }
    });
  });
}
