import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { PAGE_SCRIPT, jsonForScript, renderPage } from './html.js';
import type { Space } from '../space.js';
import { PAGE_STYLE } from './style.js';

test('page: the script parses, and holds no </script> that could end its element', () => {
  assert.doesNotThrow(() => new Function(PAGE_SCRIPT));
  assert.ok(!/<\/script/i.test(PAGE_SCRIPT));
});

test('page: the policy allows exactly its own script and style (by hash); a report may connect nowhere', () => {
  const hash = (t: string) => `'sha256-${createHash('sha256').update(t).digest('base64')}'`;
  const live = renderPage();
  assert.ok(live.csp.includes(`script-src ${hash(PAGE_SCRIPT)}`) && live.csp.includes(`style-src ${hash(PAGE_STYLE)}`));
  assert.ok(live.csp.includes("connect-src 'self'") && live.csp.startsWith("default-src 'none'"));
  assert.ok(live.html.includes(`<script>${PAGE_SCRIPT}</script>`) && !live.html.includes('id="fsidmap-data"'));
  const report = renderPage({ space: { stamp: '</script>' } as unknown as Space });
  assert.ok(
    report.csp.includes("connect-src 'none'") &&
      report.html.includes(`<meta http-equiv="Content-Security-Policy" content="${report.csp}">`),
  );
  assert.ok(report.html.includes('<script type="application/json" id="fsidmap-data">{"stamp":"\\u003c/script>"}</script>'));
});

test('page: inlined data cannot close its element, whatever the names say', () => {
  const evil = { name: '</script><script>alert(1)</script><!--', line: '\u2028' };
  const json = jsonForScript(evil);
  assert.ok(!json.includes('<') && !json.includes('\u2028'));
  assert.deepEqual(JSON.parse(json), evil);
});
