import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { it } from 'node:test';
import * as prettier from 'prettier';

// Compiled to dist/test/house/; the sources are read at the checkout's root.
const ROOT = join(import.meta.dirname, '..', '..', '..');

/** The files `npm run format` owns: every .ts of src/, test/ and bench/, and scripts/*.mjs. */
function owned(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const d of ['src', 'test', 'bench']) walk(join(ROOT, d));
  for (const name of readdirSync(join(ROOT, 'scripts'))) if (name.endsWith('.mjs')) out.push(join(ROOT, 'scripts', name));
  return out;
}

it('every source file is as the formatter writes it (Prettier, .prettierrc.json)', async () => {
  const files = owned();
  assert.ok(files.length > 300, `only ${files.length} files found under ${ROOT}`);
  const unformatted: string[] = [];
  for (const file of files) {
    const options = { ...(await prettier.resolveConfig(file)), filepath: file };
    if (!(await prettier.check(readFileSync(file, 'utf8'), options))) unformatted.push(relative(ROOT, file));
  }
  assert.deepEqual(unformatted, [], 'run `npm run format` and commit the result');
});
