/**
 * The page's script, part 3: the panels under the strip (allocations in
 * view, the pool and its history, running containers, audit findings) and
 * a report's own answer to the search. Same rules as client-core.ts.
 */
export const CLIENT_PANELS = String.raw`
function renderInView() {
  var box = clear($('in-view'));
  if (!state.space || !state.cols) return;
  var ids = state.cols.ids, lo = ids[0], hi = ids[state.cols.W];
  var layer = state.layers[0], hits = [];
  for (var i = 0; i < layer.n; i++) if (layer.last(i) >= lo && layer.first(i) < hi) hits.push(i);
  $('in-view-count').textContent = hits.length + ' allocation(s) in view, ' + state.side + ' side';
  if (hits.length > 300) { box.appendChild(el('p', 'zoom in to list them (at most 300 are listed)', 'muted')); return; }
  var t = el('table'), head = el('tr');
  ['name', 'kind', state.side + ' START:COUNT', 'FIRST-LAST', 'since'].forEach(function (h) { head.appendChild(el('th', h)); });
  t.appendChild(head);
  var a = state.dec.alloc;
  hits.sort(function (p, q) { return layer.first(p) - layer.first(q); }).forEach(function (i) {
    var f = layer.first(i), l = layer.last(i), tr = el('tr');
    tr.appendChild(el('td', a.name[i]));
    tr.appendChild(el('td', KIND[a.kind[i]]));
    tr.appendChild(el('td', f + ':' + (l - f + 1), 'num'));
    tr.appendChild(el('td', f + '-' + l, 'num'));
    tr.appendChild(el('td', when(a.created[i])));
    tr.dataset.name = a.name[i];
    t.appendChild(tr);
  });
  box.appendChild(t);
}

function stat(value, label) { var d = el('div', null, 'stat'); d.appendChild(el('b', value)); d.appendChild(el('span', label)); return d; }

function renderPool() {
  var p = state.space.pool, box = clear($('pool-stats'));
  box.appendChild(stat(p.allocatedSlots + ' / ' + p.slots, 'slots allocated (' + pct(p.slots ? p.allocatedSlots / p.slots : 0) + ')'));
  box.appendChild(stat(String(p.freeSlots), 'free slots'));
  box.appendChild(stat(String(p.largestFreeRun), 'largest free run (slots)'));
  box.appendChild(stat(pct(p.fragmentation), 'fragmentation (' + p.freeRuns + ' free runs)'));
  box.appendChild(stat(String(p.excludedSlots), 'slots excluded (users, reserved)'));
  $('pool-label').textContent = p.label + '; a slot is 65536 ids';
  drawHistory();
}

function drawHistory() {
  var svg = clear($('history')), h = state.space.history, p = state.space.pool;
  var NS = 'http://www.w3.org/2000/svg', W = svg.clientWidth || 400, H = 120;
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  if (h.length === 0) return;
  var t0 = h[0].t, t1 = Math.max(h[h.length - 1].t, t0 + 1);
  function line(get, color, label, k) {
    var pts = h.map(function (s) { return ((s.t - t0) / (t1 - t0) * (W - 10) + 5).toFixed(1) + ',' + (H - 18 - get(s) * (H - 30)).toFixed(1); });
    if (pts.length === 1) pts.push((W - 5) + ',' + pts[0].split(',')[1]);
    var pl = document.createElementNS(NS, 'polyline');
    pl.setAttribute('points', pts.join(' ')); pl.setAttribute('fill', 'none'); pl.setAttribute('stroke', color); pl.setAttribute('stroke-width', '2');
    svg.appendChild(pl);
    var tx = document.createElementNS(NS, 'text');
    tx.setAttribute('x', String(5 + k * 170)); tx.setAttribute('y', String(H - 3)); tx.setAttribute('fill', color); tx.setAttribute('font-size', '11');
    tx.textContent = label;
    svg.appendChild(tx);
  }
  line(function (s) { return p.slots ? s.allocated / p.slots : 0; }, '#2f6fdf', 'occupancy', 0);
  line(function (s) { return s.fragmentation; }, '#f08c00', 'fragmentation', 1);
  var span = el('span', h.length + ' samples since ' + new Date(t0).toLocaleTimeString(), 'muted');
  clear($('history-note')).appendChild(span);
}

function uptime(startedAt) {
  var s = Math.max(0, Math.floor((Date.now() - Date.parse(startedAt)) / 1000));
  var hh = Math.floor(s / 3600), mm = Math.floor(s % 3600 / 60), ss = s % 60;
  return (hh ? hh + 'h ' : '') + (hh || mm ? mm + 'm ' : '') + ss + 's';
}

function renderContainers() {
  var list = state.space.containers, box = clear($('containers'));
  if (list.length === 0) { box.appendChild(el('p', state.live ? 'no container runs now' : 'no container ran when the report was made', 'muted')); return; }
  var t = el('table'), head = el('tr');
  ['name', 'id map (uid / gid)', 'fsid map (fsuid / fsgid)', 'image or volume', 'shares it with', 'up'].forEach(function (h) { head.appendChild(el('th', h)); });
  t.appendChild(head);
  list.forEach(function (c) {
    var tr = el('tr');
    tr.appendChild(el('td', c.name));
    tr.appendChild(el('td', c.uidMap.trim() + ' / ' + c.gidMap.trim(), 'num'));
    tr.appendChild(el('td', c.fsuidMap ? c.fsuidMap + ' / ' + c.fsgidMap : '-', 'num'));
    tr.appendChild(el('td', c.fs || (c.rootfs ? c.rootfs : '-')));
    tr.appendChild(el('td', c.sharesWith.length ? c.sharesWith.join(', ') : '-'));
    var up = el('td', uptime(c.startedAt), 'num'); up.dataset.started = c.startedAt; tr.appendChild(up);
    t.appendChild(tr);
  });
  box.appendChild(t);
}

function renderAudit() {
  var a = state.space.audit, box = clear($('audit'));
  if (a.error) { box.appendChild(el('p', 'the audit could not run: ' + a.error, 'muted')); return; }
  var more = Object.keys(a.truncated).map(function (k) { return a.truncated[k] + ' more ' + k; }).join(', ');
  box.appendChild(el('p', a.paths.subuid + ', ' + a.paths.subgid + ': ' + a.counts.error + ' error(s), ' + a.counts.warning + ' warning(s), ' + a.counts.info + ' note(s)' + (more ? ' (not listed: ' + more + ')' : ''), 'muted'));
  a.findings.forEach(function (f) {
    var d = el('div', null, 'finding');
    d.dataset.code = f.code;
    d.appendChild(el('span', f.severity, 'sev ' + f.severity));
    d.appendChild(document.createTextNode(' ' + f.code + ' '));
    if (f.file) d.appendChild(el('span', '/etc/' + f.file + (f.lines.length ? ' line ' + f.lines.join(', ') : '') + (f.otherLines.length ? ' (other file: line ' + f.otherLines.join(', ') + ')' : ''), 'muted'));
    if (f.range) {
      var link = el('a', 'show ids ' + f.range[0] + '-' + f.range[1]);
      link.href = '#range=' + f.range[0] + '-' + f.range[1] + '&side=' + (f.file === 'subgid' ? 'gid' : 'uid');
      d.appendChild(document.createTextNode(' '));
      d.appendChild(link);
    }
    d.appendChild(el('div', f.message));
    d.appendChild(el('div', f.hint, 'hint'));
    box.appendChild(d);
  });
}

function localWho(id) {
  var lines = ['host id ' + id + ':'], s = state.space, d = state.dec, held = false;
  ['uid', 'gid'].forEach(function (side) {
    var L = layersFor(s, d, side), hits = [];
    for (var i = 0; i < L[0].n; i++) if (L[0].first(i) <= id && id <= L[0].last(i)) hits.push(i);
    hits.sort(function (p, q) { return (L[0].last(q) - L[0].first(q)) - (L[0].last(p) - L[0].first(p)) || (d.alloc.name[p] < d.alloc.name[q] ? -1 : 1); });
    hits.forEach(function (i) {
      var e = d.alloc.extra.get(i) || {}, f = L[0].first(i);
      lines.push('  ' + side + ': ' + KIND[d.alloc.kind[i]] + ' "' + d.alloc.name[i] + '" (realm ' + s.source.realm + (e.parent ? ', inside ' + e.parent : '') + ') range ' + f + ':' + (L[0].last(i) - f + 1) + ', id ' + (id - f) + ' inside it');
      held = true;
    });
    var sub = side === 'uid' ? d.subuid : d.subgid;
    for (var j = 0; j < sub.n; j++) if (sub.first[j] <= id && id <= sub.last[j]) {
      lines.push('  ' + side + ': /etc/sub' + side + ' range of ' + sub.owner[j] + ' ' + sub.first[j] + ':' + (sub.last[j] - sub.first[j] + 1) + ', id ' + (id - sub.first[j]) + ' inside it');
      held = true;
    }
    (side === 'uid' ? s.users : s.groups).forEach(function (n) {
      if (n.id === id) { lines.push('  ' + side + ': ' + (side === 'uid' ? 'user ' + n.name + ' in /etc/passwd' : 'group ' + n.name + ' in /etc/group')); held = true; }
    });
  });
  s.reserved.forEach(function (r) { if (r.first <= id && id <= r.last) lines.push('  reserved: ' + r.purpose + ' [' + r.first + ', ' + (r.last + 1) + ')'); });
  if (!held) lines.push('  nobody holds it' + (id >= 524288 && id < 1879048192 ? ' (free, in systemd\'s container range: fsidmap\'s default pool)' : ''));
  return lines;
}
`;
