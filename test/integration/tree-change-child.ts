import { execFileSync, spawn } from 'node:child_process';
import { lstatSync, renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parseMap } from '../../src/idmap/index.js';
import { type TreeEngineKind, shiftTree } from '../../src/tree/index.js';

/**
 * A shift that changes its own tree once the plan is journaled, right when
 * the apply phase begins (its first progress event, before any change): run
 * as a child process by image-tree-engines.test.ts, so that each run can
 * load the C engine with its own FSIDMAP_TREE_ENGINE_COMPAT. Prints one JSON
 * line: {ok: true} or {ok: false, code, message}.
 *
 * argv[2] is JSON: {dir, stateDir, engine, action, outside?, mountAt?, swapper?}
 *   swap   renames DIR/a away and puts a symlink to OUTSIDE in its place;
 *   mount  mounts a tmpfs on MOUNTAT;
 *   race   starts SWAPPER (test/native/broker-swap) exchanging DIR/a and DIR/alink
 *          (a symlink to OUTSIDE) for 2 s, and waits until it has swapped once.
 */
interface Job {
  readonly dir: string;
  readonly stateDir: string;
  readonly engine: TreeEngineKind;
  readonly action: 'swap' | 'mount' | 'race';
  readonly outside?: string;
  readonly mountAt?: string;
  readonly swapper?: string;
}

const job = JSON.parse(process.argv[2]) as Job;
let acted = false;
let swapper: ReturnType<typeof spawn> | null = null;

function act(): void {
  if (job.action === 'swap') {
    renameSync(join(job.dir, 'a'), join(job.dir, 'a-moved'));
    symlinkSync(job.outside as string, join(job.dir, 'a'));
  } else if (job.action === 'mount') {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'fsidmap-i7hard', job.mountAt as string]);
  } else {
    swapper = spawn(job.swapper as string, [job.dir, 'a', 'alink', '2'], { stdio: 'ignore' });
    const until = Date.now() + 3000;
    // Busy-wait (this callback is synchronous): the apply must run while the names flip.
    while (Date.now() < until && !lstatSync(join(job.dir, 'a')).isSymbolicLink()) {
      /* spin */
    }
  }
}

const done = (out: object) => {
  const finish = () => process.stdout.write(JSON.stringify(out) + '\n');
  // The swapper makes a multiple of 1000 exchanges: once it exits, a is the directory again.
  if (swapper && swapper.exitCode === null) swapper.on('exit', finish);
  else finish();
};

shiftTree(job.dir, parseMap('0 1000 65536\n'), {
  // Owners outside MAP are kept: the directories on the way can be left unplanned, so only the entries below them are written.
  stateDir: job.stateDir,
  engine: job.engine,
  unmapped: { kind: 'keep' },
  onProgress: (p) => {
    if (p.phase === 'apply' && !acted) {
      acted = true;
      act();
    }
  },
}).then(
  () => done({ ok: true, acted }),
  (e: { code?: string; message?: string }) => done({ ok: false, acted, code: e.code, message: e.message }),
);
