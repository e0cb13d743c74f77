/**
 * The broker protocol, version 1 (docs/broker.md): one JSON object per
 * line each way. A request is {"v":1,"id":ID,"op":OP,...fields}; the answer
 * echoes v and id and carries either {"ok":true,"result":{...}} or
 * {"ok":false,"error":{"code","message","hint"}}. Descriptors travel with
 * SCM_RIGHTS on the bytes of the line they belong to. Parsing is strict:
 * unknown ops, unknown fields and fields of the wrong type are refused, so
 * nothing a client sends is silently ignored. Pure.
 */

export const PROTOCOL_VERSION = 1;

export type Op = 'hello' | 'setmaps' | 'mount' | 'alloc' | 'release' | 'list';
export const OPS: readonly Op[] = ['hello', 'setmaps', 'mount', 'alloc', 'release', 'list'];

export type RequestId = string | number | null;

/** Map text: kernel lines ("0 100000 65536\n…") or the inline form ("0:100000:65536,…"). */
export interface MapPairText {
  readonly uid: string;
  readonly gid: string;
}

export type Request =
  | { readonly op: 'hello'; readonly id: RequestId }
  | {
      readonly op: 'setmaps';
      readonly id: RequestId;
      readonly uidMap: string;
      readonly gidMap: string;
      readonly setgroups: 'allow' | 'deny' | null;
    }
  | {
      readonly op: 'mount';
      readonly id: RequestId;
      readonly path: string;
      /** Either the mount maps (on-disk id → id seen through the mount) … */
      readonly mountMap: MapPairText | null;
      /** … or the container's id maps and fsid maps, from which the broker derives them. */
      readonly idmap: MapPairText | null;
      readonly fsidmap: MapPairText | null;
      readonly readonly: boolean;
      readonly nosuid: boolean;
      readonly noexec: boolean;
    }
  | {
      readonly op: 'alloc';
      readonly id: RequestId;
      readonly name: string;
      readonly kind: 'container' | 'image' | 'volume';
      readonly size: number | null;
    }
  | { readonly op: 'release'; readonly id: RequestId; readonly name: string }
  | { readonly op: 'list'; readonly id: RequestId };

/** How many descriptors each op takes with its line. */
export const FDS_PER_OP: Record<Op, number> = { hello: 0, setmaps: 2, mount: 0, alloc: 0, release: 0, list: 0 };

export interface ProtocolError {
  readonly code: string;
  readonly message: string;
  readonly hint: string;
  /** The id, when the line got far enough to have one. */
  readonly id: RequestId;
}

export type ParseOutcome = { readonly ok: true; readonly request: Request } | { readonly ok: false; readonly error: ProtocolError };

const MAX_ID_LENGTH = 128;
const MAX_TEXT = 32768;
const MAX_NAME = 128;
const HINT = 'see docs/broker.md: one JSON object per line, {"v":1,"id":…,"op":…}';

