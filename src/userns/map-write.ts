import {
  type Extent,
  IdMap,
  INVALID_ID,
  type MapKind,
  type MapWriteVerdict,
  type MapWriter,
  PAGE_SIZE,
  checkMapWrite,
  formatInline,
} from '../idmap/index.js';
import { nsCapable } from './capable.js';
import type { Cred } from './cred.js';
import { type IdKind, fsidMapName, fsidMapOf } from './lookup.js';
import type { UserNamespace } from './namespace.js';
import { type Outcome, Trace, failure, success } from './trace.js';

export interface MapWriteResult {
  readonly installed: IdMap;
  /** v3: the fsid map installed alongside an id map written while the fsid map was empty. */
  readonly mirrored: IdMap | null;
  /** The idmap core's verdict for the write (extents as written, the rule on refusal). */
  readonly verdict: MapWriteVerdict;
}

const encoder = new TextEncoder();

/**
 * A write(2) of `text` to /proc/PID/{uid,gid,fsuid,fsgid}_map of a process in
 * `target`, opened and written by a process with `writer` credentials: the
 * proc checks, then map_write. The parse, write-once, new_idmap_permitted
 * and composition rules are the idmap core's checkMapWrite, given the
 * parent's installed map (for fsid maps, the parent's fsid map) and the
 * writer as the kernel sees it; this function adds what depends on the
 * namespace tree (CAP_SYS_ADMIN over the target, CAP_SETFCAP, ownership) and
 * the series' v3 rules (fsid maps before id maps; mirroring).
 */
export function writeMap(target: UserNamespace, kind: MapKind, text: string | Uint8Array, writer: Cred): Outcome<MapWriteResult> {
  const t = new Trace();
  const file = `${target.name}/${kind}_map`;
  const fsid = kind === 'fsuid' || kind === 'fsgid';
  const idKind: IdKind = kind === 'uid' || kind === 'fsuid' ? 'uid' : 'gid';
  const bytes = typeof text === 'string' ? encoder.encode(text) : text;

  if (fsid && target.semantics === 'off') {
    return failure(
      t,
      'ENOENT',
      'proc_pid_entry',
      `/proc/PID/${kind}_map does not exist: this kernel has no fsid mappings (semantics "off")`,
    );
  }
  // proc_uid_map_write / proc_fsuid_map_write (FSID-v2-01 applies the same checks).
  if (target.parent === null) {
    return failure(t, 'EPERM', 'proc_uid_map_write', `${target.name} is the initial namespace: its maps cannot be written`);
  }
  if (writer.userNs !== target && writer.userNs !== target.parent) {
    return failure(
      t,
      'EPERM',
      'proc_uid_map_write',
      `the writer is in ${writer.userNs.name}, which is neither ${target.name} nor its parent ${target.parent.name}`,
    );
  }
  t.allow(
    'proc_uid_map_write',
    `the writer's namespace ${writer.userNs.name} is ${writer.userNs === target ? 'the target' : 'its parent'}`,
  );

  // map_write: size and write-once come first; both are in checkMapWrite.
  const early = bytes.length >= PAGE_SIZE || target.isWritten(kind);
  if (!early) {
    const admin = nsCapable(writer, target, 'CAP_SYS_ADMIN');
    if (!admin.ok) return failure(t, 'EPERM', 'map_write', `writing a map needs CAP_SYS_ADMIN over ${target.name}: ${admin.why}`);
    t.allow('map_write', `CAP_SYS_ADMIN over ${target.name}: ${admin.why}`);
  }

  // Fsid maps compose through the parent's fsid map (FSID-v2-01); id maps through the parent's id map.
  const parentMap = fsid ? fsidMapOf(target.parent, idKind) : target.parent.map(kind);
  const parentMapName = fsid ? fsidMapName(target.parent, idKind) : `${kind}_map`;
  const mapWriter = describeWriter(target, idKind, parentMap, writer, t);
  const verdict = checkMapWrite(bytes, { kind: idKind, parent: parentMap, writer: mapWriter, alreadyWritten: target.isWritten(kind) });

  if (verdict.rule === 'already-written') {
    const mirrored = fsid && target.semantics === 'v3' && target.isWritten(idKind);
    return failure(
      t,
      'EPERM',
      'map_write:already-written',
      `${file} is already written; maps are write-once${mirrored ? ` (v3 mirrored ${idKind}_map into it when ${idKind}_map was written: fsid maps must be written first)` : ''}`,
    );
  }
  if (verdict.errno === 'EINVAL') return refusal(t, verdict, file);
  // v3 new_idmap_permitted: an fsid map may be written only before the matching id map (FSID-v3, Jann
  // Horn's nesting fix). Mirroring fills the fsid map whenever the id map is written first, so the
  // write-once check above usually answers first; this rule still stands for a model state without it.
  if (fsid && target.semantics === 'v3' && target.isWritten(idKind)) {
    return failure(
      t,
      'EPERM',
      'new_idmap_permitted',
      `v3: ${kind}_map must be written before ${idKind}_map, and ${target.name}'s ${idKind}_map is already written (it was mirrored into ${kind}_map then)`,
    );
  }
  if (!verdict.ok) return refusal(t, verdict, file);
  const installed = verdict.installed!;
  t.allow('map_write', `${file} accepted; lower ids composed through the parent's ${parentMapName}: ${formatInline(installed)}`);

  // v3 idmap_to_fsidmap (FSID-v3-06): an id map written while the fsid map is empty is mirrored into it,
  // its written lower ids translated through the parent's fsid map.
  let mirrored: IdMap | null = null;
  const fsKind: MapKind = idKind === 'uid' ? 'fsuid' : 'fsgid';
  if (!fsid && target.semantics === 'v3' && !target.isWritten(fsKind)) {
    const parentFs = fsidMapOf(target.parent, idKind);
    const composed: Extent[] = [];
    for (const [i, e] of verdict.extents.entries()) {
      const lower = parentFs.mapIdRangeDown(e.lower, e.count);
      if (lower === undefined) {
        // [I] The patch text says map_from_parent must succeed; a failure is taken to fail the write with EPERM.
        return failure(
          t,
          'EPERM',
          'map_into_kids',
          `v3 mirrors ${kind}_map into ${fsKind}_map, but line ${i + 1} (lower ${e.lower}..${e.lower + e.count - 1}) is not inside one extent of the parent's ${fsKind}_map`,
        );
      }
      composed.push({ first: e.first, lower, count: e.count });
    }
    mirrored = IdMap.from(composed);
    t.info(
      'idmap_to_fsidmap',
      `v3: ${fsKind}_map was empty, so it mirrors ${kind}_map through the parent's ${fsKind}_map: ${formatInline(mirrored)}`,
    );
  }
  target.installMap(kind, installed);
  if (mirrored) target.installMap(fsKind, mirrored);
  return success(
    t,
    'map_write',
    `${file} written: ${formatInline(installed)}${mirrored ? `; ${fsKind}_map mirrored: ${formatInline(mirrored)}` : ''}`,
    { installed, mirrored, verdict },
  );
}

