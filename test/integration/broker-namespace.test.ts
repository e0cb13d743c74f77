import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fstatSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { BrokerClient } from '../../src/broker/client.js';
import { FsidmapError } from '../../src/errors.js';
import { pidfdOpen as openPidfd } from '../../src/kernel/index.js';
import { closeDescriptor } from '../../src/kernel/socket/unix-socket.js';
import { join } from 'node:path';
import { takeCensus } from '../../src/userns-census/index.js';
import { BrokerWorld, type Holder, openFile, repoRoot, rootSkip, sleep, type TestUser } from './support/broker-world.js';

/**
 * User-namespace maps through the broker: written for a namespace the peer
 * owns, by newuidmap's rules; refused — with a reason, an audit line and
 * the namespace's maps left empty — for every other case, including a pid
 * that exited and was reused by someone else's process.
 */
describe('broker namespace maps', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let a: TestUser, b: TestUser;
  let ca: BrokerClient;
  const holders: Holder[] = [];

  const sub = (u: TestUser, count = 65536, off = 0) => `0:${u.sub.start + off}:${count}`;
  const maps = (pid: number) => ({ uid: readFileSync(`/proc/${pid}/uid_map`, 'utf8'), gid: readFileSync(`/proc/${pid}/gid_map`, 'utf8') });
  const holder = async (u: TestUser) => {
    const h = await w.holderOf(u);
    holders.push(h);
    return h;
  };

  before(async () => {
    w = await BrokerWorld.create({ users: 2, limits: { default: { requestsPerSecond: 10000, burst: 10000 }, users: {} } });
    [a, b] = w.users;
    ca = await w.connectAs(a);
  });

  after(async () => {
    ca?.close();
    for (const h of holders) await h.kill();
    const left = w ? await w.leftovers() : { mounts: [], processes: [], registry: [] };
    await w?.destroy();
    assert.deepEqual(left, { mounts: [], processes: [], registry: [] }, 'mounts, helper processes or registry entries were left behind');
  });

  async function refused(p: () => Promise<unknown>, code: string, rule?: RegExp): Promise<void> {
    const before = w.audit().length;
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof FsidmapError, String(e));
      assert.equal(e.code, code, e.message);
      return true;
    });
    const lines = w.auditOf(a, before);
    assert.equal(lines.length, 1, 'one audit line per request');
    assert.equal(lines[0].decision, 'refused');
    assert.equal(lines[0].code, code);
    if (rule) assert.match(`${lines[0].reason} ${JSON.stringify(lines[0])}`, rule);
  }

  it("writes the maps of the peer's own namespace from its subordinate ranges", async () => {
    const h = await holder(a);
    const r = await ca.setMaps(h.nsFd, h.pidfd, { uid: sub(a), gid: sub(a) });
    assert.equal(r.setgroups, 'allow', 'a subordinate gid range keeps setgroups allowed, as newgidmap does');
    const m = maps(h.pid);
    assert.match(m.uid, new RegExp(`^\\s+0\\s+${a.sub.start}\\s+65536\\n$`));
    assert.match(m.gid, new RegExp(`^\\s+0\\s+${a.sub.start}\\s+65536\\n$`));
    assert.equal(readFileSync(`/proc/${h.pid}/setgroups`, 'utf8').trim(), 'allow');
    const line = w.audit().at(-1)!;
    assert.equal(line.decision, 'allowed');
    assert.equal(line.op, 'setmaps');
  });

  it("maps the peer's own uid and gid alone, and then forces setgroups to deny", async () => {
    const h = await holder(a);
    const r = await ca.setMaps(h.nsFd, h.pidfd, { uid: `0 ${a.uid} 1`, gid: `0 ${a.gid} 1` });
    assert.equal(r.setgroups, 'deny');
    assert.equal(readFileSync(`/proc/${h.pid}/setgroups`, 'utf8').trim(), 'deny');
    const h2 = await holder(a);
    await refused(
      () => ca.setMaps(h2.nsFd, h2.pidfd, { uid: `0 ${a.uid} 1`, gid: `0 ${a.gid} 1`, setgroups: 'allow' }),
      'ERR_BROKER_SETGROUPS',
    );
    assert.deepEqual(maps(h2.pid), { uid: '', gid: '' });
  });

  it("refuses ids of another user's range, of root, and the own uid with a count above 1", async () => {
    const h = await holder(a);
    await refused(
      () => ca.setMaps(h.nsFd, h.pidfd, { uid: sub(b), gid: sub(a) }),
      'ERR_BROKER_IDS_NOT_OWNED',
      /not allowed|not yours|held by/,
    );
    await refused(() => ca.setMaps(h.nsFd, h.pidfd, { uid: sub(a), gid: sub(b) }), 'ERR_BROKER_IDS_NOT_OWNED');
    await refused(() => ca.setMaps(h.nsFd, h.pidfd, { uid: '0 0 1', gid: sub(a) }), 'ERR_BROKER_IDS_NOT_OWNED');
    await refused(() => ca.setMaps(h.nsFd, h.pidfd, { uid: `0 ${a.uid} 2`, gid: sub(a) }), 'ERR_BROKER_IDS_NOT_OWNED');
    // Straddling the end of the range by one id.
    await refused(
      () => ca.setMaps(h.nsFd, h.pidfd, { uid: `0:${a.sub.start + 1}:${a.sub.count}`, gid: sub(a) }),
      'ERR_BROKER_IDS_NOT_OWNED',
    );
    await refused(() => ca.setMaps(h.nsFd, h.pidfd, { uid: '0 x 1', gid: sub(a) }), 'ERR_IDMAP_JUNK');
    assert.deepEqual(maps(h.pid), { uid: '', gid: '' }, 'nothing was written');
  });

  it('agrees with newuidmap and newgidmap, run by the same user, on what it may map and what gets written', async () => {
    const s = a.sub.start;
    const cases: Array<[uid: string, gid: string]> = [
      [`0 ${s} 65536`, `0 ${s} 65536`],
      [`0 ${s} 131072`, `0 ${s} 1`],
      [`0 ${s} 65536 65536 ${s + 65536} 65536`, `0 ${a.gid} 1`],
      [`0 ${a.uid} 1`, `0 ${a.gid} 1`],
      [`0 ${s} 1000 1000 ${a.uid} 1`, `0 ${s} 1000 1000 ${a.gid} 1`],
      [`0 ${a.uid} 2`, `0 ${a.gid} 1`],
      [`0 ${s + 1} 131072`, `0 ${s} 1`],
      [`0 ${b.sub.start} 10`, `0 ${s} 10`],
      [`0 ${s} 10`, `0 ${b.sub.start} 10`],
      ['0 0 1', `0 ${s} 1`],
      [`0 ${s} 10`, '0 0 1'],
      [`0 ${s} 10 5 ${s + 20} 10`, `0 ${s} 10`],
      [`0 ${s} 10 20 ${s + 5} 10`, `0 ${s} 10`],
      [`0 ${b.uid} 1`, `0 ${a.gid} 1`],
    ];
    for (const [uid, gid] of cases) {
      const viaTools = await holder(a);
      const g = await w.runAs(a, ['newgidmap', String(viaTools.pid), ...gid.split(' ')]);
      const u = g.code === 0 ? await w.runAs(a, ['newuidmap', String(viaTools.pid), ...uid.split(' ')]) : { code: -1, stderr: '' };
      const toolsOk = g.code === 0 && u.code === 0;
      const viaBroker = await holder(a);
      let brokerOk = true;
      try {
        const lines = (args: string) =>
          args
            .split(' ')
            .map((x, i) => (i % 3 === 2 ? `${x}\n` : `${x} `))
            .join('');
        await ca.setMaps(viaBroker.nsFd, viaBroker.pidfd, { uid: lines(uid), gid: lines(gid) });
      } catch (e) {
        assert.ok(e instanceof FsidmapError, String(e));
        brokerOk = false;
      }
      assert.equal(
        brokerOk,
        toolsOk,
        `uid "${uid}", gid "${gid}": newgidmap ${g.code} ${g.stderr.trim()} / newuidmap ${u.code} ${u.stderr.trim()}`,
      );
      if (toolsOk) {
        assert.deepEqual(maps(viaBroker.pid), maps(viaTools.pid), 'the same maps are installed');
        assert.equal(
          readFileSync(`/proc/${viaBroker.pid}/setgroups`, 'utf8'),
          readFileSync(`/proc/${viaTools.pid}/setgroups`, 'utf8'),
          'the same setgroups',
        );
      } else {
        assert.deepEqual(maps(viaBroker.pid), { uid: '', gid: '' }, 'nothing written on refusal');
      }
      await viaTools.kill();
      await viaBroker.kill();
      holders.splice(holders.indexOf(viaTools), 1);
      holders.splice(holders.indexOf(viaBroker), 1);
    }
  });

  it('refuses a namespace owned by another user', async () => {
    const hb = await holder(b);
    await refused(() => ca.setMaps(hb.nsFd, hb.pidfd, { uid: sub(a), gid: sub(a) }), 'ERR_BROKER_NAMESPACE', /not-owner/);
    await refused(() => ca.setMaps(hb.nsFd, hb.pidfd, { uid: sub(b), gid: sub(b) }), 'ERR_BROKER_NAMESPACE', /not-owner/);
    assert.deepEqual(maps(hb.pid), { uid: '', gid: '' });
  });

  it('refuses a pidfd of a process outside the namespace sent', async () => {
    const ha = await holder(a),
      hb = await holder(b);
    await refused(() => ca.setMaps(ha.nsFd, hb.pidfd, { uid: sub(a), gid: sub(a) }), 'ERR_BROKER_NAMESPACE', /namespace-mismatch/);
    assert.deepEqual(maps(ha.pid), { uid: '', gid: '' });
    assert.deepEqual(maps(hb.pid), { uid: '', gid: '' });
  });

  it("refuses a pid that exited and was reused by another user's process", async () => {
    // A's namespace stays alive through its descriptor; its process exits and is reaped.
    const h = await holder(a);
    const deadPid = h.pid;
    await h.exit();
    // B's new process takes the same pid: ns_last_pid makes the kernel hand it out next.
    let reused: { pid: number; kill(): void } | null = null;
    for (let attempt = 0; attempt < 200 && !reused; attempt++) {
      writeFileSync('/proc/sys/kernel/ns_last_pid', String(deadPid - 1));
      const p = spawn(
        'setpriv',
        [`--reuid=${b.uid}`, `--regid=${b.gid}`, '--init-groups', '--', 'unshare', '--user', '--', 'sleep', '600'],
        { stdio: 'ignore' },
      );
      if (p.pid === deadPid) reused = { pid: p.pid, kill: () => p.kill('SIGKILL') };
      else p.kill('SIGKILL');
      await sleep(attempt < 20 ? 1 : 20);
    }
    assert.ok(reused, `pid ${deadPid} could not be reused (other processes took it first)`);
    try {
      await sleep(50); // let B's process unshare
      await refused(() => ca.setMaps(h.nsFd, h.pidfd, { uid: sub(a), gid: sub(a) }), 'ERR_BROKER_NAMESPACE', /process-exited/);
      assert.deepEqual(maps(reused.pid), { uid: '', gid: '' }, 'the process that reused the pid was not touched');
    } finally {
      reused.kill();
    }
  });

  it('refuses a namespace nested in another (its maps are written from its parent)', async () => {
    const child = w.spawnAs(a, ['unshare', '--user', '--map-root-user', '--', 'unshare', '--user', '--', 'sleep', '600'], {
      stdio: 'ignore',
    });
    try {
      let nsFd = -1;
      for (let i = 0; i < 500; i++) {
        try {
          if (readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim() === 'sleep') {
            nsFd = openFile(`/proc/${child.pid}/ns/user`);
            break;
          }
        } catch {
          /* not yet */
        }
        await sleep(5);
      }
      assert.ok(nsFd >= 0, 'the nested namespace appeared');
      const pidfd = openPidfd(child.pid!);
      try {
        await refused(() => ca.setMaps(nsFd, pidfd, { uid: sub(a), gid: sub(a) }), 'ERR_BROKER_NAMESPACE', /nested/);
      } finally {
        closeDescriptor(nsFd);
        closeDescriptor(pidfd);
      }
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses wrong descriptors: none, a regular file, the pidfd first', async () => {
    const h = await holder(a);
    await refused(() => ca.request('setmaps', { uidMap: sub(a), gidMap: sub(a) }), 'ERR_BROKER_FDS', /takes 2/);
    const file = openFile('/etc/hostname');
    try {
      await refused(() => ca.request('setmaps', { uidMap: sub(a), gidMap: sub(a) }, [file, h.pidfd]), 'ERR_BROKER_FDS', /a file/);
    } finally {
      closeDescriptor(file);
    }
    await refused(() => ca.request('setmaps', { uidMap: sub(a), gidMap: sub(a) }, [h.pidfd, h.nsFd]), 'ERR_BROKER_FDS', /first/);
    await refused(() => ca.request('hello', {}, [h.nsFd]), 'ERR_BROKER_FDS', /takes 0/);
    assert.deepEqual(maps(h.pid), { uid: '', gid: '' });
  });

  it('counts running namespaces against the per-user limit, and frees a slot when one ends', async () => {
    writeFileSync(
      w.limitsPath,
      JSON.stringify({ default: { requestsPerSecond: 10000, burst: 10000 }, users: { [a.name]: { namespaces: 2 } } }),
    );
    await w.stopBroker();
    ca.close();
    for (const h of holders.splice(0)) await h.kill();
    await w.startBroker();
    ca = await w.connectAs(a);
    const hello = await ca.hello();
    assert.equal(hello.limits.namespaces, 2, 'the limits file applies to the user by name');
    assert.equal(hello.usage.namespaces, 0);
    const h1 = await holder(a),
      h2 = await holder(a),
      h3 = await holder(a);
    await ca.setMaps(h1.nsFd, h1.pidfd, { uid: sub(a, 1000), gid: sub(a, 1000) });
    await ca.setMaps(h2.nsFd, h2.pidfd, { uid: sub(a, 1000), gid: sub(a, 1000) });
    await refused(() => ca.setMaps(h3.nsFd, h3.pidfd, { uid: sub(a, 1000), gid: sub(a, 1000) }), 'ERR_BROKER_LIMIT', /namespaces/);
    assert.deepEqual(maps(h3.pid), { uid: '', gid: '' });
    await h1.kill();
    holders.splice(holders.indexOf(h1), 1);
    let freed = false;
    for (let i = 0; i < 100 && !freed; i++) {
      freed = (await ca.hello()).usage.namespaces === 1;
      if (!freed) await sleep(20);
    }
    assert.ok(freed, "the broker noticed the namespace's process exit");
    const r = await ca.setMaps(h3.nsFd, h3.pidfd, { uid: sub(a, 1000), gid: sub(a, 1000) });
    assert.equal(r.setgroups, 'allow');
  });

  it('keeps counting a namespace named by a short-lived process while another process keeps it, maps written', async () => {
    for (const h of holders.splice(0)) await h.kill();
    for (let i = 0; i < 150 && (await ca.hello()).usage.namespaces !== 0; i++) await sleep(20);
    assert.equal((await ca.hello()).usage.namespaces, 0);
    // Q names the namespace and exits; P, in the same namespace, lives on.
    const q = w.spawnAs(a, ['unshare', '--user', '--', 'sh', '-c', 'sleep 600 & exec sleep 601'], { stdio: 'ignore' });
    const own = readFileSync('/proc/self/uid_map', 'utf8');
    let p = 0;
    for (let i = 0; i < 250 && p === 0; i++) {
      await sleep(10);
      try {
        if (readFileSync(`/proc/${q.pid}/uid_map`, 'utf8') === own) continue;
        p = Number(readFileSync(`/proc/${q.pid}/task/${q.pid}/children`, 'utf8').trim().split(' ')[0] || 0);
      } catch {
        /* not yet */
      }
    }
    assert.ok(p > 0, 'the second process of the namespace');
    const nsFd = openFile(`/proc/${q.pid}/ns/user`);
    const pidfd = openPidfd(q.pid!);
    await ca.setMaps(nsFd, pidfd, { uid: sub(a, 1000), gid: sub(a, 1000) });
    closeDescriptor(nsFd);
    closeDescriptor(pidfd);
    const exited = new Promise((r) => q.once('exit', r));
    q.kill('SIGKILL');
    await exited;
    await sleep(300);
    assert.notEqual(readFileSync(`/proc/${p}/uid_map`, 'utf8'), '', 'the maps stay written in the namespace P keeps');
    for (let i = 0; i < 5; i++) {
      assert.equal((await ca.hello()).usage.namespaces, 1, 'still counted: the namespace exists');
      await sleep(50);
    }
    process.kill(p, 'SIGKILL');
    let freed = false;
    for (let i = 0; i < 150 && !freed; i++) {
      freed = (await ca.hello()).usage.namespaces === 0;
      if (!freed) await sleep(20);
    }
    assert.ok(freed, 'no longer counted once the namespace is gone');
  });
  it('keeps counting a namespace whose only holder is a descriptor in flight, which no census sees', async () => {
    for (const h of holders.splice(0)) await h.kill();
    for (let i = 0; i < 150 && (await ca.hello()).usage.namespaces !== 0; i++) await sleep(20);
    assert.equal((await ca.hello()).usage.namespaces, 0);
    const h = await holder(a);
    await ca.setMaps(h.nsFd, h.pidfd, { uid: sub(a, 1000), gid: sub(a, 1000) });
    const ino = fstatSync(h.nsFd).ino;
    // A sends the namespace into a socket pair of its own and closes it; then its process exits.
    const keeper = w.spawnAs(
      a,
      [process.execPath, join(repoRoot, 'dist/test/integration/support/ns-keeper.js'), 'inflight', String(h.pid)],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    keeper.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise((r) => keeper.once('exit', r));
    for (let i = 0; i < 500 && !out.includes('ready'); i++) await sleep(10);
    assert.match(out, /ready/);
    await h.kill();
    holders.splice(holders.indexOf(h), 1);
    assert.ok(!(await takeCensus({ ledger: false })).namespaces.some((n) => n.inode === ino), 'the /proc walk does not see it');
    for (let i = 0; i < 5; i++) {
      assert.equal((await ca.hello()).usage.namespaces, 1, 'still counted: the namespace exists, in flight');
      await sleep(100);
    }
    keeper.stdin!.write('go\n');
    await exited;
    assert.match(out, new RegExp(`got user:\\[${ino}\\]`), 'A had it all along');
    let freed = false;
    for (let i = 0; i < 150 && !freed; i++) {
      freed = (await ca.hello()).usage.namespaces === 0;
      if (!freed) await sleep(20);
    }
    assert.ok(freed, 'no longer counted once the namespace is gone');
  });
});
