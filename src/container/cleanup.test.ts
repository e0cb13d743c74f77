import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Cleanup } from './cleanup.js';

describe('Cleanup: one owner undoes everything', () => {
  it('undoes in reverse order, once', async () => {
    const log: string[] = [];
    const c = new Cleanup();
    c.push('a', () => {
      log.push('a');
    });
    c.push('b', async () => {
      log.push('b');
    });
    c.push('c', () => {
      log.push('c');
    });
    await c.run();
    await c.run();
    assert.deepEqual(log, ['c', 'b', 'a']);
  });
  it('keeps undoing after a failure and rethrows the first', async () => {
    const log: string[] = [];
    const c = new Cleanup();
    c.push('a', () => {
      log.push('a');
    });
    c.push('b', () => {
      throw new Error('first');
    });
    c.push('c', () => {
      throw new Error('second');
    });
    await assert.rejects(c.run(), { message: 'second' });
    assert.deepEqual(log, ['a']);
  });
  it('refuses new steps after it ran', async () => {
    const c = new Cleanup();
    await c.run();
    assert.throws(() => c.push('late', () => undefined));
  });
});