/**
 * The writer as new_idmap_permitted sees it. Privileged: CAP_SETUID/CAP_SETGID
 * over the parent. Otherwise the single-id rule: owner of the target, its
 * euid/egid given as the parent-relative id that the parent's map (for fsid
 * maps, make_kfsuid(ns->parent, id)) takes to the writer's kernel euid.
 * verify_root_map's CAP_SETFCAP: parent_could_setfcap when writing one's own
 * namespace, else CAP_SETFCAP over the parent.
 */
function describeWriter(target: UserNamespace, kind: IdKind, parentMap: IdMap, writer: Cred, t: Trace): MapWriter {
  const parent = target.parent!;
  const setid = kind === 'uid' ? 'CAP_SETUID' : 'CAP_SETGID';
  const priv = nsCapable(writer, parent, setid);
  const setfcap =
    writer.userNs === target
      ? {
          ok: target.parentCouldSetfcap,
          why: target.parentCouldSetfcap
            ? 'its creator held CAP_SETFCAP (parent_could_setfcap)'
            : 'its creator lacked CAP_SETFCAP (parent_could_setfcap unset)',
        }
      : nsCapable(writer, parent, 'CAP_SETFCAP');
  if (priv.ok) {
    t.info('new_idmap_permitted', `${setid} over ${parent.name}: ${priv.why}`);
    return { privileged: true, capSetfcap: setfcap.ok };
  }
  t.info('new_idmap_permitted', `no ${setid} over ${parent.name} (${priv.why}); only the single-id rule can allow the write`);
  return {
    privileged: false,
    euid: parentMap.mapIdUp(writer.euid) ?? INVALID_ID,
    egid: parentMap.mapIdUp(writer.egid) ?? INVALID_ID,
    setgroups: target.setgroups,
    isOwner: target.owner === writer.euid,
    capSetfcap: setfcap.ok,
  };
}

function refusal(t: Trace, v: MapWriteVerdict, file: string): Outcome<MapWriteResult> {
  const where = v.line === null ? '' : ` (line ${v.line})`;
  return failure(t, v.errno!, `map_write:${v.rule}`, `${file}${where}: ${v.message}`);
}

/**
 * proc_setgroups_write: "allow" or "deny" at offset 0, under 8 bytes. Opening
 * for write needs CAP_SYS_ADMIN over the target (proc_setgroups_open,
 * EACCES); deny after gid_map is written and allow after deny are EPERM.
 */
export function writeSetgroups(target: UserNamespace, text: string, writer: Cred): Outcome<'allow' | 'deny'> {
  const t = new Trace();
  const admin = nsCapable(writer, target, 'CAP_SYS_ADMIN');
  if (!admin.ok)
    return failure(
      t,
      'EACCES',
      'proc_setgroups_open',
      `opening ${target.name}/setgroups for writing needs CAP_SYS_ADMIN over it: ${admin.why}`,
    );
  if (encoder.encode(text).length >= 8) return failure(t, 'EINVAL', 'proc_setgroups_write', 'the write must be shorter than 8 bytes');
  const m = /^(allow|deny)[ \t\n\v\f\r]*$/.exec(text);
  if (!m) return failure(t, 'EINVAL', 'proc_setgroups_write', `"${text.trim()}" is neither allow nor deny`);
  const value = m[1] as 'allow' | 'deny';
  if (value === 'allow') {
    if (target.setgroups === 'deny')
      return failure(t, 'EPERM', 'proc_setgroups_write', `setgroups of ${target.name} is already deny; it can never be allowed again`);
    return success(t, 'proc_setgroups_write', 'setgroups stays allow', value);
  }
  if (target.isWritten('gid'))
    return failure(
      t,
      'EPERM',
      'proc_setgroups_write',
      `gid_map of ${target.name} is already written; setgroups can only be denied before that`,
    );
  target.denySetgroups();
  return success(t, 'proc_setgroups_write', `setgroups of ${target.name} is now deny`, value);
}
