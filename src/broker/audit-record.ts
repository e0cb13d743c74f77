/**
 * How one audit record becomes one line of the log, bounded and safe to
 * read with any tool: JSON, then every character that some reader takes as
 * a line break or a control escaped (JSON.stringify leaves DEL, the C1
 * controls — NEL among them — and U+2028/U+2029 raw; a log viewer or a
 * JavaScript eval of the line would split or run on them), then cut to
 * maxBytes: the request and long strings are shortened with a marker, never
 * the decision itself (time, peer, op, decision, code stay whole). Pure.
 */

/** Outside JSON strings these never occur in JSON.stringify's output, so replacing them everywhere is exact. */
const UNSAFE = /[\u007f-\u009f\u2028\u2029]/g;

export function escapeLine(json: string): string {
  return json.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function cutString(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(cut: ${s.length} characters)`;
}

/** The fields a shortened record keeps whole: what was decided, for whom. */
const DECISION_KEYS = ['time', 'peer', 'conn', 'op', 'id', 'decision', 'code', 'suppressed', 'suppressedCode'];

/** One log line (with its newline) for obj, at most maxBytes long (maxBytes ≥ 1024). */
export function auditLine(obj: Record<string, unknown>, maxBytes: number): string {
  const whole = escapeLine(JSON.stringify(obj));
  if (Buffer.byteLength(whole) + 1 <= maxBytes) return `${whole}\n`;
  const bytes = Buffer.byteLength(whole);
  // Shortened: the decision whole, the reason and the request cut, the rest (result, context) summarised.
  const keep: Record<string, unknown> = {};
  for (const k of DECISION_KEYS) if (k in obj) keep[k] = obj[k];
  for (let room = Math.floor(maxBytes / 4); room >= 16; room = Math.floor(room / 2)) {
    const short = {
      ...keep,
      reason: cutString(String(obj.reason ?? ''), room),
      request: obj.request == null ? null : cutString(JSON.stringify(obj.request), room),
      cut: { bytes, fields: Object.keys(obj).filter((k) => !DECISION_KEYS.includes(k)) },
    };
    const line = escapeLine(JSON.stringify(short));
    if (Buffer.byteLength(line) + 1 <= maxBytes) return `${line}\n`;
  }
  // The decision fields alone are bounded (numbers, a code, a peer with a passwd name, an id of ≤128 characters).
  return `${escapeLine(JSON.stringify({ ...keep, cut: { bytes } }))}\n`;
}

/**
 * Audit volume per owner: a byte bucket (ratePerSecond, burst). Over it, a
 * record is still written — never dropped — but in its shortest form.
 */
export class AuditBudget {
  private readonly buckets = new Map<string, { bytes: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {}

  /** Takes n bytes from key's bucket; false when it did not have them (the caller writes the short form). */
  take(key: string, n: number, now: number): boolean {
    const b = this.buckets.get(key) ?? { bytes: this.burst, at: now };
    b.bytes = Math.min(this.burst, b.bytes + ((now - b.at) / 1000) * this.ratePerSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (this.buckets.size > 4096) this.sweep(now);
    if (b.bytes < n) return false;
    b.bytes -= n;
    return true;
  }

  private sweep(now: number): void {
    for (const [k, b] of this.buckets) if (b.bytes + ((now - b.at) / 1000) * this.ratePerSecond >= this.burst) this.buckets.delete(k);
  }
}
