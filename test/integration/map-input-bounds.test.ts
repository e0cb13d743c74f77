// Issue 14: map show --normalize takes any number of lines; map check - stops reading at the kernel's write limit.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, cliPath, tempDir } from './support/run-fixtures.js';

const lines = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i) + '\n').join('');

/** The CLI with an endless writer on its stdin: how many bytes the writer got out before the CLI stopped reading and exited. */
function withEndlessStdin(args: string[]): Promise<{ code: number; stdout: string; stderr: string; written: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '',
      written = 0;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const chunk = Buffer.from(lines(4096, (i) => `${i} ${100000 + i} 1`));
    child.stdin.on('error', () => {
      /* EPIPE: the CLI stopped reading, which is the point */
    });
    const pump = () => {
      while (!child.stdin.destroyed && child.stdin.write(chunk)) written += chunk.length;
      if (!child.stdin.destroyed) written += chunk.length;
    };
    child.stdin.on('drain', pump);
    pump();
    child.on('close', (code) => {
      child.stdin.destroy();
      resolve({ code: code ?? -1, stdout, stderr, written });
    });
  });
}

describe('map input bounds', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir('map-bounds');
  });
  after(() => tmp.remove());

  it('map show --normalize merges 500,000 adjacent one-id lines, from a file and from stdin', async () => {
    const text = lines(500000, (i) => `${i} ${100000 + i} 1`);
    const file = join(tmp.dir, 'adjacent');
    writeFileSync(file, text);
    const want = '         0     100000     500000\n';
    const f = await cli(['map', 'show', '--normalize', file]);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(f.stdout, want);
    const s = await cli(['map', 'show', '--normalize', '-'], {}, text);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, want);
    // Unmerged, it is no kernel map: refused at line 341, as the kernel would.
    const raw = await cli(['map', 'show', file]);
    assert.equal(raw.code, 2);
    assert.match(raw.stderr, /line 341: more than 340 lines/);
  });

  it('map show --normalize refuses what stays over 340 lines, and names an overlap among many lines', async () => {
    const gaps = join(tmp.dir, 'gaps');
    writeFileSync(
      gaps,
      lines(500, (i) => `${2 * i} ${100000 + 2 * i} 1`),
    );
    const g = await cli(['map', 'show', '--normalize', gaps]);
    assert.equal(g.code, 2);
    assert.match(g.stderr, /after merging adjacent lines 500 remain; the kernel holds at most 340/);
    const over = join(tmp.dir, 'overlap');
    writeFileSync(over, lines(1000, (i) => `${i} ${100000 + i} 1`) + '999 900000 1\n');
    const o = await cli(['map', 'show', '--normalize', over]);
    assert.equal(o.code, 2);
    assert.match(o.stderr, /line 1001: ids 999 inside the namespace overlap line 1000/);
  });

  it('map check - stops reading at the 4096-byte write limit: an endless stdin gets an answer', { timeout: 120000 }, async () => {
    const r = await withEndlessStdin(['map', 'check', '--json', '-']);
    assert.equal(r.code, 1, r.stderr);
    const v = JSON.parse(r.stdout) as { ok: boolean; rule: string; message: string };
    assert.equal(v.ok, false);
    assert.equal(v.rule, 'write-too-long');
    assert.match(v.message, /more than 4096 bytes; read no further/);
    // What the pipe and Node's buffers took before the CLI stopped; unbounded, the writer would never stop.
    assert.ok(r.written < 16 * 1024 * 1024, `${r.written} bytes written`);
  });

  it('map check - at the limit: 4095 bytes are checked, 4096 are too long (as the kernel), 4097 are cut', async () => {
    // 315 lines of "i 100000+i 1" is 4,074 bytes; padding the last count with leading zeros reaches the sizes asked.
    const base = lines(314, (i) => `${i} ${100000 + i} 1`) + `314 100314 `;
    const sized = (n: number) => base + '1'.padStart(n - base.length - 1, '0') + '\n';
    for (const [n, ok, what] of [
      [4095, true, /accept/],
      [4096, false, /the write is 4096 bytes/],
      [4097, false, /more than 4096 bytes; read no further/],
    ] as const) {
      const text = sized(n);
      assert.equal(Buffer.byteLength(text), n);
      const r = await cli(['map', 'check', '-'], {}, text);
      assert.equal(r.code, ok ? 0 : 1, r.stderr);
      assert.match(ok ? r.stdout : r.stderr, what);
    }
  });
});
