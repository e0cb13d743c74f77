// fsidmap serve on the PostgreSQL store, in the browser: the page shows the
// allocations, follows a new one without reloading, and answers as who.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { type Browser, browserSkipReason, launchBrowser } from '../support/browser.js';
import { type PgCluster, pgSkipReason, startCluster } from '../support/pg-cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', '..', 'src', 'cli', 'main.js');
const skip = browserSkipReason() ?? pgSkipReason();

let cluster: PgCluster;
let dbUrl: string;
let server: ChildProcess;
let browser: Browser;
let page: Page;

function cli(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, FSIDMAP_DB: dbUrl } });
  assert.equal(r.status, 0, `fsidmap ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

if (skip) {
  test('serve on PostgreSQL', { skip }, () => {});
} else {
  before(async () => {
    cluster = await startCluster();
    dbUrl = await cluster.createDatabase();
    cli(['alloc', 'pg-web']);
    cli(['alloc', 'pg-img', '--kind', 'image']);
    server = spawn(process.execPath, [CLI, 'serve', '--db', dbUrl, '--json', '--interval', '250'], {
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      server.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve((JSON.parse(out) as { url: string }).url);
      });
      server.stderr!.on('data', (d) => {
        err += d;
      });
      server.once('exit', (code) => reject(new Error(`fsidmap serve exited ${code}: ${err}`)));
    });
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await page.goto(url);
    await page.waitForSelector('body[data-ready="1"]');
  });

  after(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    cluster?.stop();
  });

  test("serve on PostgreSQL: the allocations, a new one live, and who's answer", async () => {
    const names = () =>
      page.locator('#in-view tr[data-name]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name).sort());
    assert.deepEqual(await names(), ['pg-img', 'pg-web']);
    assert.match((await page.locator('#source').textContent())!, /^postgres postgres:\/\/.*\(read-only\)$/);
    cli(['alloc', 'pg-late']);
    await page.waitForSelector('#in-view tr[data-name="pg-late"]', { timeout: 20000 });
    const id = (JSON.parse(cli(['show', 'pg-late', '--json'])) as { uid: { start: number } }).uid.start + 11;
    await page.fill('#search', String(id));
    await page.press('#search', 'Enter');
    await page.waitForSelector(`#who-answer[data-id="${id}"]`);
    assert.equal(await page.locator('#who-answer').textContent(), cli(['who', String(id)]).trimEnd());
  });
}
