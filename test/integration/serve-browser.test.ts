// fsidmap serve and report --html in a real browser (Debian's Chromium via
// playwright-core): the server runs as user nobody on a registry root wrote
// (read-only access only), two real containers share an image through
// their fsid maps, /etc comes from a fixture with an overlap and a hostile
// owner name, and the registry holds a name written past the API's checks.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { type Browser, browserSkipReason, launchBrowser } from '../support/browser.js';
import { decodePng } from '../support/png.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', '..', 'src', 'cli', 'main.js');
const root = process.getuid?.() === 0;
const skip = browserSkipReason() ?? (root ? undefined : 'needs root: the server runs as nobody and the containers are real');

const HOSTILE_NAME = '<script>window.__pwned=1</script>';
const HOSTILE_OWNER = '<img src=x onerror="window.__pwned=2">';
const COLORS = { container: [0x2f, 0x6f, 0xdf], image: [0xd9, 0x48, 0x0f], error: [0xe0, 0x31, 0x31] };

interface Alloc {
  name: string;
  uid: { start: number; count: number };
  gid: { start: number; count: number };
}

let dir: string;
let db: string;
let etc: string;
let runDir: string;
let env: NodeJS.ProcessEnv;
let server: ChildProcess | undefined;
let url: string;
let browser: Browser;
let page: Page;
const containers: ChildProcess[] = [];
const allocs = new Map<string, Alloc>();
const pageErrors: string[] = [];

function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...env, ...extraEnv } });
  assert.equal(r.status, 0, `fsidmap ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function alloc(name: string, ...flags: string[]): Alloc {
  const a = JSON.parse(cli(['alloc', name, '--json', ...flags])) as Alloc;
  allocs.set(name, a);
  return a;
}

/** A row the API would refuse (its name has < and spaces), written as another tool or a hostile peer could. */
function insertHostileRow(): Alloc {
  const h = new Database(db);
  try {
    for (let slot = 0x6fff0000; ; slot -= 0x10000) {
      try {
        h.prepare(
          `INSERT INTO allocations (realm_id, name, kind, scope_key, uid_start, uid_count, gid_start, gid_count, created_at)
          VALUES (1, ?, 'container', -1, ?, 65536, ?, 65536, ?)`,
        ).run(HOSTILE_NAME, slot, slot, new Date().toISOString());
        return { name: HOSTILE_NAME, uid: { start: slot, count: 65536 }, gid: { start: slot, count: 65536 } };
      } catch (e) {
        if (!/FSIDMAP_OVERLAP/.test(String(e))) throw e;
      }
    }
  } finally {
    h.close();
  }
}

async function waitFor(what: string, check: () => boolean, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startContainer(name: string): ChildProcess {
  const c = spawn(process.execPath, [CLI, 'run', '--name', name, '--allocate', '--fs', 'img', '--', 'sleep', '600'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  c.stderr!.on('data', (d) => {
    err += d;
  });
  c.on('exit', (code) => {
    if (code !== null && code !== 0 && code !== 143) process.stderr.write(`container ${name} exited ${code}: ${err}\n`);
  });
  containers.push(c);
  return c;
}

function running(name: string): boolean {
  try {
    const s = JSON.parse(readFileSync(join(runDir, 'containers', `${name}.json`), 'utf8')) as { initPid: number | null };
    return s.initPid !== null;
  } catch {
    return false;
  }
}

/** The RGB of the strip's pixel at the middle of the data area, in lane `lane`. */
async function centrePixel(lane: number): Promise<number[]> {
  const canvas = page.locator('#strip');
  const { gutter, lanes, width } = await canvas.evaluate((c: HTMLCanvasElement) => ({
    gutter: Number(c.dataset.gutter),
    lanes: JSON.parse(c.dataset.lanes!) as [number, number][],
    width: c.clientWidth,
  }));
  const img = decodePng(await canvas.screenshot());
  const x = Math.floor(gutter + (width - gutter) / 2);
  const y = Math.floor(lanes[lane][0] + lanes[lane][1] / 2);
  return img.pixel(x, y).slice(0, 3);
}

/** Shows first..last in the middle third of the strip (the page's own #range link) and waits for the redraw. */
async function showRange(first: number, last: number, side = 'uid'): Promise<void> {
  const before = await page.locator('#strip').getAttribute('data-draws');
  await page.evaluate((h) => {
    location.hash = h;
  }, `#range=${first}-${last}&side=${side}`);
  await page.waitForFunction((b) => document.getElementById('strip')!.dataset.draws !== b, before);
}

