/**
 * The one owner of everything a container start acquires: each step pushes
 * how to undo itself, and run() undoes them in reverse order whether the
 * container ended, setup failed half-way, or a signal arrived. An undo that
 * fails does not stop the others; the first failure is rethrown at the end.
 */
export class Cleanup {
  private readonly steps: Array<{ what: string; undo: () => void | Promise<void> }> = [];
  private ran = false;

  push(what: string, undo: () => void | Promise<void>): void {
    if (this.ran) throw new Error(`cleanup already ran; cannot add ${what}`);
    this.steps.push({ what, undo });
  }

  get size(): number {
    return this.steps.length;
  }

  async run(): Promise<void> {
    if (this.ran) return;
    this.ran = true;
    let first: unknown;
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }
}
