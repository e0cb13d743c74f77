import { FsidmapError } from '../errors.js';

/** Refusal of every write on a registry opened read-only (openRegistry({ readOnly: true })). */
export function readOnlyError(location: string): FsidmapError {
  return new FsidmapError('ERR_DB_READ_ONLY', `registry ${location} was opened read-only`, {
    hint: 'this command only reads; fsidmap alloc, release and gc change the registry',
    context: { location },
  });
}
