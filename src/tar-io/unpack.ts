import { mkdirSync, realpathSync, statSync } from 'node:fs';
import { type Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { FsidmapError } from '../errors.js';
import { TarEntryParser } from '../tar/entry-parser.js';
import type { IdShiftStats, ShiftOptions } from '../tar/id-shift.js';
import type { TarWarning } from '../tar/warnings.js';
import { detectCompression, peekStream } from './compression.js';
import { TarShiftTransform } from './shift-stream.js';
import { UnpackTarget } from './unpack-target.js';
import { EntryWriter, type UnpackCounts } from './unpack-writer.js';

/**
 * `fsidmap tar unpack`: the archive is shifted as a stream (the same
 * TarShiftTransform as `tar shift`, so both agree by construction) and the
 * shifted entries are written under DIR as GNU tar would extract them with
 * --numeric-owner --same-owner --same-permissions --acls --xattrs
 * --xattrs-include='*': owners by number (names no longer match shifted ids),
 * then modes (after chown, which clears setuid/setgid), ACLs, xattrs, the file
 * capability last (chown clears it too), and times; directories get their
 * mode and times at the end, deepest first, as GNU tar's delayed set_stat.
 *
 * Running it again over a partly unpacked DIR finishes the job: entries
 * already there are replaced, so an interrupted unpack is resumed by rerunning.
 */
export interface UnpackOptions extends ShiftOptions {
  /** Set owners (default true); false leaves files owned by the caller. */
  readonly sameOwner?: boolean;
  readonly onWarning?: (w: TarWarning) => void;
}

export interface UnpackResult extends UnpackCounts {
  ids: IdShiftStats;
  warnings: number;
}

export async function unpackTar(input: Readable, dir: string, options: UnpackOptions): Promise<UnpackResult> {
  let warnings = 0;
  const warn = (w: TarWarning): void => {
    warnings++;
    options.onWarning?.(w);
  };
  const shift = new TarShiftTransform({ ...options, names: 'keep', onWarning: warn, ownsChunks: false });
  mkdirSync(dir, { recursive: true });
  const root = realpathSync(dir);
  if (!statSync(root).isDirectory()) throw new FsidmapError('ERR_UNPACK_NOT_DIR', `${dir} is not a directory`, { context: { path: dir } });
  const writer = new EntryWriter(new UnpackTarget(root), options.sameOwner ?? true, warn);

  const { head, stream } = await peekStream(input, 6);
  const stages: NodeJS.ReadWriteStream[] = [];
  if (head.length > 0 && detectCompression(head) === 'gzip') stages.push(createGunzip({ chunkSize: 1 << 18 }));
  stages.push(shift);
  let failure: Error | undefined;
  const shifted = (pipeline as unknown as (...s: unknown[]) => Readable)(stream, ...stages, (e: Error | null) => {
    if (e) failure = e;
  });
  const parser = new TarEntryParser(warn);
  try {
    for await (const chunk of shifted) {
      for (const ev of parser.push(chunk as Buffer)) {
        if (ev.kind === 'entry') writer.begin(ev.entry);
        else if (ev.kind === 'data') writer.data(ev.bytes);
        else writer.end();
      }
    }
    if (failure) throw failure;
    parser.end();
    writer.finish();
  } catch (e) {
    throw failure ?? e;
  } finally {
    writer.abort();
    if (!shifted.destroyed) shifted.destroy();
  }
  return { ...writer.counts, ids: { ...shift.shifter.stats }, warnings };
}
