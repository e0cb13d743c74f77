/**
 * The page's script, part 2: the strip (drawing, zoom, hover, click), the
 * panels, the search, and live updates (server-sent events) or, in a
 * report, the data inlined in the file. Same rules as client-core.ts.
 */
export const CLIENT_UI = String.raw`
var MIN_SPAN = 1.5e-8;
var state = { space: null, dec: null, layers: null, side: 'uid', view: [0, 1], focus: null, cols: null, live: false, loading: false, again: false, drawn: false };

function $(id) { return document.getElementById(id); }
function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; }
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
function pct(x) { return (Math.round(x * 1000) / 10) + '%'; }

function setSpace(space) {
  state.space = space;
  state.dec = decode(space);
  state.layers = layersFor(space, state.dec, state.side);
  document.body.dataset.stamp = space.stamp;
  document.body.dataset.allocations = String(space.allocations.count);
  var s = space.source;
  $('source').textContent = s.store + ' ' + s.location + ', realm ' + s.realm + (s.readOnly ? ' (read-only)' : '');
  drawStrip();
  renderPool(); renderContainers(); renderAudit(); renderInView();
  if (!state.drawn) { state.drawn = true; performance.mark('fsidmap-strip-drawn'); document.body.dataset.ready = '1'; }
  setStatus(state.live ? 'live, updated ' + new Date().toLocaleTimeString() : 'report generated ' + space.generatedAt, false);
}

function setStatus(text, bad) { var s = $('status'); s.textContent = text; s.className = bad ? 'bad' : ''; }

function setSide(side) {
  state.side = side;
  $('side-uid').setAttribute('aria-pressed', String(side === 'uid'));
  $('side-gid').setAttribute('aria-pressed', String(side === 'gid'));
  if (state.space) { state.layers = layersFor(state.space, state.dec, side); drawStrip(); renderInView(); }
}

function setView(v0, v1) {
  var span = Math.min(1, Math.max(MIN_SPAN, v1 - v0));
  var c = (v0 + v1) / 2;
  v0 = c - span / 2; v1 = c + span / 2;
  if (v0 < 0) { v1 -= v0; v0 = 0; }
  if (v1 > 1) { v0 -= v1 - 1; v1 = 1; }
  state.view = [Math.max(0, v0), Math.min(1, v1)];
  drawStrip(); renderInView();
}

/** Shows ids first..last in the middle third of the strip, outlined. */
function focusRange(first, last) {
  state.focus = [first, last];
  var p0 = axisPos(first), p1 = axisPos(last + 1), span = p1 - p0;
  setView(p0 - span, p1 + span);
}

function geometry() {
  var canvas = $('strip'), dpr = window.devicePixelRatio || 1;
  var cssW = canvas.clientWidth, cssH = canvas.clientHeight;
  return { canvas: canvas, dpr: dpr, cssW: cssW, cssH: cssH, W: Math.max(1, Math.round((cssW - GUTTER) * dpr)), x0: Math.round(GUTTER * dpr) };
}

function drawStrip() {
  var g = geometry(), canvas = g.canvas, dpr = g.dpr;
  canvas.width = Math.round(g.cssW * dpr); canvas.height = Math.round(g.cssH * dpr);
  var ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  var lanes = [];
  ctx.font = Math.round(12 * dpr) + 'px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  for (var k = 0; k < LANES.length; k++) {
    var y = TOP + k * (LANE_H + LANE_GAP);
    lanes.push([y, LANE_H]);
    ctx.fillStyle = '#5c6670';
    ctx.fillText(LANES[k], 4 * dpr, (y + LANE_H / 2) * dpr);
    ctx.fillStyle = COLOR.outside;
    ctx.fillRect(g.x0, y * dpr, g.W, LANE_H * dpr);
  }
  canvas.dataset.gutter = String(GUTTER);
  canvas.dataset.lanes = JSON.stringify(lanes);
  if (!state.space) return;
  var ids = columnIds(state.view[0], state.view[1], g.W);
  var cols = [];
  state.layers.forEach(function (layer, k) {
    var y = Math.round(lanes[k][0] * dpr), h = Math.round(LANE_H * dpr);
    if (layer.background) fillRuns(ctx, paintColumns(layer.background, ids, g.W), layer.background, g.x0, y, h, g.W);
    var idx = paintColumns(layer, ids, g.W);
    fillRuns(ctx, idx, layer, g.x0, y, h, g.W);
    cols.push(idx);
  });
  state.cols = { ids: ids, idx: cols, W: g.W };
  if (state.focus) {
    var a = firstColEndingAfter(ids, state.focus[0], g.W), b = lastColStartingBy(ids, state.focus[1], g.W);
    if (b >= a) {
      ctx.strokeStyle = COLOR.focus; ctx.lineWidth = Math.max(1, dpr);
      ctx.strokeRect(g.x0 + a - 2 * dpr, 1, b - a + 1 + 4 * dpr, canvas.height - 2);
    }
  }
  drawAxis(ids, g);
  canvas.dataset.view = state.view[0] + ',' + state.view[1];
  canvas.dataset.draws = String(Number(canvas.dataset.draws || '0') + 1);
}

function drawAxis(ids, g) {
  var canvas = $('axis'), dpr = g.dpr;
  canvas.width = Math.round(canvas.clientWidth * dpr); canvas.height = Math.round(canvas.clientHeight * dpr);
  var ctx = canvas.getContext('2d');
  ctx.font = Math.round(11 * dpr) + 'px system-ui, sans-serif';
  ctx.fillStyle = '#5c6670'; ctx.strokeStyle = '#9aa3ab'; ctx.textBaseline = 'top';
  var marks = [];
  for (var t = 0; t <= 6; t++) marks.push(ids[Math.round(g.W * t / 6)]);
  [0, 1000, 65536, 524288, 1879048192, 2147352576, 2147483648, 4294967296].forEach(function (m) { marks.push(m); });
  marks.sort(function (p, q) { return p - q; });
  var lastX = -1e9;
  marks.forEach(function (m) {
    if (m < ids[0] || m > ids[g.W]) return;
    var c = m >= ids[g.W] ? g.W : lastColStartingBy(ids, m, g.W);
    var x = g.x0 + c;
    if (x - lastX < 70 * dpr) return;
    lastX = x;
    ctx.beginPath(); ctx.moveTo(x + 0.5, 0); ctx.lineTo(x + 0.5, 5 * dpr); ctx.stroke();
    var label = String(Math.round(m));
    ctx.fillText(label, Math.min(x + 2, canvas.width - ctx.measureText(label).width - 2), 6 * dpr);
  });
}

/** The lane and holder under a point of the strip (CSS pixels), and the id there. */
function hit(ev) {
  var canvas = $('strip'), r = canvas.getBoundingClientRect(), g = geometry();
  var x = ev.clientX - r.left, y = ev.clientY - r.top;
  if (!state.cols || x < GUTTER) return null;
  var c = Math.min(g.W - 1, Math.max(0, Math.floor((x - GUTTER) * g.dpr)));
  var id = Math.min(TOP_ID - 1, axisId(state.view[0] + (state.view[1] - state.view[0]) * (x - GUTTER) / (g.cssW - GUTTER)));
  var lane = -1;
  for (var k = 0; k < LANES.length; k++) { var top = TOP + k * (LANE_H + LANE_GAP); if (y >= top && y < top + LANE_H) lane = k; }
  var item = lane >= 0 ? state.cols.idx[lane][c] : -1;
  return { id: id, lane: lane, item: item, x: x, y: y };
}

function describeHit(h) {
  var lines = ['host ' + state.side + ' ' + h.id];
  if (h.lane >= 0 && h.item >= 0) lines = lines.concat(state.layers[h.lane].describe(h.item));
  else if (h.lane >= 0) lines.push(LANES[h.lane] + ': nothing here');
  return lines;
}

function onMove(ev) {
  if (drag && drag.active) return;
  var tip = $('tip'), h = hit(ev);
  if (!h) { tip.style.display = 'none'; return; }
  tip.textContent = describeHit(h).join('\n');
  tip.style.display = 'block';
  var wrap = $('strip-wrap').clientWidth;
  tip.style.left = Math.min(h.x + 14, Math.max(0, wrap - tip.offsetWidth - 4)) + 'px';
  tip.style.top = (h.y + 16) + 'px';
}

var drag = null;
function onDown(ev) { drag = { x: ev.clientX, view: state.view.slice(), active: false }; }
function onDrag(ev) {
  if (!drag || !(ev.buttons & 1)) return;
  var dx = ev.clientX - drag.x;
  if (Math.abs(dx) > 3) drag.active = true;
  if (!drag.active) return;
  var g = geometry(), span = drag.view[1] - drag.view[0], shift = -dx / (g.cssW - GUTTER) * span;
  setView(drag.view[0] + shift, drag.view[1] + shift);
}
function onUp(ev) {
  var wasDrag = drag && drag.active;
  drag = null;
  if (wasDrag) return;
  var h = hit(ev);
  if (!h) return;
  $('details').textContent = describeHit(h).join('\n');
  if (h.item >= 0) {
    var layer = state.layers[h.lane];
    state.focus = [layer.first(h.item), layer.last(h.item)];
    drawStrip();
  }
  lookUp(h.id);
}
function onWheel(ev) {
  ev.preventDefault();
  var g = geometry(), r = $('strip').getBoundingClientRect(), x = Math.max(0, ev.clientX - r.left - GUTTER) / (g.cssW - GUTTER);
  var v = state.view, span = v[1] - v[0], p = v[0] + x * span, f = ev.deltaY < 0 ? 0.8 : 1.25;
  var ns = Math.min(1, Math.max(MIN_SPAN, span * f));
  setView(p - x * ns, p - x * ns + ns);
}

function zoomBy(f) { var v = state.view, c = (v[0] + v[1]) / 2, s = (v[1] - v[0]) * f; setView(c - s / 2, c + s / 2); }

/** The search: the server answers with fsidmap who's own code; a report answers from its data. */
function lookUp(id) {
  $('search').value = String(id);
  var out = $('who-answer');
  if (state.live) {
    fetch('api/who?id=' + id, { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (w) {
      if (w.error) { out.textContent = w.error.message; return; }
      out.textContent = w.lines.join('\n');
      out.dataset.id = String(id);
    }).catch(function (e) { out.textContent = 'lookup failed: ' + e; });
  } else {
    out.textContent = localWho(id).join('\n');
    out.dataset.id = String(id);
  }
}

function applyHash() {
  var m = /range=(\d+)-(\d+)/.exec(location.hash), side = /side=(uid|gid)/.exec(location.hash);
  if (side) setSide(side[1]);
  if (m) focusRange(Number(m[1]), Number(m[2]));
}

function load() {
  if (state.loading) { state.again = true; return; }
  state.loading = true;
  fetch('api/space', { cache: 'no-store' }).then(function (r) {
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return r.json();
  }).then(function (space) { setSpace(space); }).catch(function (e) { setStatus('cannot load the data: ' + e.message, true); }).then(function () {
    state.loading = false;
    if (state.again) { state.again = false; load(); }
  });
}

function listen() {
  var es = new EventSource('api/events');
  es.addEventListener('stamp', function (ev) {
    var s = JSON.parse(ev.data);
    if (s.error) { setStatus('the server cannot read the registry: ' + s.error, true); return; }
    if (!state.space || s.stamp !== state.space.stamp) load();
  });
  es.addEventListener('sample', function (ev) {
    if (!state.space) return;
    state.space.history.push(JSON.parse(ev.data));
    if (state.space.history.length > 720) state.space.history.shift();
    drawHistory();
  });
  es.onerror = function () { setStatus('disconnected from the server; retrying', true); };
  es.onopen = function () { if (state.space) setStatus('live, reconnected', false); };
}

function start() {
  var canvas = $('strip');
  canvas.addEventListener('pointermove', function (ev) { onMove(ev); onDrag(ev); });
  canvas.addEventListener('pointerleave', function () { $('tip').style.display = 'none'; });
  canvas.addEventListener('pointerdown', onDown);
  canvas.addEventListener('pointerup', onUp);
  canvas.addEventListener('wheel', onWheel, { passive: false });
  canvas.addEventListener('dblclick', function () { state.focus = null; setView(0, 1); });
  $('zoom-in').addEventListener('click', function () { zoomBy(0.5); });
  $('zoom-out').addEventListener('click', function () { zoomBy(2); });
  $('zoom-all').addEventListener('click', function () { state.focus = null; setView(0, 1); });
  $('zoom-pool').addEventListener('click', function () { var r = state.space.pool.ranges; state.focus = null; setView(axisPos(r[0][0]), axisPos(r[r.length - 1][1] + 1)); });
  $('side-uid').addEventListener('click', function () { setSide('uid'); });
  $('side-gid').addEventListener('click', function () { setSide('gid'); });
  $('search-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var v = $('search').value.trim();
    if (!/^\d+$/.test(v) || Number(v) > 4294967295) { $('who-answer').textContent = 'give a host id: a decimal number from 0 to 4294967295'; return; }
    var id = Number(v);
    lookUp(id);
    var slot = Math.floor(id / 65536) * 65536;
    focusRange(id < 65536 ? id : slot, id < 65536 ? id : slot + 65535);
  });
  window.addEventListener('resize', function () { drawStrip(); if (state.space) drawHistory(); });
  window.addEventListener('hashchange', applyHash);
  setInterval(function () {
    var cells = document.querySelectorAll('td[data-started]');
    for (var i = 0; i < cells.length; i++) cells[i].textContent = uptime(cells[i].dataset.started);
  }, 1000);
  drawStrip();
  var inline = $('fsidmap-data');
  state.live = !inline;
  var legend = clear($('legend'));
  [['container', COLOR.container], ['image', COLOR.image], ['volume', COLOR.volume], ['free in the pool', COLOR.free], ['subordinate ids (a shade per owner)', ownerColor('owner')],
    ['users and groups', COLOR.account], ['reserved', COLOR.reserved], ['audit error', COLOR.error], ['audit warning', COLOR.warning]].forEach(function (x) {
    var s = el('span'), sw = el('span', null, 'swatch');
    sw.style.background = x[1];
    s.appendChild(sw); s.appendChild(document.createTextNode(x[0])); legend.appendChild(s);
  });
  if (inline) {
    setSpace(JSON.parse(inline.textContent));
    applyHash();
  } else {
    setStatus('loading', false);
    fetch('api/space', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (space) { setSpace(space); applyHash(); listen(); })
      .catch(function (e) { setStatus('cannot load the data: ' + e.message, true); listen(); });
  }
}

start();
`;
