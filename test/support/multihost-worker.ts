// One host's allocator for test/integration/registry-multihost.test.ts: opens
// the registry once (FSIDMAP_DB_FILE, as fsidmap does) and allocates
// PREFIX-0 … PREFIX-(COUNT-1) with itself as holder, as a long-lived service
// (a broker, a runtime) would. A failed attempt is printed and the same name
// tried again, so faults show as error lines and the run still ends with
// every name allocated. One JSON line per attempt on stdout.
//
//   node multihost-worker.js PREFIX COUNT [PACE_MS]
//   node multihost-worker.js --hold-scope SECONDS   (takes the realm's lock and goes silent)
import { holderOf, allocateOnHost } from '../../src/alloc-host/index.js';
import { isFsidmapError } from '../../src/errors.js';
import { PostgresStore, readUrlFile } from '../../src/registry/index.js';
import { openRegistry } from '../../src/registry/open.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const out = (x: unknown) => process.stdout.write(JSON.stringify(x) + '\n');

async function holdScope(seconds: number): Promise<void> {
  const store = await PostgresStore.open({ url: readUrlFile(process.env.FSIDMAP_DB_FILE!), timeoutMs: 2000 });
  await store
    .write(async (tx) => {
      const realm = (await tx.realmId('default', true))!;
      await tx.lockScope(-realm);
      out({ locked: true, t: Date.now() });
      await sleep(seconds * 1000);
    })
    .catch((e: unknown) => out({ error: isFsidmapError(e) ? e.code : String(e), t: Date.now() }));
  await store.close();
}

async function allocate(prefix: string, count: number, pace: number): Promise<void> {
  const holder = holderOf(process.pid);
  const registry = await openWithRetry();
  for (let i = 0; i < count;) {
    const t0 = Date.now();
    try {
      const r = await allocateOnHost(registry, { name: `${prefix}-${i}`, holder });
      out({
        i,
        name: r.allocation.name,
        uid: r.allocation.uid.start,
        gid: r.allocation.gid.start,
        created: r.created,
        t: t0,
        ms: Date.now() - t0,
      });
      i++;
      if (pace > 0) await sleep(pace);
    } catch (e) {
      if (!isFsidmapError(e)) throw e;
      out({ i, error: e.code, message: e.message, t: t0, ms: Date.now() - t0 });
      await sleep(200);
    }
  }
  await registry.close();
  out({ done: true });

  async function openWithRetry() {
    for (;;) {
      try {
        return await openRegistry();
      } catch (e) {
        if (!isFsidmapError(e)) throw e;
        out({ open: true, error: e.code, message: e.message, t: Date.now() });
        await sleep(200);
      }
    }
  }
}

const [a, b, c] = process.argv.slice(2);
if (a === '--hold-scope') await holdScope(Number(b));
else await allocate(a, Number(b), Number(c ?? 0));
