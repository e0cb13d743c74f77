import { FsidmapError } from '../errors.js';

/**
 * A cursor over untrusted JSON that knows where it is ("steps[3].path"), so
 * every complaint about a scenario file names the field, what was expected
 * and what was found. Values come out typed; nothing past this point
 * re-checks them.
 */
export class JsonReader {
  constructor(
    readonly value: unknown,
    readonly where: string,
  ) {}

  fail(message: string, hint?: string): never {
    throw new FsidmapError('ERR_SCENARIO_INVALID', `${this.where}: ${message}`, {
      context: { field: this.where },
      ...(hint ? { hint } : {}),
    });
  }

  private describe(): string {
    const v = this.value;
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'an array';
    if (typeof v === 'string') return `"${v.length > 40 ? v.slice(0, 40) + '…' : v}"`;
    return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
  }

  isMissing(): boolean {
    return this.value === undefined;
  }

  object(allowed?: readonly string[]): this {
    if (typeof this.value !== 'object' || this.value === null || Array.isArray(this.value))
      this.fail(`expected an object, got ${this.describe()}`);
    if (allowed) {
      for (const k of Object.keys(this.value as object)) {
        if (!allowed.includes(k)) this.fail(`unknown field "${k}"`, `fields here: ${allowed.join(', ')}`);
      }
    }
    return this;
  }

  field(name: string): JsonReader {
    this.object();
    return new JsonReader((this.value as Record<string, unknown>)[name], `${this.where}.${name}`);
  }

  has(name: string): boolean {
    return typeof this.value === 'object' && this.value !== null && (this.value as Record<string, unknown>)[name] !== undefined;
  }

  array(): JsonReader[] {
    if (!Array.isArray(this.value)) this.fail(`expected an array, got ${this.describe()}`);
    return (this.value as unknown[]).map((v, i) => new JsonReader(v, `${this.where}[${i}]`));
  }

  optArray(): JsonReader[] {
    return this.isMissing() ? [] : this.array();
  }

  string(): string {
    if (typeof this.value !== 'string') this.fail(`expected a string, got ${this.describe()}`);
    return this.value as string;
  }

  optString(fallback?: string): string | undefined {
    return this.isMissing() ? fallback : this.string();
  }

  oneOf<T extends string>(choices: readonly T[]): T {
    const s = this.string();
    if (!(choices as readonly string[]).includes(s)) this.fail(`expected one of ${choices.join(', ')}, got "${s}"`);
    return s as T;
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') this.fail(`expected true or false, got ${this.describe()}`);
    return this.value as boolean;
  }

  /** A u32 id; -1 where the syscall takes it as "unchanged" (allowMinusOne). */
  id(allowMinusOne = false): number {
    const v = this.value;
    if (typeof v !== 'number' || !Number.isInteger(v) || v > 4294967295 || (v < 0 && !(allowMinusOne && v === -1))) {
      this.fail(`expected an id (integer 0..4294967295${allowMinusOne ? ', or -1 for unchanged' : ''}), got ${this.describe()}`);
    }
    return v as number;
  }

  ids(): number[] {
    return this.array().map((r) => r.id());
  }

  /** A mode: an octal string ("0644", "2775") or a number (taken as given, e.g. 420). */
  mode(): number {
    const v = this.value;
    if (typeof v === 'string' && /^0?[0-7]{1,4}$/.test(v)) return parseInt(v, 8);
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0o7777) return v;
    return this.fail(`expected a mode as an octal string like "0644", got ${this.describe()}`);
  }
}

/** JSON.parse with the position turned into a scenario error that names the file. */
export function parseJson(text: string, origin: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FsidmapError('ERR_SCENARIO_INVALID', `${origin}: not valid JSON: ${(e as Error).message}`, {
      hint: 'scenario files are JSON (see docs/userns.md)',
    });
  }
}
