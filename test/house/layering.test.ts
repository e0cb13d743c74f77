import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkLayering, importsOf, readSources } from '../support/layering.js';

// Compiled to dist/test/house/; the sources are read from src/ at the checkout's root.
const SRC = join(import.meta.dirname, '..', '..', '..', 'src');

describe('the house: layering of src/', () => {
  const sources = readSources(SRC);

  it('reads the whole tree', () => {
    assert.ok(sources.size > 200, `only ${sources.size} modules found under ${SRC}`);
    assert.ok(sources.has('container/start.ts') && sources.has('idmap/index.ts'));
  });

  it('holds every rule: tiers, no cycles, pure rooms without I/O, nothing imports cli/, container/ apart from broker/', () => {
    const v = checkLayering(sources);
    assert.deepEqual(
      v.map((x) => x.message),
      [],
    );
  });

  describe('the rules catch what they are for (the real tree with one bad import added)', () => {
    // Only what the added import brings: the tree's own state is the test above's.
    const before = new Set(checkLayering(sources).map((x) => x.message));
    const added = (tree: Map<string, string>) => checkLayering(tree).filter((x) => !before.has(x.message));
    const withFile = (file: string, source: string) => added(new Map([...sources, [file, source]]));
    const withImport = (file: string, line: string) => withFile(file, `${line}\n${sources.get(file) ?? ''}`);

    it('an upward import: the pure idmap/ importing the registry', () => {
      const v = withImport('idmap/extent.ts', "import { openRegistry } from '../registry/open.js';");
      assert.deepEqual(
        v.map((x) => x.rule),
        ['upward'],
      );
      assert.match(
        v.find((x) => x.rule === 'upward')!.message,
        /src\/idmap\/extent\.ts \(idmap\/, tier 0\) imports src\/registry\/open\.ts/,
      );
    });

    it('container/ importing broker/ (the cycle this rule was made for)', () => {
      const v = withImport('container/start.ts', "import type { BrokerClient } from '../broker/client.js';");
      const rules = v.map((x) => x.rule);
      assert.ok(rules.includes('container-broker') && rules.includes('upward'), rules.join(', '));
    });

    it('a cycle of rooms: the kernel adapter importing the tree shifter that is built on it', () => {
      const v = withImport('kernel/linux.ts', "import { openEngine } from '../tree/engine.js';");
      assert.deepEqual(v.map((x) => x.rule).sort(), ['file-cycle', 'room-cycle', 'upward']);
      assert.match(v.find((x) => x.rule === 'room-cycle')!.message, /kernel\/ → tree\/ \(src\/kernel\/linux\.ts\)/);
    });

    it('I/O in a pure room', () => {
      const v = withImport('vfs/inode.ts', "import { readFileSync } from 'node:fs';");
      assert.deepEqual(
        v.map((x) => x.rule),
        ['pure-io'],
      );
    });

    it('anything importing cli/', () => {
      const v = withImport('broker/server.ts', "import { write } from '../cli/command.js';");
      assert.ok(v.some((x) => x.rule === 'imports-cli'));
    });

    it('a file cycle inside one room', () => {
      const v = withImport('idmap/extent.ts', "import { parseMap } from './parse.js';");
      assert.deepEqual(
        v.map((x) => x.rule),
        ['file-cycle'],
      );
    });

    it('a new room without a tier', () => {
      const v = withFile('gadgets/widget.ts', 'export const x = 1;\n');
      assert.deepEqual(
        v.map((x) => x.rule),
        ['unknown-room'],
      );
    });

    it('container/ reaching into image/ internals', () => {
      const v = withImport('container/start.ts', "import { x } from '../image/store-internals.js';");
      assert.ok(v.some((x) => x.rule === 'image-internals'));
    });
  });

  it('reads static, re-exported, type-only and dynamic imports', () => {
    assert.deepEqual(
      importsOf(
        [
          "import { a } from './a.js';",
          "import type { B } from '../b/index.js';",
          "export { c } from './c.js';",
          "export * from './d.js';",
          "const e = await import('./e.js');",
          "import './f.js';",
          "import {\n  g,\n  h,\n} from './g.js';",
        ].join('\n'),
      ),
      ['./a.js', '../b/index.js', './c.js', './d.js', './e.js', './f.js', './g.js'],
    );
  });
});
