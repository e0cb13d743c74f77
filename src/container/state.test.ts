import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isLive, listStates, processStart, readState, reserveName, runDir } from './state.js';

describe('container state files', () => {
  let dir: string;
  const saved = process.env.FSIDMAP_RUN_DIR;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fsidmap-state-'));
    process.env.FSIDMAP_RUN_DIR = dir;
  });
  after(() => {
    if (saved === undefined) delete process.env.FSIDMAP_RUN_DIR;
    else process.env.FSIDMAP_RUN_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  const initial = (name: string) => ({
    name,
    stagePid: null,
    initPid: null,
    rootfs: null,
    uidMap: '0 100000 65536',
    gidMap: '0 100000 65536',
  });

  it('reserves a name, records updates, and removes the file on release', () => {
    const r = reserveName(initial('one'));
    assert.equal(readState('one')?.pid, process.pid);
    r.update({ stagePid: 12, initPid: 13 });
    assert.equal(readState('one')?.initPid, 13);
    assert.deepEqual(
      listStates().map((s) => s.name),
      ['one'],
    );
    r.release();
    assert.equal(existsSync(join(runDir(), 'one.json')), false);
  });

  it('refuses a name a live process holds', () => {
    const r = reserveName(initial('two'));
    try {
      assert.throws(() => reserveName(initial('two')), { code: 'ERR_NAME_IN_USE' });
    } finally {
      r.release();
    }
  });

  it('takes over a stale file (its process is gone, or its pid was reused)', () => {
    mkdirSync(runDir(), { recursive: true });
    const stale = { ...initial('three'), pid: process.pid, pidStart: 'not-our-start-time', startedAt: '' };
    writeFileSync(join(runDir(), 'three.json'), JSON.stringify(stale));
    assert.equal(isLive(stale), false);
    const r = reserveName(initial('three'));
    assert.equal(readState('three')?.pidStart, processStart(process.pid));
    r.release();
  });

  it('reads the start time of a process whose name has spaces and parentheses', () => {
    assert.match(processStart(process.pid) ?? '', /^\d+$/);
    assert.equal(processStart(2 ** 22 + 7), null);
  });
});
