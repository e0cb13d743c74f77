import { FsidmapError } from '../errors.js';

/**
 * What the broker allows each user, and itself. A limits file (--limits,
 * JSON) may set any of these; everything else keeps the default:
 *
 *   { "server": { "maxConnections": 256, … },
 *     "default": { "namespaces": 32, … },
 *     "users": { "alice": { "ids": 1048576 }, "1001": { … } } }
 *
 * A user entry is matched by name first, then by decimal uid. Pure.
 */
export interface UserLimits {
  /** Open connections at once. */
  readonly connections: number;
  /** Sustained requests per second (token bucket refill). */
  readonly requestsPerSecond: number;
  /** Requests allowed in a burst (token bucket size). */
  readonly burst: number;
  /** User namespaces whose maps the broker wrote and whose process is still alive. */
  readonly namespaces: number;
  /** Registry allocations held at once. */
  readonly allocations: number;
  /** Ids (per side) across all registry allocations held. */
  readonly ids: number;
}

export interface ServerLimits {
  readonly maxConnections: number;
  /** Longest request line, in bytes (the newline not counted). */
  readonly maxLineBytes: number;
  /** Requests read ahead of the one being served, per connection. */
  readonly maxQueuedRequests: number;
  /** A line that has started must be complete within this time. */
  readonly lineTimeoutMs: number;
  /** A connection with nothing to do is closed after this time. */
  readonly idleTimeoutMs: number;
  /** An answer the peer does not read is abandoned (and the connection closed) after this time. */
  readonly writeTimeoutMs: number;
  /** Descriptors of one peer still being closed on the quarantine thread before its connections are refused. */
  readonly maxQuarantinedFds: number;
  /** Descriptors kept free below the process's limit: no connection is accepted into them, so the broker can always answer, open the registry and read /etc. */
  readonly fdReserve: number;
}

export interface Limits {
  readonly server: ServerLimits;
  readonly defaults: UserLimits;
  /** For peers that are nobody's: no passwd entry and in no subordinate or allocated range (all of them together). */
  readonly stranger: UserLimits;
  readonly users: ReadonlyMap<string, Partial<UserLimits>>;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxConnections: 256,
  maxLineBytes: 65536,
  maxQueuedRequests: 4,
  lineTimeoutMs: 5000,
  idleTimeoutMs: 60000,
  writeTimeoutMs: 5000,
  maxQuarantinedFds: 16,
  fdReserve: 256,
};

export const DEFAULT_USER_LIMITS: UserLimits = {
  connections: 8,
  requestsPerSecond: 20,
  burst: 40,
  namespaces: 32,
  allocations: 8,
  ids: 8 * 65536,
};

export const DEFAULT_STRANGER_LIMITS: UserLimits = {
  connections: 2,
  requestsPerSecond: 2,
  burst: 4,
  namespaces: 0,
  allocations: 0,
  ids: 0,
};

export const DEFAULT_LIMITS: Limits = {
  server: DEFAULT_SERVER_LIMITS,
  defaults: DEFAULT_USER_LIMITS,
  stranger: DEFAULT_STRANGER_LIMITS,
  users: new Map(),
};

const USER_KEYS = Object.keys(DEFAULT_USER_LIMITS) as (keyof UserLimits)[];
const SERVER_KEYS = Object.keys(DEFAULT_SERVER_LIMITS) as (keyof ServerLimits)[];

/** Parses the limits file's text; ERR_BROKER_LIMITS_FILE names the key and value that are wrong. */
export function parseLimits(text: string, source = 'limits file'): Limits {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw bad(source, `is not JSON: ${e instanceof Error ? e.message : e}`);
  }
  if (!isObject(v)) throw bad(source, 'must be a JSON object with "server", "default" and "users"');
  const unknown = Object.keys(v).filter((k) => !['server', 'default', 'stranger', 'users'].includes(k));
  if (unknown.length > 0) throw bad(source, `has unknown key "${unknown[0]}" (known: server, default, stranger, users)`);
  const server = { ...DEFAULT_SERVER_LIMITS, ...numbers(v.server, SERVER_KEYS, `${source}: server`) } as ServerLimits;
  const defaults = { ...DEFAULT_USER_LIMITS, ...numbers(v.default, USER_KEYS, `${source}: default`) } as UserLimits;
  const stranger = { ...DEFAULT_STRANGER_LIMITS, ...numbers(v.stranger, USER_KEYS, `${source}: stranger`) } as UserLimits;
  const users = new Map<string, Partial<UserLimits>>();
  if (v.users !== undefined) {
    if (!isObject(v.users)) throw bad(source, '"users" must map user names or uids to limits');
    for (const [user, limits] of Object.entries(v.users)) users.set(user, numbers(limits, USER_KEYS, `${source}: users.${user}`));
  }
  if (server.maxLineBytes < 1024) throw bad(source, 'server.maxLineBytes must be at least 1024');
  return { server, defaults, stranger, users };
}

/** The limits of an account (account.ts): the owner's, or the stranger's. */
export function limitsOfAccount(limits: Limits, account: { readonly uid: number | null; readonly user: string | null }): UserLimits {
  return account.uid === null ? limits.stranger : limitsFor(limits, account.uid, account.user);
}

/** The limits that apply to a user, by name (if it has one) or uid. */
export function limitsFor(limits: Limits, uid: number, name: string | null): UserLimits {
  const own = (name !== null ? limits.users.get(name) : undefined) ?? limits.users.get(String(uid)) ?? {};
  return { ...limits.defaults, ...own };
}

function numbers<K extends string>(v: unknown, keys: readonly K[], where: string): Partial<Record<K, number>> {
  if (v === undefined) return {};
  if (!isObject(v)) throw bad(where, 'must be an object');
  const out: Partial<Record<K, number>> = {};
  for (const [k, n] of Object.entries(v)) {
    if (!(keys as readonly string[]).includes(k)) throw bad(where, `has unknown key "${k}" (known: ${keys.join(', ')})`);
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw bad(where, `"${k}" must be a number ≥ 0, got ${JSON.stringify(n)}`);
    out[k as K] = n;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(where: string, what: string): FsidmapError {
  return new FsidmapError('ERR_BROKER_LIMITS_FILE', `${where} ${what}`, { hint: 'see docs/broker.md, "Limits"' });
}

/**
 * A token bucket per key (the peer's uid): `take` answers whether one more
 * request may go now. Time is passed in, so it is exact under test.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  take(key: string, limits: Pick<UserLimits, 'requestsPerSecond' | 'burst'>, now: number): boolean {
    const b = this.buckets.get(key) ?? { tokens: limits.burst, at: now };
    b.tokens = Math.min(limits.burst, b.tokens + ((now - b.at) / 1000) * limits.requestsPerSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  has(key: string): boolean {
    return this.buckets.has(key);
  }

  /** Forgets buckets that are full again (bounded memory over many peers). */
  sweep(limitsOf: (key: string) => Pick<UserLimits, 'requestsPerSecond' | 'burst'>, now: number): void {
    for (const [key, b] of this.buckets) {
      const l = limitsOf(key);
      if (b.tokens + ((now - b.at) / 1000) * l.requestsPerSecond >= l.burst) this.buckets.delete(key);
    }
  }
}
