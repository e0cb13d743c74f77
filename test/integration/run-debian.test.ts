// A real distribution, not only a toy tree: a Debian minbase rootfs stored on
// disk at 300000+, running real programs in two containers at once.
import assert from 'node:assert/strict';
import { chownSync, existsSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunSpec, startContainer } from '../../src/container/index.js';
import { parseMap } from '../../src/idmap/index.js';
import { countEntries, debianRootfs, debianSkip } from './support/debian-image.js';
import { collect, marker, mountsUnder, processesWith, rootSkip, tempDir, until } from './support/run-fixtures.js';

const pair = (spec: string) => {
  const m = parseMap(spec);
  return { uid: m, gid: m };
};

function section(out: string, name: string): string {
  const m = new RegExp(`== ${name}\\n([\\s\\S]*?)(?:\\n== |$)`).exec(out);
  return m ? m[1].trim() : '';
}

describe('a Debian rootfs stored at 300000+, two containers at once', { skip: rootSkip ?? debianSkip, timeout: 15 * 60_000 }, () => {
  let rootfs: string;
  let tmp: ReturnType<typeof tempDir>;
  let shared: string;
  const made: string[] = [];
  before(async () => {
    rootfs = await debianRootfs(300000);
    tmp = tempDir('debian');
    process.env.FSIDMAP_RUN_DIR = join(tmp.dir, 'run');
    shared = join(tmp.dir, 'shared');
    mkdirSync(shared);
    chownSync(shared, 300000, 300000);
  });
  after(() => {
    // The image is a shared cache: take back what the containers wrote into it.
    for (const f of made) rmSync(f, { force: true });
    assert.deepEqual(mountsUnder(tmp.dir), []);
    tmp.remove();
  });

  it('is a real image: thousands of entries, owned on disk by 300000+ (root 300000, shadow group 300042)', () => {
    assert.ok(countEntries(rootfs) > 5000);
    const shadow = lstatSync(join(rootfs, 'etc/shadow'));
    assert.deepEqual([shadow.uid, shadow.gid, shadow.mode & 0o777], [300000, 300042, 0o640]);
    assert.equal(lstatSync(join(rootfs, 'usr/bin/su')).mode & 0o4000, 0o4000, 'su keeps its setuid bit');
  });

  it('runs a shell, dpkg, apt-get and su in containers 0:100000 and 0:200000 at the same time', async () => {
    const tag = marker('debian');
    const script = (who: string) => `
touch /mnt/up-${who}
while [ ! -e /mnt/up-A ] || [ ! -e /mnt/up-B ]; do sleep 0.05; done
echo "== sh"; echo $((6 * 7))
echo "== id"; id -u; id -un
echo "== dpkg"; dpkg -s bash | grep -E '^(Package|Status):'
echo "== apt"; apt-get --version | head -n 1
echo "== shadow-owner"; stat -c '%u:%g %a' /etc/shadow
echo "== shadow-root"; head -n 1 /etc/shadow | cut -d: -f1
echo "== shadow-user"; su -s /bin/sh www-data -c 'id -un; cat /etc/shadow' 2>&1; echo "status $?"
echo "== create"; echo ${who} > /root/${tag}-${who}; stat -c '%u:%g' /root/${tag}-${who}
: ${tag}`;
    const spec = (who: string, idmap: string): RunSpec => ({
      name: `${tag}-${who}`,
      ids: { kind: 'maps', maps: pair(idmap) },
      fs: { kind: 'maps', maps: pair('0:300000:65536') },
      rootfs,
      volumes: [{ source: shared, target: '/mnt', readonly: false, fsidmap: null }],
      command: ['/bin/sh', '-c', script(who)],
    });
    made.push(join(rootfs, 'root', `${tag}-A`), join(rootfs, 'root', `${tag}-B`));
    const a = await startContainer(spec('A', '0:100000:65536'), { stdio: ['ignore', 'pipe', 'pipe'] });
    const b = await startContainer(spec('B', '0:200000:65536'), { stdio: ['ignore', 'pipe', 'pipe'] });
    const [ra, rb] = await Promise.all([collect(a), collect(b)]);
    for (const [who, r] of [
      ['A', ra],
      ['B', rb],
    ] as const) {
      assert.equal(r.code, 0, `${who}: ${r.stderr}`);
      assert.equal(section(r.stdout, 'sh'), '42');
      assert.equal(section(r.stdout, 'id'), '0\nroot');
      assert.equal(section(r.stdout, 'dpkg'), 'Package: bash\nStatus: install ok installed');
      assert.match(section(r.stdout, 'apt'), /^apt \d+\.\d+/);
      assert.equal(section(r.stdout, 'shadow-owner'), '0:42 640', 'on-disk 300000:300042 shows as root:shadow');
      assert.equal(section(r.stdout, 'shadow-root'), 'root', 'root reads /etc/shadow');
      assert.match(section(r.stdout, 'shadow-user'), /^www-data\ncat: \/etc\/shadow: Permission denied\nstatus 1$/, 'www-data may not');
      assert.equal(section(r.stdout, 'create'), '0:0');
      const st = lstatSync(join(rootfs, 'root', `${tag}-${who}`));
      assert.deepEqual([st.uid, st.gid], [300000, 300000], 'lands on disk at 300000');
    }
    await until('no process of the containers', () => processesWith(tag).length === 0);
    assert.equal(existsSync(join(shared, 'up-A')) && existsSync(join(shared, 'up-B')), true);
  });
});
