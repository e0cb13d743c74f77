import { type Extent, PAGE_SIZE } from './extent.js';
import { IdMap } from './idmap.js';
import { parseMapWrite, toBytes, type ParseRule } from './parse.js';

/**
 * map_write's whole pipeline as a pure verdict: parse (EINVAL) → write-once
 * (EPERM) → new_idmap_permitted (EPERM) → compose through the parent
 * (EPERM). Every refusal names the line, the rule and what to do, where the
 * kernel says only EINVAL or EPERM.
 */

export type CheckKind = 'uid' | 'gid' | 'projid';

export type MapWriter =
  /** Holds CAP_SETUID/CAP_SETGID in the parent namespace (root, or the parent's owner). */
  | { readonly privileged: true; readonly capSetfcap?: boolean }
  /**
   * Holds no capability in the parent: the namespace's owner writing from the
   * parent. euid/egid are as the writer sees them, in the parent namespace.
   */
  | {
      readonly privileged: false;
      readonly euid: number;
      readonly egid: number;
      readonly setgroups: 'allow' | 'deny';
      readonly isOwner?: boolean;
      /**
       * verify_root_map passes for this writer: it writes its own namespace's
       * map and held CAP_SETFCAP when it unshared (parent_could_setfcap), as
       * `unshare --map-root-user` run by root does. Default false.
       */
      readonly capSetfcap?: boolean;
    };

export interface MapWriteOptions {
  readonly kind?: CheckKind;
  /** The parent namespace's installed map, lower column in kernel ids. Default: the initial namespace's identity map. */
  readonly parent?: IdMap;
  readonly writer?: MapWriter;
  /** Maps are write-once: a second write gets EPERM before anything is parsed. */
  readonly alreadyWritten?: boolean;
}

export type PermissionRule = 'already-written' | 'needs-setfcap' | 'not-permitted' | 'setgroups-not-denied' | 'outside-parent';
export type CheckRule = ParseRule | PermissionRule;

export interface MapWriteVerdict {
  readonly ok: boolean;
  readonly errno: 'EINVAL' | 'EPERM' | null;
  readonly line: number | null;
  readonly rule: CheckRule | null;
  readonly message: string | null;
  readonly hint: string | null;
  /** Extents as written (lower ids relative to the parent); on refusal, those parsed before it. */
  readonly extents: readonly Extent[];
  /** On success, the map the kernel installs: lower ids composed through the parent to kernel ids. */
  readonly installed: IdMap | null;
}

const PRIVILEGED: MapWriter = { privileged: true, capSetfcap: true };

export function checkMapWrite(input: string | Uint8Array, options: MapWriteOptions = {}): MapWriteVerdict {
  const kind = options.kind ?? 'uid';
  const parent = options.parent ?? IdMap.identity();
  const writer = options.writer ?? PRIVILEGED;
  const bytes = toBytes(input);

  if (bytes.length < PAGE_SIZE && options.alreadyWritten) {
    return refuse(
      'EPERM',
      null,
      'already-written',
      [],
      `this namespace's ${kind}_map has already been written`,
      'maps are write-once: create a new user namespace to use a different map',
    );
  }
  const parsed = parseMapWrite(bytes);
  if (!parsed.ok) return refuse('EINVAL', parsed.line, parsed.rule, parsed.extents, parsed.message, parsed.hint);
  const extents = parsed.extents;

  const denied = newIdmapPermitted(kind, extents, parent, writer);
  if (denied) return { ...denied, extents };

  // Compose each written lower range through the parent: it must sit inside a single parent extent.
  const composed: Extent[] = [];
  for (let i = 0; i < extents.length; i++) {
    const e = extents[i];
    const kernelLower = parent.mapIdRangeDown(e.lower, e.count);
    if (kernelLower === undefined) {
      return refuse(
        'EPERM',
        i + 1,
        'outside-parent',
        extents,
        `lower ids ${e.lower}..${e.lower + e.count - 1} are not all mapped by a single extent of the parent namespace's ${kind}_map`,
        "every line must fall inside one line of the parent map (ranges may not span two adjacent parent lines): split the line at the parent's boundaries or map only ids the parent has",
      );
    }
    composed.push({ first: e.first, lower: kernelLower, count: e.count });
  }
  return { ok: true, errno: null, line: null, rule: null, message: null, hint: null, extents, installed: IdMap.from(composed) };
}