/** Parses one line (without its newline). Never throws. */
export function parseRequest(line: string): ParseOutcome {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return fail(null, `the line is not JSON (${e instanceof Error ? e.message.slice(0, 100) : 'parse error'})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(null, 'a request must be a JSON object');
  const o = value as Record<string, unknown>;
  const idRaw = o.id;
  let id: RequestId = null;
  if (typeof idRaw === 'string' && idRaw.length <= MAX_ID_LENGTH) id = idRaw;
  else if (typeof idRaw === 'number' && Number.isSafeInteger(idRaw)) id = idRaw;
  else if (idRaw !== undefined && idRaw !== null)
    return fail(null, `"id" must be a string of at most ${MAX_ID_LENGTH} characters or an integer`);
  if (o.v !== PROTOCOL_VERSION) {
    return {
      ok: false,
      error: {
        code: 'ERR_BROKER_VERSION',
        id,
        message: `protocol version ${JSON.stringify(o.v ?? null)} is not supported`,
        hint: `this broker speaks "v":${PROTOCOL_VERSION}`,
      },
    };
  }
  if (typeof o.op !== 'string' || !(OPS as readonly string[]).includes(o.op)) {
    return fail(id, `unknown op ${JSON.stringify(o.op ?? null).slice(0, 64)}`, `ops: ${OPS.join(', ')}`);
  }
  const op = o.op as Op;
  const f = new Fields(o, id, op);
  try {
    switch (op) {
      case 'hello':
      case 'list':
        f.done();
        return { ok: true, request: { op, id } };
      case 'setmaps': {
        const uidMap = f.text('uidMap', true)!;
        const gidMap = f.text('gidMap', true)!;
        const sg = f.oneOf('setgroups', ['allow', 'deny'] as const);
        f.done();
        return { ok: true, request: { op, id, uidMap, gidMap, setgroups: sg } };
      }
      case 'mount': {
        const path = f.text('path', true)!;
        const mountMap = f.pair('mountMap');
        const idmap = f.pair('idmap');
        const fsidmap = f.pair('fsidmap');
        const readonly = f.bool('readonly'),
          nosuid = f.bool('nosuid'),
          noexec = f.bool('noexec');
        f.done();
        const explicit = mountMap !== null && idmap === null && fsidmap === null;
        const derived = mountMap === null && idmap !== null && fsidmap !== null;
        if (!explicit && !derived) {
          throw new Refusal('give either "mountMap" or both "idmap" and "fsidmap"');
        }
        return { ok: true, request: { op, id, path, mountMap, idmap, fsidmap, readonly, nosuid, noexec } };
      }
      case 'alloc': {
        const name = f.name('name');
        const kind = f.oneOf('kind', ['container', 'image', 'volume'] as const) ?? 'container';
        const size = f.int('size');
        f.done();
        return { ok: true, request: { op, id, name, kind, size } };
      }
      case 'release': {
        const name = f.name('name');
        f.done();
        return { ok: true, request: { op, id, name } };
      }
    }
  } catch (e) {
    if (e instanceof Refusal) return fail(id, `${op}: ${e.message}`);
    throw e;
  }
}

class Refusal extends Error {}

/** Field readers that remember what was read, so leftovers can be refused. */
class Fields {
  private readonly seen = new Set(['v', 'id', 'op']);

  constructor(
    private readonly o: Record<string, unknown>,
    readonly id: RequestId,
    readonly op: Op,
  ) {}

  private get(name: string): unknown {
    this.seen.add(name);
    return this.o[name];
  }

  text(name: string, required: boolean): string | null {
    const v = this.get(name);
    if (v === undefined || v === null) {
      if (required) throw new Refusal(`"${name}" is required`);
      return null;
    }
    if (typeof v !== 'string') throw new Refusal(`"${name}" must be a string`);
    if (v.length > MAX_TEXT) throw new Refusal(`"${name}" is longer than ${MAX_TEXT} characters`);
    return v;
  }

  name(name: string): string {
    const v = this.text(name, true)!;
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(v) || v.length > MAX_NAME) {
      throw new Refusal(`"${name}" must be 1–${MAX_NAME} letters, digits, "_", "." or "-", starting with a letter, digit or "_"`);
    }
    return v;
  }

  bool(name: string): boolean {
    const v = this.get(name);
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') throw new Refusal(`"${name}" must be true or false`);
    return v;
  }

  int(name: string): number | null {
    const v = this.get(name);
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new Refusal(`"${name}" must be a positive integer`);
    return v;
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | null {
    const v = this.get(name);
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v))
      throw new Refusal(`"${name}" must be one of ${values.join(', ')}`);
    return v as T;
  }

  pair(name: string): MapPairText | null {
    const v = this.get(name);
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) throw new Refusal(`"${name}" must be an object {"uid": MAP, "gid": MAP}`);
    const p = v as Record<string, unknown>;
    const extra = Object.keys(p).filter((k) => k !== 'uid' && k !== 'gid');
    if (extra.length > 0) throw new Refusal(`"${name}" has unknown field "${extra[0].slice(0, 32)}"`);
    if (typeof p.uid !== 'string' || typeof p.gid !== 'string') throw new Refusal(`"${name}.uid" and "${name}.gid" must be map strings`);
    if (p.uid.length > MAX_TEXT || p.gid.length > MAX_TEXT) throw new Refusal(`"${name}" maps are longer than ${MAX_TEXT} characters`);
    return { uid: p.uid, gid: p.gid };
  }

  done(): void {
    const extra = Object.keys(this.o).filter((k) => !this.seen.has(k));
    if (extra.length > 0) throw new Refusal(`unknown field "${extra[0].slice(0, 32)}"`);
  }
}

function fail(id: RequestId, message: string, hint = HINT): ParseOutcome {
  return { ok: false, error: { code: 'ERR_BROKER_PROTOCOL', id, message, hint } };
}

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly hint: string | null;
}

export function okAnswer(id: RequestId, result: unknown): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, id, ok: true, result }) + '\n';
}

export function errorAnswer(id: RequestId, error: ErrorBody): string {
  return (
    JSON.stringify({ v: PROTOCOL_VERSION, id, ok: false, error: { code: error.code, message: error.message, hint: error.hint } }) + '\n'
  );
}

/** A short, bounded copy of a request for the audit log (maps kept, long strings cut). */
export function auditView(request: Request): Record<string, unknown> {
  const cut = (s: string) => (s.length > 4096 ? `${s.slice(0, 4096)}…(${s.length} chars)` : s);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(request)) {
    if (k === 'id') continue;
    if (typeof v === 'string') out[k] = cut(v);
    else if (v && typeof v === 'object') out[k] = { uid: cut((v as MapPairText).uid), gid: cut((v as MapPairText).gid) };
    else out[k] = v;
  }
  return out;
}