if (skip) {
  test('serve in a browser', { skip }, () => {});
} else {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fsidt5-serve-'));
    chmodSync(dir, 0o755);
    db = join(dir, 'registry.db');
    runDir = join(dir, 'run');
    mkdirSync(runDir, { mode: 0o755 });
    etc = join(dir, 'host');
    mkdirSync(join(etc, 'etc'), { recursive: true, mode: 0o755 });
    writeFileSync(
      join(etc, 'etc', 'passwd'),
      'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\nnobody:x:65534:65534::/:/usr/sbin/nologin\n',
    );
    writeFileSync(join(etc, 'etc', 'group'), 'root:x:0:\nalice:x:1000:\nbob:x:1001:\nnogroup:x:65534:\n');
    // bob's range overlaps alice's (an error finding); the third owner is a name someone chose to attack the page with.
    const subids = `alice:100000:65536\nbob:150000:65536\n${HOSTILE_OWNER}:300000:65536\n`;
    writeFileSync(join(etc, 'etc', 'subuid'), subids);
    writeFileSync(join(etc, 'etc', 'subgid'), subids);
    env = { PATH: process.env.PATH, FSIDMAP_DB: db, FSIDMAP_RUN_DIR: runDir, HOME: dir };
    alloc('web-a');
    alloc('img', '--kind', 'image');
    alloc('app', '--fs', 'img');
    allocs.set(HOSTILE_NAME, insertHostileRow());
    startContainer('c1');
    startContainer('c2');
    await waitFor('containers c1 and c2 to run', () => running('c1') && running('c2'), 30000);
    for (const name of ['c1', 'c2']) allocs.set(name, JSON.parse(cli(['show', name, '--json'])) as Alloc);

    // The server as nobody: it may read the registry (0644 in a 0755 directory) and nothing else.
    server = spawn(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        '--',
        process.execPath,
        CLI,
        'serve',
        '--db',
        db,
        '--root',
        etc,
        '--json',
        '--interval',
        '250',
      ],
      { env: { PATH: process.env.PATH, FSIDMAP_RUN_DIR: runDir, HOME: '/' }, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    server.stdout!.on('data', (d) => {
      out += d;
    });
    server.stderr!.on('data', (d) => {
      err += d;
    });
    await waitFor(`fsidmap serve to print its URL (stderr: ${err})`, () => out.includes('\n') || server!.exitCode !== null);
    assert.equal(server.exitCode, null, `fsidmap serve exited: ${err}`);
    const started = JSON.parse(out) as { url: string; local: boolean; readOnly: boolean };
    assert.equal(started.local, true);
    assert.equal(started.readOnly, true);
    url = started.url;
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on('pageerror', (e) => {
      pageErrors.push(e.message);
    });
    await page.goto(url);
    await page.waitForSelector('body[data-ready="1"]');
  });

  after(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
    for (const c of containers) c.kill('SIGTERM');
    await Promise.all(
      [server, ...containers]
        .filter((p): p is ChildProcess => p !== undefined && p.exitCode === null && p.signalCode === null)
        .map((p) => new Promise((r) => p.once('exit', r))),
    );
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('serve: the page lists the allocations, hostile names as text, and nothing of theirs runs', async () => {
    const names = await page.locator('#in-view tr[data-name]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name));
    assert.deepEqual([...names].sort(), [...allocs.keys()].sort());
    const web = allocs.get('web-a')!;
    const row = page.locator('#in-view tr[data-name="web-a"] td');
    assert.deepEqual((await row.allTextContents()).slice(0, 4), [
      'web-a',
      'container',
      `${web.uid.start}:65536`,
      `${web.uid.start}-${web.uid.start + 65535}`,
    ]);
    assert.equal(await page.locator('#in-view tr', { hasText: HOSTILE_NAME }).count(), 1, 'the name shows literally');
    assert.ok((await page.locator('#audit').textContent())!.includes(HOSTILE_OWNER), 'the subuid owner shows literally');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.equal(await page.locator('main script, main img, #audit img').count(), 0);
  });

  test("serve: pixels at an allocation have its holder kind's colour, and hovering names it with START:COUNT and FIRST-LAST", async () => {
    const web = allocs.get('web-a')!;
    await showRange(web.uid.start, web.uid.start + 65535);
    assert.deepEqual(await centrePixel(0), COLORS.container);
    const img = allocs.get('img')!;
    await showRange(img.uid.start, img.uid.start + 65535);
    assert.deepEqual(await centrePixel(0), COLORS.image);
    const box = (await page.locator('#strip').boundingBox())!;
    const { gutter, lanes } = await page.locator('#strip').evaluate((c: HTMLCanvasElement) => ({
      gutter: Number(c.dataset.gutter),
      lanes: JSON.parse(c.dataset.lanes!) as [number, number][],
    }));
    await page.mouse.move(box.x + gutter + (box.width - gutter) / 2, box.y + lanes[0][0] + lanes[0][1] / 2);
    const tip = (await page.locator('#tip').textContent())!;
    assert.match(tip, /^host uid \d+\nimage img\n/);
    assert.ok(
      tip.includes(`uid ${img.uid.start}:65536`) &&
        tip.includes(`ids ${img.uid.start}-${img.uid.start + 65535}`) &&
        tip.includes('since 20'),
      tip,
    );
  });

  test('serve: running containers with their id maps, fsid maps and who shares the image', async () => {
    const img = allocs.get('img')!;
    for (const [name, other] of [
      ['c1', 'c2'],
      ['c2', 'c1'],
    ]) {
      const cells = await page
        .locator('#containers tr')
        .filter({ has: page.locator('td:first-child', { hasText: new RegExp(`^${name}$`) }) })
        .locator('td')
        .allTextContents();
      const a = allocs.get(name)!;
      assert.deepEqual(cells.slice(0, 5), [
        name,
        `0 ${a.uid.start} 65536 / 0 ${a.gid.start} 65536`,
        `0 ${img.uid.start} 65536 / 0 ${img.gid.start} 65536`,
        'img',
        other,
      ]);
    }
  });

  test('serve: the search answers exactly as fsidmap who does', async () => {
    for (const id of [allocs.get('c1')!.uid.start + 7, 150005, 1000, 65534, 4294967294]) {
      await page.fill('#search', String(id));
      await page.press('#search', 'Enter');
      await page.waitForSelector(`#who-answer[data-id="${id}"]`);
      const shown = (await page.locator('#who-answer').textContent())!;
      assert.equal(shown, cli(['who', String(id), '--root', etc]).trimEnd());
    }
  });

  test('serve: an audit finding is listed and its link shows the range it names', async () => {
    const overlap = page.locator('.finding[data-code="overlap"]', { hasText: '/etc/subuid line 1, 2' });
    assert.equal(await overlap.count(), 1);
    assert.ok((await overlap.textContent())!.includes("alice's 100000–165535 and bob's 150000–215535 overlap"));
    const before = await page.locator('#strip').getAttribute('data-draws');
    await overlap.locator('a').click();
    await page.waitForFunction((b) => document.getElementById('strip')!.dataset.draws !== b, before);
    assert.match(await page.evaluate(() => location.hash), /^#range=150000-165535&side=uid$/);
    assert.deepEqual(await centrePixel(4), COLORS.error, 'the audit lane is red at the overlap');
  });

  test('serve: a new allocation and a stopped container show without a reload', async () => {
    await page.click('#zoom-all');
    await page.evaluate(() => {
      (window as unknown as { __same: boolean }).__same = true;
    });
    alloc('web-late');
    await page.waitForSelector('#in-view tr[data-name="web-late"]', { timeout: 20000 });
    containers[1].kill('SIGTERM');
    await page.waitForFunction(() => !document.getElementById('containers')!.textContent!.includes('c2'), undefined, { timeout: 20000 });
    await page.waitForSelector('#in-view tr[data-name="c2"]', { state: 'detached', timeout: 20000 });
    assert.equal(await page.evaluate(() => (window as unknown as { __same?: boolean }).__same), true, 'the same document: no reload');
  });

  test('serve: read-only and loopback-only over HTTP', async () => {
    const u = new URL(url);
    const get = (path: string, init: RequestInit = {}) => fetch(new URL(path, u), init);
    const home = await get('/');
    assert.match(home.headers.get('content-security-policy')!, /default-src 'none'; script-src 'sha256-/);
    assert.equal((await get('/api/space', { method: 'POST' })).status, 405);
    assert.equal((await get('/api/who?id=12abc')).status, 400);
    assert.equal((await get('/nothing')).status, 404);
    // Node's fetch does not let a caller set Host; a raw request does.
    const raw = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: attacker.example', url], {
      encoding: 'utf8',
    });
    assert.equal(raw.stdout, '421');
    const space = (await (await get('/api/space')).json()) as { source: { readOnly: boolean }; allocations: { extra: unknown[] } };
    assert.equal(space.source.readOnly, true);
    assert.ok(!/machineId|bootId/.test(JSON.stringify(space)), 'no machine or boot ids in the data');
  });

  test('report --html: one file, no request, the same allocations, search from its own data', async () => {
    // Written by nobody too: a report needs no more than read access.
    const r = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, CLI, 'report', '--html', '-', '--db', db, '--root', etc],
      { env: { PATH: process.env.PATH, FSIDMAP_RUN_DIR: runDir, HOME: '/' }, cwd: '/', encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    assert.equal(r.status, 0, r.stderr);
    const file = join(dir, 'report.html');
    writeFileSync(file, r.stdout);
    const p = await browser.context.newPage();
    const requests: string[] = [];
    p.on('request', (q) => {
      requests.push(q.url());
    });
    p.on('pageerror', (e) => {
      pageErrors.push(e.message);
    });
    await p.goto(pathToFileURL(file).href);
    await p.waitForSelector('body[data-ready="1"]');
    assert.deepEqual(requests, [pathToFileURL(file).href], 'nothing but the file itself');
    const names = await p.locator('#in-view tr[data-name]').evaluateAll((rows) => rows.map((x) => (x as HTMLElement).dataset.name));
    assert.deepEqual([...names].sort(), [...[...allocs.keys()].filter((n) => n !== 'c2')].sort());
    assert.equal(await p.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    const id = allocs.get('web-a')!.uid.start + 3;
    await p.fill('#search', String(id));
    await p.press('#search', 'Enter');
    await p.waitForSelector(`#who-answer[data-id="${id}"]`);
    const expected = cli(['who', String(id), '--root', etc])
      .trimEnd()
      .split('\n');
    assert.deepEqual((await p.locator('#who-answer').textContent())!.split('\n'), expected);
    assert.equal(readdirSync(dir).filter((f) => f.startsWith('.report')).length, 0);
    await p.close();
  });

  test('serve and report: the page script threw nothing', () => {
    assert.deepEqual(pageErrors, []);
  });
}
