import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { FsidmapError } from '../errors.js';

/** The store's small records: written whole to a temporary name and renamed over the old, so a reader sees the old or the new. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeBytesAtomic(path, Buffer.from(JSON.stringify(value, null, 1) + '\n'));
}

export function writeBytesAtomic(path: string, bytes: Uint8Array): void {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(temp, bytes, { mode: 0o644 });
    renameSync(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
}

/** A record, or undefined when it does not exist; a damaged one is an error naming the file. */
export function readJsonFile<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new FsidmapError('ERR_IMAGE_STORE_DAMAGED', `${path} is not valid JSON (${(e as Error).message})`, {
      context: { path },
      hint: 'the image store was changed by hand; remove the file and import the image again',
    });
  }
}
