/**
 * The page's script, part 1: decoding the Space, the lanes, and painting
 * them into per-column holders. Plain ES2020 for the browser, kept as text
 * (no front-end build): no backquotes and no dollar-brace in here, which a
 * unit test checks by parsing the assembled script. Data from the registry
 * and /etc goes into the DOM only through textContent, title and numbers.
 */
export const CLIENT_CORE = String.raw`
var KIND = { c: 'container', i: 'image', v: 'volume' };
var COLOR = {
  container: '#2f6fdf', image: '#d9480f', volume: '#9c36b5', account: '#e8a800',
  reserved: '#8f979e', reserved2: '#b4bbc1', free: '#cdeed3', outside: '#eef0f2',
  error: '#e03131', warning: '#f08c00', info: '#1c7ed6', focus: '#111111'
};
var LANES = ['allocations', 'subordinate ids', 'users / groups', 'reserved', 'audit findings'];
var GUTTER = 118, LANE_H = 24, LANE_GAP = 5, TOP = 3;
var TOP_ID = 4294967296;

function u32(b64) {
  var bin = atob(b64), n = bin.length, bytes = new Uint8Array(n);
  for (var i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i);
  return new Uint32Array(bytes.buffer, 0, n >> 2);
}

function decode(space) {
  var a = space.allocations;
  var alloc = {
    n: a.count, name: a.name, kind: a.kind, uidFirst: u32(a.uidFirst), uidSlots: u32(a.uidSlots),
    gidFirst: u32(a.gidFirst), gidSlots: u32(a.gidSlots), created: u32(a.created), extra: new Map()
  };
  a.extra.forEach(function (e) { alloc.extra.set(e[0], { owner: e[1], parent: e[2], fs: e[3], holder: e[4] }); });
  function ranges(r) { return { n: r.count, owner: r.owner, first: u32(r.first), last: u32(r.last), line: u32(r.line) }; }
  return { alloc: alloc, subuid: ranges(space.subuid), subgid: ranges(space.subgid) };
}

function hashHue(text) {
  var h = 2166136261;
  for (var i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 16777619); }
  return (h >>> 0) % 1000 / 1000;
}

/** Subordinate ranges are green to teal, one shade per owner. */
function ownerColor(owner) {
  var t = hashHue(owner);
  return 'hsl(' + Math.round(95 + t * 100) + ', 52%, ' + Math.round(36 + (t * 7919 % 1) * 14) + '%)';
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : 'unknown';
}

function rangeText(side, first, last) {
  return side + ' ' + first + ':' + (last - first + 1) + '   ids ' + first + '-' + last;
}

/** The five lanes of one side as layers: n items, each with first/last id, colour and description. */
function layersFor(space, dec, side) {
  var a = dec.alloc, subs = side === 'uid' ? dec.subuid : dec.subgid;
  var firsts = side === 'uid' ? a.uidFirst : a.gidFirst, slots = side === 'uid' ? a.uidSlots : a.gidSlots;
  var accounts = side === 'uid' ? space.users : space.groups;
  var file = side === 'uid' ? 'subuid' : 'subgid';
  var findings = space.audit.findings.filter(function (f) { return f.range && (f.file === null || f.file === file); });
  var pool = space.pool.ranges;
  return [
    {
      n: a.n, first: function (i) { return firsts[i]; }, last: function (i) { return firsts[i] + slots[i] * 65536 - 1; },
      color: function (i) { return COLOR[KIND[a.kind[i]] || 'container']; },
      describe: function (i) {
        var e = a.extra.get(i) || {}, f = firsts[i], l = f + slots[i] * 65536 - 1;
        var out = [(KIND[a.kind[i]] || 'container') + ' ' + a.name[i], rangeText(side, f, l), 'since ' + when(a.created[i])];
        if (e.owner) out.push('owner ' + e.owner);
        if (e.parent) out.push('inside ' + e.parent);
        if (e.fs) out.push('fsid map points at ' + e.fs);
        if (e.holder) out.push('held by ' + e.holder);
        return out;
      },
      background: { n: pool.length, first: function (i) { return pool[i][0]; }, last: function (i) { return pool[i][1]; }, color: function () { return COLOR.free; } }
    },
    {
      n: subs.n, first: function (i) { return subs.first[i]; }, last: function (i) { return subs.last[i]; },
      color: function (i) { return ownerColor(subs.owner[i]); },
      describe: function (i) {
        return ['/etc/' + file + ' range of ' + subs.owner[i] + (subs.line[i] ? ' (line ' + subs.line[i] + ')' : ''), rangeText(side, subs.first[i], subs.last[i])];
      }
    },
    {
      n: accounts.length, first: function (i) { return accounts[i].id; }, last: function (i) { return accounts[i].id; },
      color: function () { return COLOR.account; },
      describe: function (i) { return [(side === 'uid' ? 'user ' : 'group ') + accounts[i].name, rangeText(side, accounts[i].id, accounts[i].id)]; }
    },
    {
      n: space.reserved.length, first: function (i) { return space.reserved[i].first; }, last: function (i) { return space.reserved[i].last; },
      color: function (i) { return i % 2 ? COLOR.reserved2 : COLOR.reserved; },
      describe: function (i) { var r = space.reserved[i]; return ['reserved: ' + r.purpose, rangeText(side, r.first, r.last)]; }
    },
    {
      n: findings.length, first: function (i) { return findings[i].range[0]; }, last: function (i) { return findings[i].range[1]; },
      color: function (i) { return COLOR[findings[i].severity]; },
      describe: function (i) {
        var f = findings[i];
        return [f.severity + ' ' + f.code + (f.file ? ' (/etc/' + f.file + (f.lines.length ? ' line ' + f.lines.join(', ') : '') + ')' : ''), f.message, rangeText(side, f.range[0], f.range[1])];
      }
    }
  ];
}

/** The first id of each of W columns over positions [v0, v1), and one past the last. */
function columnIds(v0, v1, W) {
  var ids = new Float64Array(W + 1);
  for (var c = 0; c <= W; c++) ids[c] = axisId(v0 + (v1 - v0) * c / W);
  return ids;
}

/** A column shows ids [ids[c], end(c)); a column narrower than one id shows the id it starts at. */
function colEnd(ids, c) { return Math.max(ids[c + 1], ids[c] + 1); }

function firstColEndingAfter(ids, id, W) {
  var lo = 0, hi = W;
  while (lo < hi) { var m = (lo + hi) >> 1; if (colEnd(ids, m) > id) hi = m; else lo = m + 1; }
  return lo;
}

function lastColStartingBy(ids, id, W) {
  var lo = -1, hi = W - 1;
  while (lo < hi) { var m = (lo + hi + 1) >> 1; if (ids[m] <= id) lo = m; else hi = m - 1; }
  return lo;
}

/**
 * For each column, the item covering the largest share of it (any share:
 * one 65536-id slot among 4 billion ids still gets its column).
 */
function paintColumns(layer, ids, W) {
  var cover = new Float64Array(W), idx = new Int32Array(W).fill(-1);
  for (var i = 0; i < layer.n; i++) {
    var f = layer.first(i), l = layer.last(i);
    var c0 = firstColEndingAfter(ids, f, W), c1 = lastColStartingBy(ids, l, W);
    for (var c = c0; c <= c1; c++) {
      var a = ids[c], b = colEnd(ids, c);
      var ov = Math.min(l + 1, b) - Math.max(f, a);
      if (ov <= 0) continue;
      var share = ov / (b - a);
      if (share > cover[c]) { cover[c] = share; idx[c] = i; }
    }
  }
  return idx;
}

function fillRuns(ctx, idx, layer, x0, y, h, W) {
  var c = 0;
  while (c < W) {
    var i = idx[c], start = c;
    while (c < W && idx[c] === i) c++;
    if (i >= 0) { ctx.fillStyle = layer.color(i); ctx.fillRect(x0 + start, y, c - start, h); }
  }
}
`;
