import type { Holder } from './allocation.js';

/** What garbage collection can see of this machine: its identity and the start time of a live pid. */
export interface HolderProbe {
  readonly local: { readonly bootId: string; readonly machineId: string; readonly host?: string };
  startTimeOf(pid: number): number | undefined;
}

/**
 * Whether a recorded holder still runs. 'elsewhere': recorded on another
 * machine, which only that machine can judge (a shared registry must not
 * free a range because this host does not see the process). 'gone': the
 * machine rebooted since, or the pid is dead, or it now belongs to a
 * process started at another time (pid reuse).
 */
export function holderState(h: Holder, probe: HolderProbe): 'alive' | 'gone' | 'elsewhere' {
  if (h.machineId !== probe.local.machineId) return 'elsewhere';
  if (h.bootId !== probe.local.bootId) return 'gone';
  const start = probe.startTimeOf(h.pid);
  return start === h.startTime ? 'alive' : 'gone';
}
