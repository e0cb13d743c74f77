/**
 * Tar archives on streams and files: shift (node streams, or descriptors
 * with a blocking fast path), read entries (for image inspect), unpack.
 */
export {
  shiftTarStream,
  shiftTarBuffer,
  TarShiftTransform,
  type ShiftTarOptions,
  type TarShiftResult,
  type TarShiftStreamOptions,
} from './shift-stream.js';
export { shiftTarFd, fdReadable, fdWritable } from './shift-fd.js';
export { readTarEntries, readTarStreamEntries, readTarEvents } from './read-entries.js';
export { unpackTar, type UnpackOptions, type UnpackResult } from './unpack.js';
export { detectCompression, type Compression } from './compression.js';
export { writeFileAtomically } from './atomic-output.js';
export { EntryWriter, type UnpackCounts } from './unpack-writer.js';
export { UnpackTarget } from './unpack-target.js';
export { peekStream } from './compression.js';
