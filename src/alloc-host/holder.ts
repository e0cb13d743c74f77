import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Holder } from '../alloc/index.js';
import { FsidmapError } from '../errors.js';

/**
 * Field 22 of /proc/PID/stat: the process's start time in clock ticks after
 * boot. Together with the boot id it names one process for the life of the
 * machine: a pid reused after the holder died has another start time.
 * Undefined when there is no such process.
 */
export function processStartTime(pid: number, proc = '/proc'): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`${proc}/${pid}/stat`, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
    throw e;
  }
  // comm (field 2) is in parentheses and may itself hold spaces and ')': fields resume after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const ticks = Number(rest[19]);
  if (!Number.isSafeInteger(ticks)) throw new Error(`unexpected ${proc}/${pid}/stat: ${stat.slice(0, 80)}`);
  return ticks;
}

function firstLine(path: string): string | undefined {
  try {
    const t = readFileSync(path, 'utf8').trim();
    return t === '' ? undefined : t;
  } catch {
    return undefined;
  }
}

export interface LocalIdentity {
  readonly bootId: string;
  readonly machineId: string;
  readonly host: string;
}

/** This boot and this machine: /proc/sys/kernel/random/boot_id, /etc/machine-id (or dbus's, or the host name). */
export function localIdentity(): LocalIdentity {
  const host = hostname();
  const bootId = firstLine('/proc/sys/kernel/random/boot_id');
  if (!bootId) throw new FsidmapError('ERR_HOST_FILE', 'cannot read /proc/sys/kernel/random/boot_id', { hint: 'is /proc mounted?' });
  const machineId = firstLine('/etc/machine-id') ?? firstLine('/var/lib/dbus/machine-id') ?? `host:${host}`;
  return { bootId, machineId, host };
}

/** The holder record of a running process (for --holder PID and `run`). */
export function holderOf(pid: number): Holder {
  const startTime = processStartTime(pid);
  if (startTime === undefined) {
    throw new FsidmapError('ERR_NO_SUCH_PROCESS', `no process ${pid} to record as holder`, { context: { pid } });
  }
  return { pid, startTime, ...localIdentity() };
}

/** The probe garbage collection uses: this machine's identity and live start times. */
export function localHolderProbe(): { local: LocalIdentity; startTimeOf(pid: number): number | undefined } {
  return { local: localIdentity(), startTimeOf: (pid) => processStartTime(pid) };
}
