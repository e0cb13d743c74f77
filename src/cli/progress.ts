import type { CommandIO } from './command.js';

/**
 * A one-line progress display on stderr for long operations: what is being
 * done, how many entries so far (of how many, when known), the rate and the
 * time left. Drawn only when stderr is a terminal, at most 10 times a second;
 * silent in pipes and logs.
 */
export interface ProgressUpdate {
  /** Short name of the phase, e.g. "scanning", "shifting". */
  readonly label: string;
  readonly done: number;
  readonly total: number | null;
}

export interface ProgressLine {
  update(u: ProgressUpdate): void;
  /** Clears the line (call before printing results or errors). */
  end(): void;
}

const SILENT: ProgressLine = { update() {}, end() {} };
const BAR = 24;

export function progressLine(io: CommandIO, now: () => number = () => performance.now()): ProgressLine {
  if (!io.interactive) return SILENT;
  let label = '';
  let phaseStart = now();
  let lastDraw = 0;
  let drawn = false;
  return {
    update(u) {
      const t = now();
      if (u.label !== label) {
        label = u.label;
        phaseStart = t;
        lastDraw = 0;
      }
      const finished = u.total !== null && u.done >= u.total;
      if (!finished && t - lastDraw < 100) return;
      lastDraw = t;
      io.stderr.write(`\r${formatProgress(u, (t - phaseStart) / 1000)}\x1b[K`);
      drawn = true;
    },
    end() {
      if (drawn) io.stderr.write('\r\x1b[K');
      drawn = false;
    },
  };
}

/** The text of one progress line (exported for tests). */
export function formatProgress(u: ProgressUpdate, seconds: number): string {
  const rate = seconds > 0 ? u.done / seconds : 0;
  const rateText = rate > 0 ? `${fmt(Math.round(rate))}/s` : '';
  if (u.total === null || u.total === 0) return `${u.label} ${fmt(u.done)} entries ${rateText}`.trimEnd();
  const frac = Math.min(1, u.done / u.total);
  const filled = Math.round(frac * BAR);
  const bar = '#'.repeat(filled) + '-'.repeat(BAR - filled);
  const eta = rate > 0 && frac < 1 ? ` ETA ${duration((u.total - u.done) / rate)}` : '';
  return `${u.label} [${bar}] ${fmt(u.done)}/${fmt(u.total)} ${String(Math.floor(frac * 100)).padStart(3)}% ${rateText}${eta}`;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function duration(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.ceil(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
