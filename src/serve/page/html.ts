import { createHash } from 'node:crypto';
import { axisId, axisPos } from '../axis.js';
import type { Space } from '../space.js';
import { CLIENT_CORE } from './client-core.js';
import { CLIENT_PANELS } from './client-panels.js';
import { CLIENT_UI } from './client-ui.js';
import { PAGE_STYLE } from './style.js';

/** The whole client script: the shared axis functions (their own source), then the page's code. */
export const PAGE_SCRIPT = `'use strict';\n${axisPos.toString()}\n${axisId.toString()}\n${CLIENT_CORE}\n${CLIENT_PANELS}\n${CLIENT_UI}`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * JSON that may sit inside <script type="application/json">: every `<`
 * escaped, so no `</script>` or `<!--` in a name can end or bend the element.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export interface Page {
  readonly html: string;
  /** The Content-Security-Policy: only this page's own script and style run, and nothing is fetched from elsewhere. */
  readonly csp: string;
}

/**
 * The page. Served live (no data inside: the script fetches api/space and
 * listens to api/events on its own origin) or as a report (`space` inlined;
 * the policy then allows no connection at all, so the file makes no request).
 */
export function renderPage(options: { readonly space?: Space; readonly title?: string } = {}): Page {
  const report = options.space !== undefined;
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(PAGE_SCRIPT)}`,
    `style-src ${sha256(PAGE_STYLE)}`,
    "img-src 'none'",
    `connect-src ${report ? "'none'" : "'self'"}`,
    "base-uri 'none'",
    "form-action 'none'",
    ...(report ? [] : ["frame-ancestors 'none'"]),
  ].join('; ');
  const data = report ? `<script type="application/json" id="fsidmap-data">${jsonForScript(options.space)}</script>\n` : '';
  const title = options.title ?? (report ? 'fsidmap report: the id space' : 'fsidmap: the id space');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${report ? `<meta http-equiv="Content-Security-Policy" content="${csp}">\n` : ''}<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<header><h1>${title}</h1><span id="source"></span><span id="status">loading</span></header>
<main>
<section><h2>The 32-bit id space</h2><div class="body">
<div class="controls">
<button id="side-uid" type="button" aria-pressed="true">uid</button><button id="side-gid" type="button" aria-pressed="false">gid</button>
<button id="zoom-in" type="button">zoom in</button><button id="zoom-out" type="button">zoom out</button>
<button id="zoom-all" type="button">whole space</button><button id="zoom-pool" type="button">the pool</button>
<span class="muted">log scale below 65536, linear in slots above; wheel to zoom, drag to pan, click for details</span>
</div>
<div id="strip-wrap"><canvas id="strip"></canvas><canvas id="axis"></canvas><div id="tip"></div></div>
<div id="legend" class="legend"></div>
<pre id="details"></pre>
</div></section>
<section><h2>Who holds this id?</h2><div class="body">
<form id="search-form"><input id="search" type="text" inputmode="numeric" placeholder="host id, e.g. 1652555776" size="24" autocomplete="off"> <button type="submit">who</button></form>
<pre id="who-answer"></pre>
</div></section>
<div class="grid2">
<section><h2>The pool</h2><div class="body"><div id="pool-stats" class="stats"></div><div id="pool-label" class="muted"></div><svg id="history" role="img" aria-label="occupancy and fragmentation over time"></svg><div id="history-note"></div></div></section>
<section><h2>Running containers</h2><div class="body" id="containers"></div></section>
</div>
<section><h2>Allocations in view</h2><div class="body"><div id="in-view-count" class="muted"></div><div id="in-view"></div></div></section>
<section><h2>subid audit</h2><div class="body" id="audit"></div></section>
</main>
${data}<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
  return { html, csp };
}
