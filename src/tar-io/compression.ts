import { Readable } from 'node:stream';
import { FsidmapError } from '../errors.js';

/**
 * Input compression, told by magic bytes (not by file name): gzip is
 * decompressed on the fly; other compressors are named in a clear error so
 * the user can put the right decompressor in front.
 */
export type Compression = 'none' | 'gzip';

const OTHER: Array<[string, number[]]> = [
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x04, 0x22, 0x4d, 0x18]],
  ['lzip', [0x4c, 0x5a, 0x49, 0x50]],
];

/** Decides from the first bytes of a stream; throws ERR_TAR_COMPRESSED for compressors it cannot undo. */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  for (const [name, magic] of OTHER) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) {
      throw new FsidmapError('ERR_TAR_COMPRESSED', `the archive is compressed with ${name}, which fsidmap does not decompress`, {
        context: { compression: name },
        hint: `decompress it in front: ${name === 'zstd' ? 'zstd -dc' : name === 'lz4' ? 'lz4 -dc' : `${name} -dc`} ARCHIVE | fsidmap tar ...`,
      });
    }
  }
  return 'none';
}

/**
 * Reads the first `n` bytes of a stream without losing them: returns them
 * and a readable that yields the whole stream from the start (the original
 * one, with the bytes put back, or a replacement when it already ended).
 */
export async function peekStream(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const parts: Buffer[] = [];
  let len = 0;
  let ended = true;
  for await (const chunk of input.iterator({ destroyOnReturn: false })) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    parts.push(b);
    len += b.length;
    if (len >= n) {
      ended = false;
      break;
    }
  }
  const head = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  if (ended) return { head, stream: Readable.from(head.length > 0 ? [head] : []) };
  input.unshift(head);
  return { head, stream: input };
}
