import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { FsidmapError } from '../errors.js';
import type { MapPair } from './spec.js';

/**
 * The fsid map says where a tree is stored on disk, so its owners must be
 * ids in the map's lower column, or they show as 65534 inside. A wrong map
 * (the image is at 400000, not 300000) shows at the top: the directory
 * itself, or every entry below it, unmapped — that is refused, naming the
 * owners. A few stray entries (lost+found of a separate filesystem, a file
 * the host put there) only earn a warning each. Only the top directory and
 * its entries are looked at: a whole-tree walk would make start time grow
 * with the image, which is what idmapped mounts avoid.
 */
export function checkOwners(
  dir: string,
  fs: MapPair,
  what: string,
  withEntries: boolean,
  /** How the caller's command line gives this fsid map: `--fsidmap MAP`, or a volume's `SRC:DST:fsidmap=MAP`. */
  asOption: (map: string) => string = (m) => `--fsidmap ${m}`,
): string[] {
  const unmapped = (st: Stats) => fs.uid.mapIdUp(st.uid) === undefined || fs.gid.mapIdUp(st.gid) === undefined;
  const top = lstatSync(dir);
  const entries: Array<[string, Stats]> = [];
  if (withEntries && top.isDirectory()) {
    for (const name of safeReaddir(dir).slice(0, 64)) {
      try {
        entries.push([`/${name}`, lstatSync(join(dir, name))]);
      } catch {
        /* vanished */
      }
    }
  }
  const bad = entries.filter(([, st]) => unmapped(st));
  const covered = fs.uid.extents.map((e) => `${e.lower}–${e.lower + e.count - 1}`).join(', ');
  if (unmapped(top) || (entries.length > 0 && bad.length === entries.length)) {
    const shown = [['/', top] as [string, Stats], ...bad]
      .filter(([, st]) => unmapped(st))
      .slice(0, 5)
      .map(([p, st]) => `${p} is ${st.uid}:${st.gid} on disk`);
    throw new FsidmapError(
      'ERR_FSIDMAP_UNMAPPED_IDS',
      `the fsid map of the ${what} leaves its owners unmapped: ${shown.join('; ')}${bad.length > 5 ? '; …' : ''} (the map covers on-disk ids ${covered})`,
      {
        context: { what, unmapped: shown },
        hint: `give the fsid map the tree is stored at (e.g. ${asOption(suggestedMap(top))} if ${dir} is owned by its root), or shift the tree`,
      },
    );
  }
  return bad.map(([p, st]) => `${what}: ${p} is ${st.uid}:${st.gid} on disk, outside the fsid map (${covered}): it shows as 65534 inside`);
}

/**
 * The fsid map that shows the tree's top owner as root: a tree of an ordinary
 * user (uid below 65536, not 0) is that one id, as that user owns no more; a
 * tree stored in a range gets the range of a container.
 */
function suggestedMap(top: Stats): string {
  return top.uid > 0 && top.uid < 65536 && top.uid === top.gid ? `0:${top.uid}:1` : `0:${top.uid}:65536`;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}
