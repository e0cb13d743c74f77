/** The page's style sheet (inlined into the page; the CSP names its hash). */
export const PAGE_STYLE = `
:root { --fg: #1d2329; --muted: #5c6670; --line: #d7dce1; --bg: #ffffff; --panel: #f6f8fa; --accent: #1c5fd4; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: baseline; padding: 12px 20px; border-bottom: 1px solid var(--line); }
header h1 { font-size: 18px; margin: 0; }
#source, #status { color: var(--muted); font-size: 13px; }
#status.bad { color: #c92a2a; font-weight: 600; }
main { padding: 12px 20px 40px; display: grid; gap: 18px; }
section { border: 1px solid var(--line); border-radius: 6px; background: var(--bg); }
section > h2 { font-size: 15px; margin: 0; padding: 8px 12px; background: var(--panel); border-bottom: 1px solid var(--line); border-radius: 6px 6px 0 0; }
.body { padding: 10px 12px; }
.controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 8px; }
button, input { font: inherit; }
button { border: 1px solid var(--line); background: var(--panel); border-radius: 4px; padding: 2px 10px; cursor: pointer; }
button[aria-pressed="true"] { background: var(--accent); color: #fff; border-color: var(--accent); }
#strip-wrap { position: relative; }
#strip { display: block; width: 100%; height: 150px; cursor: crosshair; touch-action: none; }
#axis { display: block; width: 100%; height: 22px; }
#tip { position: absolute; pointer-events: none; background: #1d2329; color: #fff; padding: 6px 8px; border-radius: 4px; font-size: 12px; white-space: pre; display: none; z-index: 2; max-width: 60ch; overflow: hidden; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); margin-top: 6px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
#details { white-space: pre-wrap; font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; margin: 8px 0 0; min-height: 1.5em; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 18px; }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 8px; margin-bottom: 8px; }
.stat b { display: block; font-size: 18px; font-variant-numeric: tabular-nums; }
.stat span { color: var(--muted); font-size: 12px; }
#history { width: 100%; height: 120px; display: block; }
#who-answer { font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap; margin: 8px 0 0; }
.sev { display: inline-block; min-width: 58px; padding: 0 6px; border-radius: 3px; color: #fff; font-size: 11px; text-align: center; }
.sev.error { background: #e03131; } .sev.warning { background: #e67700; } .sev.info { background: #1c7ed6; }
.finding { padding: 6px 0; border-bottom: 1px solid var(--line); }
.finding .hint { color: var(--muted); }
.muted { color: var(--muted); }
a { color: var(--accent); }
`;
