// Run under strace by run-port.test.ts: plans a run (and, with "write", writes
// the plan's id maps to a fresh namespace), printing what the plan holds. The
// open of PHASE_MARK (which does not exist) splits the trace into the plan
// and the write.
import { openSync, readFileSync } from 'node:fs';
import { checkInput, planRun } from '../../../src/container/index.js';
import { parseMap } from '../../../src/idmap/index.js';
import { createUserns } from '../../../src/kernel/index.js';

const PHASE_MARK = '/proc/self/fsidmap-test-phase-write';

interface Args {
  rootfs: string;
  volumes: Array<{ source: string; target: string; fsidmap: string | null }>;
  write: boolean;
}

const args = JSON.parse(process.argv[2]) as Args;
const pair = (s: string) => {
  const m = parseMap(s);
  return { uid: m, gid: m };
};
const input = checkInput({
  ids: { kind: 'maps', maps: pair('0:100000:65536') },
  fs: { kind: 'maps', maps: pair('0:300000:65536') },
  rootfs: args.rootfs,
  volumes: args.volumes.map((v) => ({
    source: v.source,
    target: v.target,
    readonly: false,
    fsidmap: v.fsidmap === null ? null : pair(v.fsidmap),
  })),
  command: ['/bin/true'],
});
const plan = planRun(input, pair('0:100000:65536'), pair('0:300000:65536'));
const text = (b: Buffer) => b.toString('latin1');
const out: Record<string, unknown> = {
  idmaps: { uid: text(plan.idmaps.bytes.uid), gid: text(plan.idmaps.bytes.gid) },
  rootfs: plan.rootfsMaps && text(plan.rootfsMaps.bytes.uid),
  volumes: plan.volumeMaps.map((m) => m && { uid: text(m.bytes.uid), sameAsRootfs: m === plan.rootfsMaps }),
};
if (args.write) {
  try {
    openSync(PHASE_MARK, 'r');
  } catch {
    /* the mark is the failed open itself */
  }
  const holder = await createUserns(plan.idmaps, 'allow');
  try {
    out.written = {
      uid: readFileSync(`/proc/${holder.pid}/uid_map`, 'latin1'),
      gid: readFileSync(`/proc/${holder.pid}/gid_map`, 'latin1'),
    };
  } finally {
    await holder.release();
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
