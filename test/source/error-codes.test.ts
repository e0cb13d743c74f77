import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { IDMAP_ERROR_CODES } from '../../src/idmap/index.js';

/**
 * The closed set of ERR_IDMAP_* codes, checked against the source: every
 * code written anywhere in src/ is one of IDMAP_ERROR_CODES, and none is
 * built from text at run time except through idmap/error-codes.ts.
 */
const src = fileURLToPath(new URL('../../../src/', import.meta.url));

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.test-support.ts')) out.push(p);
  }
  return out;
}

describe('ERR_IDMAP_* in the source', () => {
  const files = sources(src).map((p) => ({ path: relative(src, p), text: readFileSync(p, 'utf8') }));

  test('the source tree is there (the test reads src/, not dist/)', () => {
    assert.ok(files.some((f) => f.path === join('idmap', 'error-codes.ts')));
    assert.ok(files.length > 100, `${files.length} files`);
  });

  test('every ERR_IDMAP_ code in src/ is in IDMAP_ERROR_CODES', () => {
    const unknown: string[] = [];
    for (const f of files) {
      for (const m of f.text.matchAll(/ERR_IDMAP_[A-Z][A-Z_]*/g)) {
        if (!(IDMAP_ERROR_CODES as readonly string[]).includes(m[0])) unknown.push(`${f.path}: ${m[0]}`);
      }
    }
    assert.deepEqual(unknown, []);
  });

  test('no code is built from a rule name outside idmap/error-codes.ts', () => {
    const built = files.filter((f) => f.path !== join('idmap', 'error-codes.ts') && /ERR_IDMAP_\$\{/.test(f.text)).map((f) => f.path);
    assert.deepEqual(built, []);
  });
});
