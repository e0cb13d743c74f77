/** [start, start + count) of host ids. */
export interface IdRange {
  readonly start: number;
  readonly count: number;
}

export interface RangePair {
  readonly uid: IdRange;
  readonly gid: IdRange;
}

/**
 * What `fsidmap run --allocate / --fs` needs from the range registry (the
 * allocator's store). The registry owns the ranges; run only asks for them
 * and gives container ranges back when the container is gone.
 */
export interface RangeRegistry {
  /**
   * The container allocation under name, made if it does not exist
   * (idempotent). fs names the image or volume allocation whose on-disk
   * range the container's fsid map points at, so the registry can refuse to
   * release that range while the container runs.
   */
  acquireContainer(name: string, options: { readonly fs?: string }): Promise<RangePair>;
  /** The on-disk range of an image or volume allocation (ERR if it does not exist). */
  fsRanges(name: string): Promise<RangePair>;
  /** Releases the container allocation (no error if it is already gone). */
  releaseContainer(name: string): Promise<void>;
  close(): Promise<void>;
}
