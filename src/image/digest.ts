import { FsidmapError } from '../errors.js';

/**
 * Content digests as OCI writes them, "sha256:" and 64 lowercase hex digits.
 * Only sha256 is taken: it is what every writer uses, and a digest the store
 * cannot check is refused rather than trusted. Pure.
 */
export type Digest = `sha256:${string}`;

const SHA256 = /^sha256:[0-9a-f]{64}$/;

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && SHA256.test(s);
}

/** A digest read from a manifest, index or config: checked here, trusted after. */
export function parseDigest(s: unknown, where: string): Digest {
  if (isDigest(s)) return s;
  const algo = typeof s === 'string' ? s.split(':')[0] : '';
  throw new FsidmapError(
    'ERR_IMAGE_BAD_DIGEST',
    `${where}: ${JSON.stringify(s)} is not a digest fsidmap can check (sha256:<64 hex digits>)${algo && algo !== 'sha256' && typeof s === 'string' && s.includes(':') ? `; ${algo} is not supported` : ''}`,
    { context: { where, digest: s }, hint: 'the image is malformed, or was written with a digest algorithm other than sha256' },
  );
}

export function hexOf(d: Digest): string {
  return d.slice(7);
}

export function digestOfHex(hex: string): Digest {
  return `sha256:${hex}`;
}

/** The first 12 hex digits, as `list` shows them. */
export function shortDigest(d: Digest): string {
  return d.slice(7, 19);
}
