import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ImageEntry } from '../ownership/entry.js';
import { type TarEntry, type TarEvent, TarEntryParser } from '../tar/entry-parser.js';
import { toImageEntry } from '../tar/image-entry.js';
import type { TarWarning } from '../tar/warnings.js';
import { detectCompression, peekStream } from './compression.js';

/**
 * Reads a tar stream (plain or gzip, told by magic bytes) as parser events,
 * pulling input only as fast as the consumer takes events: the consumer's
 * awaits are the backpressure.
 */
export async function* readTarEvents(input: Readable, onWarning: (w: TarWarning) => void = () => undefined): AsyncGenerator<TarEvent> {
  const { head, stream } = await peekStream(input, 6);
  const source: Readable =
    head.length > 0 && detectCompression(head) === 'gzip' ? stream.pipe(createGunzip({ chunkSize: 1 << 18 })) : stream;
  if (source !== stream) stream.on('error', (e) => source.destroy(e));
  const parser = new TarEntryParser(onWarning);
  try {
    for await (const chunk of source) yield* parser.push(chunk as Buffer);
    parser.end();
  } finally {
    if (!stream.destroyed) stream.destroy();
    if (!source.destroyed) source.destroy();
  }
}

/** Every entry of a tar stream, with its data skipped. */
export async function* readTarStreamEntries(input: Readable, onWarning?: (w: TarWarning) => void): AsyncGenerator<TarEntry> {
  for await (const ev of readTarEvents(input, onWarning)) if (ev.kind === 'entry') yield ev.entry;
}

/**
 * The entries of the archive at `path` as ImageEntry, for `fsidmap image
 * inspect`. Memory stays bounded by one chunk and one entry's meta headers.
 */
export async function* readTarEntries(path: string, onWarning?: (w: TarWarning) => void): AsyncIterable<ImageEntry> {
  for await (const e of readTarStreamEntries(createReadStream(path, { highWaterMark: 1 << 20 }), onWarning)) yield toImageEntry(e);
}
