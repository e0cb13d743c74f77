import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';

// Compiled to dist/test/house/; the sources are read at the checkout's root.
const ROOT = join(import.meta.dirname, '..', '..', '..');

/** Rows whose area has no doc of its own: the id-map language's reference is README itself. */
const README_ONLY = [/^bulk translation/, /^the same, ids clustered/, /^validate a 340-line map write/];

/** The numbers of a text, commas dropped: "1,814/s" and "1814" are the same figure. */
const numbers = (text: string) => (text.match(/\d[\d,]*(?:\.\d+)?/g) ?? []).map((n) => n.replace(/,/g, ''));

it("README's speed table shows fsidmap's figures as the area docs record them (issue 14)", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('## Speed'), readme.indexOf('## Layout'));
  const docs = new Set(
    readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .flatMap((f) => numbers(readFileSync(join(ROOT, 'docs', f), 'utf8'))),
  );
  const rows = table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| what'));
  assert.ok(rows.length > 15, `only ${rows.length} rows found`);
  const disagree: string[] = [];
  for (const row of rows) {
    const [what, fsidmap] = row
      .slice(1)
      .split('|')
      .map((c) => c.trim());
    if (README_ONLY.some((r) => r.test(what))) continue;
    // The measured figures: decimals, thousands, and whole numbers with a unit (not "100,000 entries" of the row's name).
    const figures = (fsidmap.match(/\d[\d,]*\.\d+|\d{1,3}(?:,\d{3})+|\d+(?= ?(?:ms|s|µs|KiB|MB|\/s|×))/g) ?? []).map((n) =>
      n.replace(/,/g, ''),
    );
    const missing = figures.filter((f) => !docs.has(f));
    if (missing.length > 0) disagree.push(`${what}: ${missing.join(', ')}`);
  }
  assert.deepEqual(disagree, [], 'figures of README rows that no area doc records (update the row from the doc, or the doc)');
});
