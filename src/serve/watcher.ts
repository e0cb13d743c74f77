import { EventEmitter } from 'node:events';
import { PoolHistory, type PoolSample } from './pool-stats.js';
import type { SpaceSource } from './read-space.js';
import type { Space } from './space.js';

export interface WatcherOptions {
  /** How often the change stamp is read (ms). */
  readonly intervalMs?: number;
  /** A pool sample at least this often while nothing changes (ms), so the history has a time axis. */
  readonly sampleEveryMs?: number;
  readonly historySize?: number;
}

/** Parts of a Space that stay the same objects until /etc changes: serialised once each. */
const STABLE_PARTS = new Set(['subuid', 'subgid', 'users', 'groups', 'reserved', 'audit']);

/**
 * JSON.stringify(space), reusing the text of the parts that did not change:
 * with a 100,000-line /etc/subuid those are most of the bytes, and a
 * registry change then costs only the allocations' text.
 */
export function serializeSpace(space: Space, cache: WeakMap<object, string>): string {
  const parts = Object.entries(space).map(([k, v]) => {
    let text: string | undefined;
    if (STABLE_PARTS.has(k) && typeof v === 'object' && v !== null) {
      text = cache.get(v);
      if (text === undefined) {
        text = JSON.stringify(v);
        cache.set(v, text);
      }
    } else {
      text = JSON.stringify(v);
    }
    return `${JSON.stringify(k)}:${text}`;
  });
  return `{${parts.join(',')}}`;
}

export interface Snapshot {
  readonly space: Space;
  /** The space as sent: serialised once per change, shared by every request. */
  readonly json: string;
}

/**
 * Keeps the current Space: reads the stamp every interval, reads everything
 * again only when it moved, and tells listeners ('stamp', 'sample',
 * 'failure'). One snapshot is kept, the previous one is garbage, and the
 * history is a fixed ring: memory does not grow with uptime or changes.
 */
export class SpaceWatcher extends EventEmitter {
  private snapshot: Snapshot | undefined;
  private readonly history: PoolHistory;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private lastSample = 0;
  private readonly texts = new WeakMap<object, string>();
  /** Why the last read failed, until one succeeds. */
  failure: string | null = null;

  constructor(
    private readonly source: SpaceSource,
    private readonly options: WatcherOptions = {},
  ) {
    super();
    this.history = new PoolHistory(options.historySize ?? 720);
  }

  /** The first read (errors reach the caller: a server that cannot read its registry does not start), then polling. */
  async start(): Promise<Snapshot> {
    const snap = await this.refresh(await this.source.stamp());
    this.timer = setInterval(() => {
      void this.tick();
    }, this.options.intervalMs ?? 1000);
    this.timer.unref();
    return snap;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get current(): Snapshot {
    if (!this.snapshot) throw new Error('SpaceWatcher.current before start()');
    return this.snapshot;
  }

  private async refresh(stamp: string): Promise<Snapshot> {
    const now = new Date();
    const space = await this.source.read(this.history, stamp, now);
    this.lastSample = now.getTime();
    this.snapshot = { space, json: serializeSpace(space, this.texts) };
    return this.snapshot;
  }

  /** One poll; never two at once (a slow read of 100,000 rows must not pile up). */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const stamp = await this.source.stamp();
      if (stamp !== this.snapshot?.space.stamp) {
        await this.refresh(stamp);
        this.emit('stamp', stamp);
      } else if (Date.now() - this.lastSample >= (this.options.sampleEveryMs ?? 60000)) {
        this.sample();
      }
      if (this.failure !== null) {
        this.failure = null;
        this.emit('stamp', stamp);
      }
    } catch (e) {
      this.failure = e instanceof Error ? e.message : String(e);
      this.emit('failure', this.failure);
    } finally {
      this.busy = false;
    }
  }

  /** Nothing changed: the pool's state repeated at a new time. */
  private sample(): void {
    const snap = this.current;
    const now = Date.now();
    this.history.add(now, snap.space.pool);
    this.lastSample = now;
    const space = { ...snap.space, history: this.history.samples };
    this.snapshot = { space, json: serializeSpace(space, this.texts) };
    this.emit('sample', this.history.last as PoolSample);
  }
}
