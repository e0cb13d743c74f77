/**
 * Why the model decided what it decided. Every rule that runs appends a step
 * naming the kernel function it mirrors, what it looked at (which map, which
 * capability, which id) and whether that step allowed, denied or only
 * informed. The decisive step is the one an outcome quotes as its reason.
 */
export type Errno =
  | 'EPERM'
  | 'EACCES'
  | 'EINVAL'
  | 'EOVERFLOW'
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'ENOSPC'
  | 'ESRCH'
  | 'EBUSY'
  | 'ELOOP'
  | 'EOPNOTSUPP';

export type StepVerdict = 'allow' | 'deny' | 'info';

export interface Step {
  /** The kernel function (or rule) this step mirrors, e.g. "acl_permission_check". */
  readonly rule: string;
  readonly verdict: StepVerdict;
  readonly detail: string;
}

export class Trace {
  readonly steps: Step[] = [];

  info(rule: string, detail: string): void {
    this.steps.push({ rule, verdict: 'info', detail });
  }

  allow(rule: string, detail: string): void {
    this.steps.push({ rule, verdict: 'allow', detail });
  }

  deny(rule: string, detail: string): void {
    this.steps.push({ rule, verdict: 'deny', detail });
  }
}

/** A decision: success (with a value) or an errno, the rule that decided it, and every step on the way. */
export interface Outcome<T = undefined> {
  readonly ok: boolean;
  readonly errno: Errno | null;
  /** The deciding rule (kernel function name). */
  readonly rule: string;
  /** One line: what decided, in words. */
  readonly reason: string;
  readonly value: T | undefined;
  readonly trace: readonly Step[];
}

export function success<T>(trace: Trace, rule: string, reason: string, value?: T): Outcome<T> {
  return { ok: true, errno: null, rule, reason, value, trace: trace.steps };
}

export function failure<T = undefined>(trace: Trace, errno: Errno, rule: string, reason: string): Outcome<T> {
  trace.deny(rule, reason);
  return { ok: false, errno, rule, reason, value: undefined, trace: trace.steps };
}

/** "ok" or the errno: what scenario files write as an expected result. */
export function resultName(o: Pick<Outcome<unknown>, 'ok' | 'errno'>): string {
  return o.ok ? 'ok' : (o.errno ?? 'error');
}
