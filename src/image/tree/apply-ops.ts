import { chmodNoFollowRaw, lchownRaw } from '../../kernel/inode.js';
import { setXattrRaw } from '../../kernel/xattr.js';
import { ACL_ACCESS_XATTR, ACL_DEFAULT_XATTR, CAPABILITY_XATTR } from '../xattr-codec.js';
import { ACTION } from './plan.js';
import { type PathTable, pathAt, pathCount } from './path-table.js';
import type { OpFailure, XattrValue } from './scan-ops.js';

/**
 * Carries out one batch of a shift plan. Every step writes an absolute value
 * taken from the plan (never "the current id plus an offset"), so running a
 * step again after an interruption gives the same result: that is what makes
 * a resumed shift exact.
 *
 * Order per inode: lchown (which clears setuid/setgid and security.capability
 * on non-directories), then chmod to put the mode bits back, then the ACLs,
 * then the capability.
 */
export interface ApplyBatch {
  readonly table: PathTable;
  /** ACTION bits per path. */
  readonly flags: Uint8Array;
  readonly uid: Uint32Array;
  readonly gid: Uint32Array;
  /** The mode to restore (permission bits incl. setuid/setgid/sticky). */
  readonly mode: Uint32Array;
  /** New xattr values, by path index within the batch. */
  readonly xattrs: XattrValue[];
}

export interface ApplyResult {
  readonly done: number;
  readonly failure: OpFailure | null;
}

const XATTR_FOR: Array<[number, string]> = [[ACTION.ACL_ACCESS, ACL_ACCESS_XATTR], [ACTION.ACL_DEFAULT, ACL_DEFAULT_XATTR], [ACTION.CAPABILITY, CAPABILITY_XATTR]];

export function applyBatch(batch: ApplyBatch, report?: (done: number) => void, reportEvery = 2048): ApplyResult {
  const n = pathCount(batch.table);
  const byIndex = new Map<number, XattrValue[]>();
  for (const x of batch.xattrs) {
    const list = byIndex.get(x.i);
    if (list) list.push(x); else byIndex.set(x.i, [x]);
  }
  for (let i = 0; i < n; i++) {
    const f = batch.flags[i];
    const p = pathAt(batch.table, i);
    if (f & ACTION.CHOWN) {
      const r = lchownRaw(p, batch.uid[i], batch.gid[i]);
      if (r < 0) return { done: i, failure: { index: i, call: 'lchown', errno: -r } };
    }
    if (f & ACTION.CHMOD) {
      const r = chmodNoFollowRaw(p, batch.mode[i]);
      if (r < 0) return { done: i, failure: { index: i, call: 'chmod', errno: -r } };
    }
    if (f & (ACTION.ACL_ACCESS | ACTION.ACL_DEFAULT | ACTION.CAPABILITY)) {
      const values = byIndex.get(i) ?? [];
      for (const [bit, name] of XATTR_FOR) {
        if (!(f & bit)) continue;
        const v = values.find((x) => x.name === name);
        if (!v) return { done: i, failure: { index: i, call: `lsetxattr ${name} (no value in plan)`, errno: 22 } };
        const r = setXattrRaw(p, name, v.value);
        if (r < 0) return { done: i, failure: { index: i, call: `lsetxattr ${name}`, errno: -r } };
      }
    }
    if (report && (i + 1) % reportEvery === 0) report(i + 1);
  }
  return { done: n, failure: null };
}
