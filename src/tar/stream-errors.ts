import { FsidmapError } from '../errors.js';

/**
 * The errors a tar stream raises when its data prevents a correct result,
 * shared by the shifter and the entry parser so both name problems alike.
 * Each carries the byte offset (in the uncompressed stream) in its context.
 */
export function emptyInput(): FsidmapError {
  return new FsidmapError('ERR_TAR_EMPTY', 'the input is empty, not a tar archive', {
    hint: 'check the command or file that should have produced the archive',
  });
}

export function notTar(bytes?: number): FsidmapError {
  return new FsidmapError(
    'ERR_TAR_BAD_HEADER',
    `the input is not a tar archive: ${bytes === undefined ? 'it is' : `${bytes} bytes,`} shorter than one 512-byte header`,
    { context: { offset: 0 } },
  );
}

export function badHeader(offset: number, why: string): FsidmapError {
  return new FsidmapError('ERR_TAR_BAD_HEADER', `the block at byte ${offset} is not a valid tar header (${why})`, {
    context: { offset },
    hint: 'the archive is corrupt or not a tar archive (is it compressed with something other than gzip?)',
  });
}

export function badArchive(offset: number, what: string): FsidmapError {
  return new FsidmapError('ERR_TAR_BAD_ARCHIVE', `at byte ${offset}: ${what}`, { context: { offset }, hint: 'the archive is corrupt' });
}

export function truncated(bytes: number, member?: string | null): FsidmapError {
  return new FsidmapError('ERR_TAR_TRUNCATED', `the archive ends in the middle of ${member ?? 'a member'} (after ${bytes} bytes)`, {
    context: { bytes },
    hint: 'the input is incomplete: check the download or the pipe that produced it',
  });
}

export function metaTooLarge(offset: number, typeflag: number, size: number, max: number): FsidmapError {
  return new FsidmapError(
    'ERR_TAR_META_TOO_LARGE',
    `the ${String.fromCharCode(typeflag)} header at byte ${offset} holds ${size} bytes, more than the ${max} accepted`,
    {
      context: { offset, size },
      hint: 'the archive is corrupt, or raise maxMetaSize if such headers are expected',
    },
  );
}