/** new_idmap_permitted (with verify_root_map for uid maps); undefined when permitted. */
function newIdmapPermitted(kind: CheckKind, extents: readonly Extent[], parent: IdMap, writer: MapWriter): MapWriteVerdict | undefined {
  if (kind === 'uid') {
    const rootLine = extents.findIndex((e) => e.lower === 0);
    const setfcap = writer.privileged ? writer.capSetfcap !== false : writer.capSetfcap === true;
    if (rootLine >= 0 && !setfcap) {
      return refuse(
        'EPERM',
        rootLine + 1,
        'needs-setfcap',
        extents,
        "the map maps the parent namespace's uid 0, which needs CAP_SETFCAP in the parent namespace (Linux 5.12+)",
        "write the map as a process holding CAP_SETFCAP, or leave the parent's uid 0 unmapped",
      );
    }
  }
  if (!writer.privileged) {
    const owner = writer.isOwner !== false;
    const single = extents.length === 1 && extents[0].count === 1;
    if (single && owner) {
      const e = extents[0];
      if (kind === 'uid' && sameKernelId(parent, e.lower, writer.euid)) return undefined;
      if (kind === 'gid' && sameKernelId(parent, e.lower, writer.egid)) {
        if (writer.setgroups === 'deny') return undefined;
        return refuse(
          'EPERM',
          1,
          'setgroups-not-denied',
          extents,
          'an unprivileged gid_map write needs /proc/PID/setgroups set to "deny" first',
          'write "deny" to /proc/PID/setgroups before gid_map, or use newgidmap with /etc/subgid ranges',
        );
      }
    }
    if (kind === 'projid') return undefined;
    const own = kind === 'uid' ? `euid ${writer.euid}` : `egid ${writer.egid}`;
    const why = !owner
      ? 'the writer does not own this namespace'
      : !single
        ? `an unprivileged writer may map one id only (count 1), but this map has ${extents.length} line(s) covering ${extents.reduce((s, e) => s + e.count, 0)} ids`
        : `an unprivileged writer may map only its own ${own}, not ${extents[0].lower}`;
    return refuse(
      'EPERM',
      1,
      'not-permitted',
      extents,
      `${why}; anything more needs CAP_SET${kind === 'uid' ? 'UID' : 'GID'} in the parent namespace`,
      `use new${kind}map with ranges from /etc/sub${kind}, or write the map as root`,
    );
  }
  return undefined;
}

/** make_kuid(parent, lower) == writer's euid, with the euid given as the writer sees it in the parent. */
function sameKernelId(parent: IdMap, lower: number, own: number): boolean {
  const a = parent.mapIdDown(lower);
  return a !== undefined && a === parent.mapIdDown(own);
}

function refuse(
  errno: 'EINVAL' | 'EPERM',
  line: number | null,
  rule: CheckRule,
  extents: readonly Extent[],
  message: string,
  hint: string,
): MapWriteVerdict {
  return { ok: false, errno, line, rule, message, hint, extents: [...extents], installed: null };
}

/** "line 3: …" as the CLI prints a refusal. */
export function describeVerdict(v: MapWriteVerdict): string {
  if (v.ok) return 'ok';
  const where = v.line === null ? '' : `line ${v.line}: `;
  return `${where}${v.message} [${v.errno}, rule ${v.rule}]${v.hint ? `\n  hint: ${v.hint}` : ''}`;
}
