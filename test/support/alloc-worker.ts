// A separate allocator process for concurrency and kill -9 tests. Prints one
// line per step with write(2) on fd 1 before going on, so the parent knows
// what was committed when it kills us. (process.stdout is no good here: to
// the socketpair Node gives a child as its stdout pipe it buffers in user
// space, and SIGKILL throws the buffer away.)
//   a NAME            about to allocate NAME
//   A NAME START GSTART  NAME's allocation committed
//   r NAME            about to release NAME
//   R NAME            NAME's release committed
// argv: DB PREFIX COUNT MODE POOLSTART POOLSLOTS   (MODE: alloc | churn; COUNT 0 = forever)
import { writeSync } from 'node:fs';
import { SLOT, hostExclusions, poolOf } from '../../src/alloc/index.js';
import { openRegistry } from '../../src/registry/index.js';

const [db, prefix, countArg, mode, poolStart, poolSlots] = process.argv.slice(2);
const count = Number(countArg);
const pool = poolOf([{ start: Number(poolStart), end: Number(poolStart) + Number(poolSlots) * SLOT }], 'worker pool');
const exclusions = hostExclusions({ subuid: [], subgid: [], users: [], groups: [] });
const out = (line: string): void => {
  const buf = Buffer.from(`${line}\n`);
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(1, buf, off);
    } catch (e) {
      // The socket is non-blocking: wait for the parent to read.
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
};

const registry = await openRegistry({ db });
const live: string[] = [];
try {
  for (let i = 0; count === 0 || i < count; i++) {
    const name = `${prefix}-${i}`;
    out(`a ${name}`);
    const { allocation: a } = await registry.allocate({ name, uidPool: pool }, { exclusions });
    out(`A ${name} ${a.uid.start} ${a.gid.start}`);
    live.push(name);
    if (mode === 'churn' && (i % 3 === 2 || live.length > Number(poolSlots) / 4)) {
      const victim = live.splice(i % live.length, 1)[0];
      out(`r ${victim}`);
      await registry.release(victim);
      out(`R ${victim}`);
    }
  }
} finally {
  await registry.close();
}
