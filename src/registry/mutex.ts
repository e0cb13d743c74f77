/**
 * Runs async functions one at a time. A store's connection holds one
 * transaction at a time; without this, two allocate() calls of one process
 * would interleave their statements inside each other's transaction.
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
