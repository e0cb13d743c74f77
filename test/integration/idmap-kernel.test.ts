import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkMapWrite, formatKernel, type IdMap, type MapWriteOptions, parseMap } from '../../src/idmap/index.js';
import { int, malformed, pick, rng, text, validLines, type Rng } from '../support/map-cases.js';
import { type ProbeCase, probeAvailable, runProbe } from '../support/userns-probe.js';

/**
 * The id-map language against the real kernel: each generated write goes to
 * a fresh user namespace's uid_map or gid_map, and the kernel's verdict, the
 * map it installs and the translations it performs must equal fsidmap's.
 */
const skip = probeAvailable();
const seed = Number(process.env.FSIDMAP_SEED ?? 20260228);
const scale = Number(process.env.FSIDMAP_DIFF_SCALE ?? 1);

interface Case {
  label: string;
  probe: ProbeCase;
  options: MapWriteOptions;
}

function sampleIds(r: Rng, map: IdMap | null, side: 'upper' | 'lower', n: number): number[] {
  const ids = new Set<number>([0, 1, 65534, 4294967294]);
  for (const e of map?.extents ?? []) {
    const s = side === 'upper' ? e.first : e.lower;
    for (const x of [s - 1, s, s + e.count - 1, s + e.count, s + int(r, 0, e.count - 1)]) if (x >= 0 && x < 4294967295) ids.add(x);
    if (ids.size >= n) break;
  }
  while (ids.size < n) ids.add(int(r, 0, 4294967294));
  return [...ids].slice(0, n);
}

function withTranslations(r: Rng, probe: ProbeCase, options: MapWriteOptions): ProbeCase {
  const v = checkMapWrite(probe.map, options);
  const installed = v.installed;
  // Ask for translations even when we predict a refusal: if the kernel disagrees, the lists are still needed.
  return { ...probe, up: sampleIds(r, installed, 'lower', 24), down: sampleIds(r, installed, 'upper', 24) };
}

function generate(r: Rng): Case[] {
  const cases: Case[] = [];
  const add = (label: string, probe: Omit<ProbeCase, 'up' | 'down'>, options: MapWriteOptions) =>
    cases.push({ label, probe: withTranslations(r, probe, options), options });
  const enc = (s: string) => Buffer.from(s, 'latin1');

  // Valid maps of every size class, uid and gid, written by root.
  for (let i = 0; i < 300 * scale; i++) {
    const n = pick(r, [1, 1, 2, 3, 5, 6, 7, 20, 64, 200, 340]);
    const kind = pick(r, ['uid', 'gid'] as const);
    const spread = n > 100 ? pick(r, ['tight', 'wide'] as const) : pick(r, ['tight', 'wide', 'huge'] as const);
    add(`valid-${n}`, { kind, writer: 'priv', map: enc(text(validLines(r, n, spread))) }, { kind });
  }
  // Every kind of malformed write.
  for (let i = 0; i < 700 * scale; i++) {
    const kind = pick(r, ['uid', 'gid'] as const);
    const m = malformed(r);
    add(`malformed-${m.label}`, { kind, writer: 'priv', map: m.bytes }, { kind });
  }
  // Nested: a parent namespace with a map, and a child map composed through it.
  for (let i = 0; i < 250 * scale; i++) {
    const kind = pick(r, ['uid', 'gid'] as const);
    const parentLines = validLines(r, pick(r, [1, 2, 3, 6, 10]), pick(r, ['tight', 'wide'] as const));
    const parentText = text(parentLines);
    const parent = parseMap(parentText);
    let child: string;
    const style = pick(r, ['inside', 'inside', 'outside', 'span', 'mixed']);
    const inside = parentLines.map((l) => {
      const off = int(r, 0, l.count - 1);
      return { first: 0, lower: l.first + off, count: int(r, 1, l.count - off) };
    });
    if (style === 'inside') child = text(inside.slice(0, int(r, 1, inside.length)).map((l, j) => ({ ...l, first: j * 1000000 })));
    else if (style === 'outside') child = `0 ${4000000000 + int(r, 0, 1000)} 1\n`;
    else if (style === 'span') {
      // A range across two parent extents that happen to be adjacent in the parent's first column, or across a gap.
      const l = pick(r, parentLines);
      child = `0 ${l.first + l.count - 1} 2\n`;
    } else child = text([...inside.slice(0, 1), { first: 7777777, lower: 4100000000, count: 3 }]);
    add(`nested-${style}`, { kind, writer: 'priv', parent: enc(parentText), map: enc(child) }, { kind, parent });
  }
  // Unprivileged owners writing from the initial namespace.
  for (let i = 0; i < 200 * scale; i++) {
    const kind = pick(r, ['uid', 'gid'] as const);
    const euid = pick(r, [1000, 1234, 54321, 100000]);
    const egid = pick(r, [euid, euid + 1, 2000]);
    const setgroups = pick(r, ['allow', 'deny', undefined] as const);
    const own = kind === 'uid' ? euid : egid;
    const other = kind === 'uid' ? egid : euid;
    const map = pick(r, [
      `0 ${own} 1\n`,
      `${int(r, 0, 70000)} ${own} 1\n`,
      `0 ${own} 2\n`,
      `0 ${other} 1\n`,
      `0 ${own} 1\n1 ${own + 1} 1\n`,
      `0 ${own} 1\n\n`,
      `0 ${own + 1} 1\n`,
      `0 0 1\n`,
      `${own} ${own} 1`,
    ]);
    add(
      `unpriv-${kind}-${setgroups ?? 'unset'}`,
      { kind, writer: 'unpriv', euid, egid, ...(setgroups ? { setgroups } : {}), map: enc(map) },
      { kind, writer: { privileged: false, euid, egid, setgroups: setgroups ?? 'allow' } },
    );
  }
  // Root without CAP_SETFCAP: mapping the parent's uid 0 needs it (verify_root_map); gid maps do not.
  for (let i = 0; i < 60 * scale; i++) {
    const kind = pick(r, ['uid', 'gid'] as const);
    const lines = validLines(r, int(r, 1, 7), 'wide');
    if (r() < 0.6) pick(r, lines).lower = 0;
    const map = text(lines);
    const parsed = (() => {
      try {
        return parseMap(map);
      } catch {
        return null;
      }
    })();
    if (!parsed) continue;
    add(
      `nofcap-${kind}${lines.some((l) => l.lower === 0) ? '-root' : ''}`,
      { kind, writer: 'nofcap', map: enc(map) },
      { kind, writer: { privileged: true, capSetfcap: false } },
    );
  }
  return cases;
}

