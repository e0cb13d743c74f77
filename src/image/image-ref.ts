import { UsageError } from '../errors.js';

/**
 * Image names as the store keeps them: NAME[:TAG], NAME being lowercase
 * letters, digits and the separators . _ - / (the OCI distribution spec's
 * repository grammar, without a registry host's port), TAG the spec's tag
 * grammar; the tag defaults to "latest". Pure.
 */
export interface ImageName {
  readonly name: string;
  readonly tag: string;
}

const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export function parseImageName(s: string, what = 'image name'): ImageName {
  const colon = s.lastIndexOf(':');
  const slash = s.lastIndexOf('/');
  const [name, tag] = colon > slash ? [s.slice(0, colon), s.slice(colon + 1)] : [s, 'latest'];
  if (!NAME.test(name) || name.length > 255)
    throw new UsageError(
      `${what} "${s}": "${name}" is not a valid name (lowercase letters, digits, and . _ - / between them)`,
      'e.g. debian:bookworm or tools/builder:1.2',
    );
  if (!TAG.test(tag)) throw new UsageError(`${what} "${s}": "${tag}" is not a valid tag (letters, digits, . _ -; at most 128)`);
  return { name, tag };
}

export function isImageName(s: string): boolean {
  try {
    parseImageName(s);
    return true;
  } catch {
    return false;
  }
}

export function formatImageName(n: ImageName): string {
  return `${n.name}:${n.tag}`;
}

/** A name made from a file or directory name ("Debian_Bookworm.tar.gz" → "debian_bookworm"), or undefined. */
export function nameFromFile(base: string): string | undefined {
  const stem = base
    .replace(/\.(tar\.gz|tgz|tar|gz)$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return stem && NAME.test(stem) ? stem : undefined;
}
