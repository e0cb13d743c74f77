import { readFileSync } from 'node:fs';
import { FsidmapError } from '../errors.js';
import { viewOf } from './in-root.js';
import type { RootView } from './root-view.js';
import type { UserSpec } from './spec.js';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}
export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** passwd(5) lines; malformed lines are skipped, as getpwent does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2])) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: f[3] === '' ? [] : f[3].split(',') });
  }
  return out;
}

/** The credentials CMD runs with: ids inside the container, and the environment's user part. */
export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups (initgroups: the primary group and every group listing the user). */
  readonly groups: readonly number[];
  readonly name: string | null;
  readonly home: string;
}

/**
 * Resolves --user against the image's /etc/passwd and /etc/group, as
 * login(1)/initgroups would inside it: a number need not exist there (then
 * its group is the same number, and it has no other groups), a name must.
 * Pure apart from reading the two files through resolveInRoot.
 */
export function resolveUser(spec: UserSpec | undefined, root: string | RootView): ResolvedUser {
  const passwd = parsePasswd(readImageFile(root, '/etc/passwd'));
  const group = parseGroup(readImageFile(root, '/etc/group'));
  const want = spec ?? { user: '0', group: null };
  const byNumber = /^\d+$/.test(want.user);
  const pw = byNumber ? passwd.find((p) => p.uid === Number(want.user)) : passwd.find((p) => p.name === want.user);
  if (!pw && !byNumber) {
    throw new FsidmapError('ERR_RUN_NO_SUCH_USER', `the image has no user "${want.user}" in /etc/passwd`, {
      hint: 'give a numeric uid, or a user the image defines',
    });
  }
  const uid = pw ? pw.uid : Number(want.user);
  checkId(uid, 'uid');
  let gid: number;
  if (want.group === null) gid = pw ? pw.gid : uid;
  else if (/^\d+$/.test(want.group)) gid = Number(want.group);
  else {
    const g = group.find((e) => e.name === want.group);
    if (!g)
      throw new FsidmapError('ERR_RUN_NO_SUCH_GROUP', `the image has no group "${want.group}" in /etc/group`, {
        hint: 'give a numeric gid, or a group the image defines',
      });
    gid = g.gid;
  }
  checkId(gid, 'gid');
  const groups = new Set<number>([gid]);
  if (pw && want.group === null) for (const g of group) if (g.members.includes(pw.name)) groups.add(g.gid);
  return { uid, gid, groups: [...groups], name: pw?.name ?? null, home: pw?.home || '/' };
}

function checkId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 0 || id >= 4294967295) throw new FsidmapError('ERR_RUN_BAD_USER', `${what} ${id} is not a valid id`);
}

function readImageFile(root: string | RootView, path: string): string {
  const r = viewOf(root).resolve(path);
  if (!r || !r.stat.isFile()) return '';
  try {
    return readFileSync(r.hostPath, 'utf8');
  } catch {
    return '';
  }
}