test("map writes: fsidmap's verdict, installed map and translations equal the kernel's", { skip, timeout: 600_000 }, (t) => {
  const r = rng(seed);
  const cases = generate(r);
  const results = runProbe(cases.map((c) => c.probe));
  const byLabel = new Map<string, { ok: number; refused: number }>();
  const mismatches: string[] = [];
  let translations = 0;
  cases.forEach((c, i) => {
    const k = results[i];
    const v = checkMapWrite(c.probe.map, c.options);
    const ours = v.ok ? 'OK' : v.errno!;
    const tally = byLabel.get(c.label) ?? { ok: 0, refused: 0 };
    tally[k.verdict === 'OK' ? 'ok' : 'refused']++;
    byLabel.set(c.label, tally);
    const show = () =>
      `case ${i} (${c.label}, ${c.probe.kind}, writer ${c.probe.writer}): ${JSON.stringify(Buffer.from(c.probe.map).toString('latin1')).slice(0, 200)}${c.probe.parent ? ` parent ${JSON.stringify(Buffer.from(c.probe.parent).toString('latin1'))}` : ''}`;
    if (ours !== k.verdict) {
      mismatches.push(`${show()}: kernel ${k.verdict}, fsidmap ${ours} (${v.rule})`);
      return;
    }
    if (!v.installed) return;
    // formatKernel must reproduce the kernel's own text ("%10u %10u %10u" in its order), byte for byte.
    const want = formatKernel(v.installed).replace(/\n$/, '').split('\n');
    if (want.join('|') !== k.map.join('|'))
      mismatches.push(`${show()}: kernel printed ${JSON.stringify(k.map.join('\n'))}, fsidmap ${JSON.stringify(want.join('\n'))}`);
    c.probe.up!.forEach((kid, j) => {
      translations++;
      if (k.up[j] !== v.installed!.mapIdUpMunged(kid))
        mismatches.push(`${show()}: stat of kuid ${kid} inside: kernel ${k.up[j]}, fsidmap ${v.installed!.mapIdUpMunged(kid)}`);
    });
    c.probe.down!.forEach((id, j) => {
      translations++;
      if (k.down[j] !== (v.installed!.mapIdDown(id) ?? null))
        mismatches.push(`${show()}: make_kuid(${id}): kernel ${k.down[j]}, fsidmap ${v.installed!.mapIdDown(id)}`);
    });
  });
  const accepted = results.filter((x) => x.verdict === 'OK').length;
  t.diagnostic(
    `seed ${seed}: ${cases.length} map writes to real namespaces (${accepted} accepted, ${cases.length - accepted} refused), ${translations} translations compared`,
  );
  t.diagnostic(
    `by kind: ${[...byLabel]
      .sort()
      .map(([l, x]) => `${l} ${x.ok}/${x.refused}`)
      .join(', ')}`,
  );
  assert.deepEqual(mismatches.slice(0, 20), [], `${mismatches.length} mismatches with the kernel`);
  assert.ok(accepted > 300 && cases.length - accepted > 300, 'both verdicts are well represented');
});
