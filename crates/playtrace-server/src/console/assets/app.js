// PlayTrace console: plain JavaScript over the collector's REST API and stream (docs/API.md).
// No framework and no build step; served from the binary with a strict CSP (no inline script).
'use strict';

const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'];
const TOKEN_KEY = 'playtrace.token';
const MAX_ALERTS = 500;
// Alert rows drawn at once (newest first); "show more" draws more. Drawing all 500 on every
// update kept Chromium busy under 100 alerts/s (bench/console).
const SHOWN_ALERTS = 50;
const MAX_STREAM_ROWS = 500;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  tokensConfigured: false,
  scopes: [],
  cleanup: [],
};

// ---- small helpers ------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const svg = ['svg', 'rect', 'line', 'text', 'polyline', 'g'].includes(tag);
  const node = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const main = () => document.getElementById('main');
const canAdmin = () => state.scopes.includes('admin');

function notice(text) {
  const n = document.getElementById('notice');
  n.textContent = text || '';
  n.hidden = !text;
}

// Ages as `playtrace alerts` prints them: the two largest units, "1h 10m", "45s", "2d 3h".
function age(ms) {
  if (ms === null || ms === undefined || isNaN(ms) || ms < 0) return '-';
  if (ms < 1000) return Math.round(ms) + 'ms';
  let rest = Math.round(ms / 1000);
  const parts = [];
  for (const [name, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
    if (rest >= size || parts.length) { parts.push([Math.floor(rest / size), name]); rest %= size; }
    if (parts.length === 2) break;
  }
  if (parts.length === 2 && parts[1][0] === 0) parts.pop();
  return parts.map(([n, u]) => n + u).join(' ');
}

const since = (iso) => (iso ? Date.now() - Date.parse(iso) : null);

// Durations as the collector writes them: 90s, 30m, 6h, 1.5d, 250ms; a bare number is ms.
function parseDuration(text) {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|d)?\s*$/.exec(text || '');
  if (!m) return null;
  const unit = { ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[m[2] || 'ms'];
  return parseFloat(m[1]) * unit;
}

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {
    method: opts.method || 'GET',
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await r.text();
  let body = text;
  try { body = JSON.parse(text); } catch (_) { /* metrics are text */ }
  if (!r.ok) {
    const msg = body && body.error ? body.error.message : r.status + ' ' + text;
    const e = new Error(msg);
    e.status = r.status;
    throw e;
  }
  return body;
}

// EventSource cannot send headers: the token goes in ?token= (SPEC §7).
function streamUrl(params) {
  const q = new URLSearchParams(params);
  if (state.token) q.set('token', state.token);
  return '/v1/stream?' + q.toString();
}

function onCleanup(f) { state.cleanup.push(f); }

// ---- tokens -------------------------------------------------------------------------------

async function loadSession() {
  const s = await api('/console/session');
  state.tokensConfigured = s.tokensConfigured;
  state.scopes = s.scopes;
  const who = document.getElementById('who');
  who.textContent = '';
  if (s.tokensConfigured && s.token) {
    who.append('token ' + s.token + ' (' + (s.scopes.join(', ') || 'no scope') + ') ',
      el('button', { id: 'token-forget', text: 'forget', onclick: () => {
        sessionStorage.removeItem(TOKEN_KEY); state.token = ''; start();
      } }));
  } else if (!s.tokensConfigured) {
    who.textContent = 'open access (loopback)';
  }
  return s;
}

function askToken(message) {
  const form = document.getElementById('token-form');
  form.hidden = false;
  document.getElementById('token-error').textContent = message || '';
  main().textContent = '';
}

document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  state.token = document.getElementById('token-input').value.trim();
  sessionStorage.setItem(TOKEN_KEY, state.token);
  start();
});

// ---- navigation ---------------------------------------------------------------------------

function navigate(path) {
  history.pushState(null, '', path);
  render();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-nav]');
  if (a && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    navigate(a.getAttribute('href'));
  }
});
window.addEventListener('popstate', () => render());

function render() {
  for (const f of state.cleanup.splice(0)) f();
  notice('');
  const path = location.pathname;
  const view = path.split('/')[1] || 'alerts';
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.view === view);
  }
  main().textContent = '';
  const id = decodeURIComponent(path.split('/')[2] || '');
  const views = {
    alerts: id ? () => alertDetail(id) : alertsView,
    budgets: budgetsView,
    contests: id ? () => contestDetail(id) : contestsView,
    stream: streamView,
    health: healthView,
  };
  // Views in their own files (rejects.js, …) register themselves in window.consoleViews.
  const more = window.consoleViews || {};
  (views[view] || (more[view] && (() => more[view](id))) || alertsView)();
}

async function start() {
  document.getElementById('token-form').hidden = true;
  let s;
  try {
    s = await loadSession();
  } catch (e) {
    notice('cannot reach the collector: ' + e.message);
    return;
  }
  if (s.tokensConfigured && !s.scopes.includes('read')) {
    askToken(state.token ? 'that token cannot read (needs the read scope)' : '');
    return;
  }
  render();
}

// ---- alerts -------------------------------------------------------------------------------

function matcherFor(a) {
  const d = a.data || {};
  const group = d.group || {};
  const room = d.roomId || d.room || group.room;
  if (room !== undefined && room !== null) return { room: String(room) };
  if (a.sessionId) return { session: a.sessionId };
  return { rule: a.rule };
}

// The display group, by the rule of GET /v1/alerts (alerts from the stream lack it): a budget's
// group, or the rule with the room or session it is about.
function groupOf(a) {
  const d = a.data || {};
  if (a.category === 'budget') {
    const g = d.group && Object.keys(d.group).length ? Object.entries(d.group).map(([k, v]) => k + '=' + (v === null ? '-' : v)).join(',') : 'overall';
    return 'budget ' + g;
  }
  const room = d.roomId || d.room || (d.group || {}).room;
  if (room !== undefined && room !== null && room !== '') return a.rule + ' room=' + room;
  if (a.sessionId) return a.rule + ' session=' + a.sessionId;
  return a.rule;
}

function context(a) {
  const d = a.data || {};
  const group = d.group || {};
  const parts = [];
  const hub = d.hubId || d.hub || group.hub;
  const room = d.roomId || d.room || group.room;
  if (hub) parts.push('hub ' + hub);
  if (room) parts.push('room ' + room);
  if (a.sessionId) parts.push('session ' + a.sessionId);
  if (d.actorId || d.actor) parts.push('actor ' + (d.actorId || d.actor));
  if (a.game) parts.push('game ' + a.game);
  if (a.env) parts.push('env ' + a.env);
  return parts.join(' · ');
}

async function act(a, what) {
  try {
    let updated;
    if (what === 'ack') updated = await api('/v1/alerts/' + a.id + '/ack', { method: 'POST', body: { comment: 'from the console' } });
    else if (what === 'resolve') updated = await api('/v1/alerts/' + a.id + '/resolve', { method: 'POST', body: {} });
    else {
      const dur = document.getElementById('silence-for');
      await api('/v1/silences', { method: 'POST', body: { matchers: matcherFor(a), for: dur ? dur.value : '1h', comment: 'from the console' } });
      updated = await api('/v1/alerts/' + a.id);
    }
    return updated;
  } catch (e) {
    notice(what + ' ' + a.id + ': ' + e.message);
    return null;
  }
}

function alertRow(a, onChange) {
  const actions = el('span', { class: 'actions' });
  if (canAdmin()) {
    if (a.state !== 'resolved') {
      if (!a.acknowledgedBy) {
        actions.append(el('button', { class: 'ack', text: 'Ack', onclick: async () => onChange(await act(a, 'ack')) }));
      }
      actions.append(el('button', { class: 'resolve', text: 'Resolve', onclick: async () => onChange(await act(a, 'resolve')) }));
    }
    if (a.state === 'firing') {
      const m = matcherFor(a);
      const what = Object.entries(m).map(([k, v]) => k + '=' + v).join(',');
      actions.append(el('button', { class: 'silence', title: 'silence ' + what, text: 'Silence ' + what, onclick: async () => onChange(await act(a, 'silence')) }));
    }
  }
  const ack = a.acknowledgedBy ? ' · acked by ' + a.acknowledgedBy + ' ' + age(since(a.acknowledgedAt)) + ' ago' : '';
  const silenced = a.state === 'silenced' && a.silencedUntil ? ' · silenced for ' + age(Date.parse(a.silencedUntil) - Date.now()) : '';
  return el('div', { class: 'alert ' + a.state, 'data-id': a.id, 'data-state': a.state },
    el('span', { class: 'state', text: a.state }),
    el('span', { class: 'sev sev-' + a.severity, text: a.severity }),
    el('div', {},
      el('a', { href: '/alerts/' + a.id, 'data-nav': true, class: 'reason', text: a.reason || a.rule }),
      el('div', { class: 'ctx', text: a.rule + ' · ' + a.category + (context(a) ? ' · ' + context(a) : '') }),
      el('div', { class: 'meta', text: 'created ' + age(since(a.createdAt)) + ' ago · ×' + (a.count || 1) + ack + silenced +
        (a.probe ? ' · probe' : '') + (a.seeded ? ' · seeded' : '') })),
    actions);
}

function alertsView() {
  const alerts = new Map();
  const f = {};
  const select = (id, label, options) => el('label', {}, label + ' ',
    el('select', { id, onchange: draw }, options.map(([v, t]) => el('option', { value: v, text: t }))));
  const bar = el('div', { class: 'bar' },
    select('f-category', 'category', [['', 'any'], ['moderation', 'moderation'], ['budget', 'budget'], ['pipeline', 'pipeline']]),
    select('f-severity', 'min severity', [['', 'any']].concat(SEVERITIES.map((s) => [s, s]))),
    select('f-state', 'state', [['', 'any'], ['firing', 'firing'], ['silenced', 'silenced'], ['resolved', 'resolved']]),
    el('label', {}, 'game ', el('input', { id: 'f-game', size: 8, oninput: draw })),
    el('label', {}, 'env ', el('input', { id: 'f-env', size: 8, oninput: draw })),
    el('label', {}, el('input', { id: 'f-hidden', type: 'checkbox', onchange: draw }), ' show probe & seeded'),
    canAdmin() ? el('label', {}, 'silence for ', el('select', { id: 'silence-for' },
      ['1h', '2h', '6h', '24h'].map((d) => el('option', { value: d, text: d })))) : null);
  const fresh = el('div', { class: 'panel', id: 'freshness' });
  const list = el('div', { id: 'alert-list' });
  const silences = el('div', { class: 'panel', id: 'silences' });
  main().append(fresh, bar, list, silences);

  function read() {
    for (const k of ['category', 'severity', 'state', 'game', 'env']) f[k] = document.getElementById('f-' + k).value.trim();
    f.hidden = document.getElementById('f-hidden').checked;
  }
  function shown(a) {
    if (f.category && a.category !== f.category) return false;
    if (f.severity && SEVERITIES.indexOf(a.severity) < SEVERITIES.indexOf(f.severity)) return false;
    if (f.state && a.state !== f.state) return false;
    if (f.game && a.game !== f.game) return false;
    if (f.env && a.env !== f.env) return false;
    if (!f.hidden && (a.probe || a.seeded)) return false;
    return true;
  }
  function keep(a) {
    a.updatedMs = Date.parse(a.updatedAt) || 0;
    alerts.set(a.id, a);
  }
  function update(a) {
    if (!a) return;
    keep(a);
    draw();
    loadSilences();
  }
  // Rows and group sections are kept between draws and rebuilt only when their alert changed
  // (ages are refreshed by the 10 s full redraw): a draw under a burst creates the new rows
  // and moves the others, and only the newest `limit` rows are in the page at all.
  let limit = SHOWN_ALERTS;
  let rowCache = new Map(), sectionCache = new Map();
  const more = el('button', { id: 'alerts-more', hidden: true, onclick: () => { limit += SHOWN_ALERTS; draw(); } });
  function rowOf(a, cache) {
    const key = a.updatedAt + '|' + a.state + '|' + (a.acknowledgedBy || '') + '|' + (a.count || 1);
    const old = rowCache.get(a.id);
    const node = old && old.key === key ? old.node : alertRow(a, update);
    cache.set(a.id, { key, node });
    return node;
  }
  function draw() {
    read();
    const matching = [...alerts.values()].filter(shown).sort((x, y) => y.updatedMs - x.updatedMs);
    const rows = matching.slice(0, Math.min(limit, MAX_ALERTS));
    const groups = new Map();
    for (const a of rows) {
      const g = a.group || a.rule;
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(a);
    }
    const rowsNow = new Map(), sectionsNow = new Map();
    const sections = [];
    for (const [g, items] of groups) {
      const firing = items.filter((a) => a.state === 'firing').length;
      const title = g + ' — ' + items.length + ' alert' + (items.length > 1 ? 's' : '') + (firing ? ', ' + firing + ' firing' : '');
      let sec = sectionCache.get(g);
      if (!sec) sec = el('section', { class: 'alert-group', 'data-group': g }, el('h3'));
      if (sec.firstChild.textContent !== title) sec.firstChild.textContent = title;
      const nodes = items.map((a) => rowOf(a, rowsNow));
      const kids = sec.children;
      if (kids.length !== nodes.length + 1 || nodes.some((n, i) => kids[i + 1] !== n)) sec.replaceChildren(sec.firstChild, ...nodes);
      sectionsNow.set(g, sec);
      sections.push(sec);
    }
    rowCache = rowsNow;
    sectionCache = sectionsNow;
    const rest = matching.length - rows.length;
    more.hidden = rest <= 0 || rows.length >= MAX_ALERTS;
    const moreText = 'Show ' + Math.min(SHOWN_ALERTS, rest) + ' more (' + rest + ' not shown)';
    if (more.textContent !== moreText) more.textContent = moreText;
    if (!rows.length) sections.push(el('p', { class: 'empty', text: 'No alerts match.' }));
    const kids = list.children;
    if (kids.length !== sections.length + 1 || sections.some((n, i) => kids[i] !== n)) list.replaceChildren(...sections, more);
  }
  async function freshness() {
    const input = document.getElementById('fresh-window');
    const windowText = input ? input.value : '6h';
    const windowMs = parseDuration(windowText);
    let status, detail;
    // The rule of `playtrace alerts`: the newest moderation alert by createdAt, resolved or
    // not — a smoke probe's alert counts (the real pipeline raised it), a seeded one is reported
    // as such and is never fresh — its age from createdAt, its source named.
    try {
      const r = await api('/v1/alerts?category=moderation&include_seeded=true&include_probes=true&sort=created&limit=1');
      const a = r.alerts[0];
      if (!a) {
        status = 'no-alerts'; detail = 'no moderation alert yet';
      } else {
        const ageMs = since(a.createdAt);
        const source = a.seeded ? 'seeded' : (a.probe ? 'probe' : 'live');
        status = a.seeded ? 'seeded' : (ageMs !== null && ageMs <= windowMs ? 'ready' : 'stale');
        detail = 'newest moderation alert (' + source + ') ' + age(ageMs) + ' ago: ' + (a.reason || a.rule);
      }
    } catch (e) { status = 'error'; detail = e.message; }
    fresh.textContent = '';
    fresh.append(el('strong', {}, 'Freshness '), el('span', { class: 'fresh-status ' + status, id: 'fresh-status', text: status }),
      ' ', detail, ' · window ',
      el('input', { id: 'fresh-window', size: 5, value: windowText, onchange: freshness }));
  }
  async function loadSilences() {
    let s;
    try { s = await api('/v1/silences?state=active'); } catch (_) { return; }
    silences.textContent = '';
    silences.append(el('strong', { text: 'Active silences' }));
    if (!s.silences.length) silences.append(el('p', { text: 'none' }));
    for (const x of s.silences) {
      const what = Object.entries(x.matchers).map(([k, v]) => k + '=' + v).join(', ');
      silences.append(el('div', { class: 'silence-row', 'data-id': x.id },
        what + ' until ' + x.endsAt + ' by ' + x.author + (x.comment ? ' — ' + x.comment : '') + ' ',
        canAdmin() ? el('button', { class: 'unsilence', text: 'Unsilence', onclick: async () => {
          try { await api('/v1/silences/' + x.id, { method: 'DELETE' }); } catch (e) { notice(e.message); }
          await reload();
        } }) : null));
    }
  }
  async function reload() {
    try {
      const r = await api('/v1/alerts?limit=' + MAX_ALERTS + '&include_probes=true&include_seeded=true');
      alerts.clear();
      for (const a of r.alerts) keep(a);
      draw();
    } catch (e) { notice(e.message); }
    loadSilences();
  }
  // The list is redrawn at most every 250 ms, and every 750 ms while a burst lasts (more than
  // 20 changes between two draws: nobody reads rows arriving at 100 a second, and each redraw
  // repaints the page), so a new alert still shows within a second; the freshness is asked at
  // most once a second.
  let drawTimer = null, freshTimer = null, changes = 0, burst = false;
  const soon = () => {
    changes += 1;
    if (!drawTimer) {
      drawTimer = setTimeout(() => {
        drawTimer = null;
        burst = changes > 20;
        changes = 0;
        draw();
      }, burst ? 750 : 250);
    }
  };
  const es = new EventSource(streamUrl({ topics: 'alerts' }));
  es.addEventListener('alert', (m) => {
    const changed = JSON.parse(m.data);
    changed.group = groupOf(changed);
    keep(changed);
    if (alerts.size > 2 * MAX_ALERTS) {
      const oldest = [...alerts.values()].sort((x, y) => x.updatedMs - y.updatedMs);
      for (const a of oldest.slice(0, alerts.size - MAX_ALERTS)) alerts.delete(a.id);
    }
    soon();
    if (changed.category === 'moderation' && !freshTimer) freshTimer = setTimeout(() => { freshTimer = null; freshness(); }, 1000);
  });
  onCleanup(() => { clearTimeout(drawTimer); clearTimeout(freshTimer); });
  es.addEventListener('open', () => reload());
  onCleanup(() => es.close());
  const timer = setInterval(() => { rowCache = new Map(); draw(); freshness(); }, 10000);
  onCleanup(() => clearInterval(timer));
  freshness();
  reload();
}

async function alertDetail(id) {
  let a;
  try { a = await api('/v1/alerts/' + encodeURIComponent(id)); } catch (e) { notice(e.message); return; }
  const box = el('div', { class: 'panel', id: 'alert-detail' });
  const show = (x) => {
    box.textContent = '';
    box.append(el('p', {}, el('a', { href: '/alerts', 'data-nav': true, text: '← all alerts' })),
      alertRow(x, (y) => y && show(y)),
      el('dl', {}, Object.entries(x).flatMap(([k, v]) => [el('dt', { text: k }),
        el('dd', { text: typeof v === 'object' ? JSON.stringify(v) : String(v) })])));
  };
  show(a);
  main().append(box);
  if (a.eventSeq) {
    // The event that raised it: the one stored right at its sequence number.
    const raised = el('div', { class: 'panel', id: 'raising-event' }, el('strong', { text: 'Raised by event #' + a.eventSeq }));
    main().append(raised);
    try {
      const r = await api('/v1/events?limit=1&after=' + (a.eventSeq - 1));
      const e = r.events[0];
      if (e && e.seq === a.eventSeq) raised.append(el('pre', { text: JSON.stringify(e, null, 2) }));
    } catch (e) { raised.append(el('p', { text: e.message })); }
  }
  if (a.sessionId) {
    const events = el('div', { class: 'panel' }, el('strong', { text: 'Events of session ' + a.sessionId }));
    main().append(events);
    try {
      const r = await api('/v1/events?limit=100&session=' + encodeURIComponent(a.sessionId));
      for (const e of r.events) events.append(el('div', { class: 'ev', id: 'event-' + e.seq, text: e.receivedAt + ' #' + e.seq + ' ' + e.event + ' ' + JSON.stringify(e.attrs || {}) }));
    } catch (e) { events.append(el('p', { text: e.message })); }
  }
}

// ---- budgets ------------------------------------------------------------------------------

const history95 = new Map();

function label(group) {
  if (!group) return 'overall';
  return Object.entries(group).map(([k, v]) => k + '=' + (v === null ? '-' : v)).join(',');
}

function chart(line, key) {
  const w = 420, h = 160, pad = 30;
  const values = [['p50', line.p50], ['p95', line.p95], ['p99', line.p99]];
  const top = Math.max(line.budget || 0, ...values.map(([, v]) => v || 0)) * 1.15 || 1;
  const y = (v) => h - pad - (v / top) * (h - 2 * pad);
  const svg = el('svg', { width: w, height: h, viewBox: '0 0 ' + w + ' ' + h, id: 'budget-chart', role: 'img' });
  values.forEach(([name, v], i) => {
    const x = pad + 20 + i * 90;
    if (v !== null && v !== undefined) {
      svg.append(el('rect', { class: 'chart-bar ' + name, x, y: y(v), width: 50, height: Math.max(1, h - pad - y(v)) }));
      svg.append(el('text', { x, y: y(v) - 4, text: Math.round(v) + ' ms' }));
    }
    svg.append(el('text', { x: x + 12, y: h - pad + 14, text: name + (name === 'p95' ? ' ◆' : '') }));
  });
  svg.append(el('line', { class: 'chart-budget', x1: pad, x2: w - 100, y1: y(line.budget), y2: y(line.budget) }));
  svg.append(el('text', { x: w - 95, y: y(line.budget) + 4, text: 'budget ' + line.budget + ' ms' }));
  // p95 over the time this page has watched it (sparkline, up to an hour).
  const hist = history95.get(key) || [];
  if (hist.length > 1) {
    const x0 = hist[0][0], span = Math.max(1, hist[hist.length - 1][0] - x0);
    const pts = hist.map(([t, v]) => (w - 95 + ((t - x0) / span) * 85).toFixed(1) + ',' + (20 + 40 - (v / top) * 40).toFixed(1));
    svg.append(el('polyline', { class: 'spark', points: pts.join(' ') }));
    svg.append(el('text', { x: w - 95, y: 14, text: 'p95 since ' + age(Date.now() - x0) + ' ago' }));
  }
  return svg;
}

function budgetsView() {
  const dims = el('select', { id: 'b-group', onchange: load },
    [['', 'overall only'], ['room', 'room'], ['hub', 'hub'], ['move', 'move'], ['type', 'type']].map(([v, t]) => el('option', { value: v, text: t })));
  const out = el('div', { id: 'budgets' });
  const chartBox = el('div', { class: 'panel', id: 'budget-chart-box' });
  main().append(el('div', { class: 'bar' }, el('label', {}, 'group by ', dims)), chartBox, out);
  let selected = null;
  async function load() {
    let r;
    const q = dims.value ? '?group_by=' + dims.value : '';
    try { r = await api('/v1/budgets' + q); } catch (e) { notice(e.message); return; }
    out.textContent = '';
    const now = Date.now();
    for (const w of r.windows) {
      const rows = [];
      const lines = w.budgets.map((b) => [null, b]).concat((w.groups || []).flatMap((g) => g.budgets.map((b) => [g.key, b])));
      for (const [group, b] of lines) {
        const key = w.window + '|' + label(group) + '|' + b.metric + '|' + b.percentile;
        const hist = history95.get(key) || [];
        if (b.p95 !== null && b.p95 !== undefined) hist.push([now, b.p95]);
        while (hist.length && now - hist[0][0] > 3600e3) hist.shift();
        history95.set(key, hist);
        if (!selected && b.status === 'breach') selected = key;
        const tr = el('tr', { class: 'budget-row' + (selected === key ? ' selected' : ''), 'data-group': label(group), 'data-metric': b.metric, 'data-status': b.status,
          onclick: () => { selected = key; load(); } },
          el('td', { text: label(group) }), el('td', { text: b.metric + ' p' + b.percentile }),
          el('td', { text: fmt(b.p50) }), el('td', { text: fmt(b.p95) }), el('td', { text: fmt(b.p99) }),
          el('td', { text: b.budget + ' ms' }), el('td', { text: b.samples }),
          el('td', { class: 'status ' + b.status, text: b.status === 'breach' ? 'breach' : b.status }));
        rows.push(tr);
        if (selected === key) {
          const past = el('div', { id: 'budget-history-box' });
          chartBox.textContent = '';
          chartBox.append(el('strong', { text: w.window + ' · ' + label(group) + ' · ' + b.metric }), el('br'), chart(b, key), past);
          budgetHistory(past, group, b);
        }
      }
      out.append(el('div', { class: 'panel budget-window', 'data-window': w.window }, el('strong', { text: 'window ' + w.window }),
        el('table', {}, el('tr', {}, ['group', 'budget', 'p50', 'p95', 'p99', 'limit', 'samples', 'status'].map((t) => el('th', { text: t }))), rows)));
    }
    if (!selected) chartBox.textContent = 'Click a row for its chart.';
  }
  const fmt = (v) => (v === null || v === undefined ? '-' : Math.round(v) + ' ms');
  load();
  const timer = setInterval(load, 3000);
  onCleanup(() => clearInterval(timer));
}

// ---- contests -----------------------------------------------------------------------------

async function contestsView() {
  let r;
  try { r = await api('/v1/contests?limit=1000'); } catch (e) { notice(e.message); return; }
  const counts = {};
  for (const c of r.contests) counts[c.state] = (counts[c.state] || 0) + 1;
  main().append(el('div', { class: 'grid', id: 'contest-counts' },
    ['arming', 'resolving', 'resolved', 'expired', 'failed', 'unresolved'].map((s) =>
      el('div', { class: 'tile', 'data-state': s }, el('div', { class: 'label', text: s }), el('div', { class: 'big', text: counts[s] || 0 })))));
  const open = r.contests.filter((c) => ['arming', 'resolving', 'unresolved'].includes(c.state));
  const t = el('table', { id: 'open-contests' }, el('tr', {}, ['contest', 'state', 'hub', 'room', 'age'].map((x) => el('th', { text: x }))));
  for (const c of open) {
    const id = c.contestId || c.contestKey || c.id;
    t.append(el('tr', {}, el('td', {}, el('a', { href: '/contests/' + encodeURIComponent(id), 'data-nav': true, text: id })),
      el('td', { text: c.state }), el('td', { text: c.hubId || '-' }), el('td', { text: c.roomId || '-' }),
      el('td', { text: age(c.firstReceivedMs ? Date.now() - c.firstReceivedMs : null) })));
  }
  main().append(el('div', { class: 'panel' }, el('strong', { text: 'Open and unresolved (' + open.length + ')' }), t));
}

async function contestDetail(id) {
  let c;
  try { c = await api('/v1/contests/' + encodeURIComponent(id)); } catch (e) { notice(e.message); return; }
  main().append(el('div', { class: 'panel', id: 'contest-detail' },
    el('p', {}, el('a', { href: '/contests', 'data-nav': true, text: '← contests' })),
    el('dl', {}, Object.entries(c).filter(([k]) => k !== 'events').flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: typeof v === 'object' ? JSON.stringify(v) : String(v) })])),
    el('strong', { text: 'Lifecycle' }),
    el('ol', {}, (c.events || []).map((e) => el('li', { text: typeof e === 'object' ? JSON.stringify(e) : String(e) })))));
}

// ---- stream -------------------------------------------------------------------------------

function streamView() {
  const rows = el('div', { id: 'stream-list' });
  const status = el('span', { id: 'stream-status', text: 'connecting' });
  const seen = new Set();
  let es = null;
  let lastId = '';
  let paused = false;
  const input = (id, label) => el('label', {}, label + ' ', el('input', { id, size: 12, onchange: reconnect }));
  const pause = el('button', { id: 's-pause', text: 'Pause', onclick: () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (paused) { if (es) es.close(); status.textContent = 'paused at ' + (lastId || '-'); } else connect();
  } });
  main().append(el('div', { class: 'bar' }, input('s-name', 'name prefix'), input('s-game', 'game'), input('s-env', 'env'), pause, status), rows);
  function connect() {
    if (es) es.close();
    const p = { topics: 'events' };
    for (const [k, id] of [['name', 's-name'], ['game', 's-game'], ['env', 's-env']]) {
      const v = document.getElementById(id).value.trim();
      if (v) p[k] = v;
    }
    // Resuming after a pause: the browser sends Last-Event-ID itself only on its own
    // reconnects, so a new EventSource says where it was in the query.
    if (lastId) p.last_event_id = lastId;
    es = new EventSource(streamUrl(p));
    es.addEventListener('open', () => { status.textContent = 'live'; });
    es.addEventListener('error', () => { status.textContent = 'reconnecting (from ' + (lastId || 'now') + ')'; });
    es.addEventListener('event', (m) => {
      if (m.lastEventId) lastId = m.lastEventId;
      const e = JSON.parse(m.data);
      if (seen.has(e.seq)) return;
      seen.add(e.seq);
      rows.prepend(el('div', { class: 'ev', 'data-seq': e.seq, text: '#' + e.seq + ' ' + (e.receivedAt || '') + ' ' + e.event + ' ' + (e.game || '') + ' ' + JSON.stringify(e.attrs || {}) }));
      while (rows.childElementCount > MAX_STREAM_ROWS) rows.lastElementChild.remove();
    });
  }
  function reconnect() { rows.textContent = ''; seen.clear(); lastId = ''; if (!paused) connect(); }
  connect();
  onCleanup(() => { if (es) es.close(); });
}

// ---- health -------------------------------------------------------------------------------

function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const kv of (m[3] || '').split(',')) {
      const [k, v] = kv.split('=');
      if (k && v) labels[k.trim()] = v.replace(/^"|"$/g, '');
    }
    out.push({ name: m[1], labels, value: parseFloat(m[4]) });
  }
  return out;
}

function healthView() {
  const grid = el('div', { class: 'grid', id: 'health' });
  const rejects = el('div', { class: 'panel', id: 'rejects' });
  main().append(grid, rejects);
  let last = null;
  async function load() {
    let text;
    try { text = await api('/metrics'); } catch (e) { notice(e.message); return; }
    const ms = parseMetrics(String(text));
    const sum = (name, pred) => ms.filter((m) => m.name === name && (!pred || pred(m.labels))).reduce((a, m) => a + m.value, 0);
    const accepted = sum('playtrace_events_total', (l) => l.outcome === 'accepted');
    const now = Date.now();
    const rate = last ? ((accepted - last.accepted) * 1000) / Math.max(1, now - last.at) : null;
    last = { accepted, at: now };
    const storeBytes = sum('playtrace_store_bytes', (l) => l.kind === 'file');
    const tiles = [
      ['ingest rate', rate === null ? '…' : rate.toFixed(1) + ' ev/s'],
      ['accepted', accepted],
      ['rejected', sum('playtrace_events_total', (l) => l.outcome === 'rejected')],
      ['503 overloaded', sum('playtrace_ingest_overloaded_total')],
      ['507 store full', sum('playtrace_store_full_total')],
      ['store size', (storeBytes / 1048576).toFixed(1) + ' MiB'],
      ['stream subscribers', sum('playtrace_stream_subscribers')],
    ];
    grid.textContent = '';
    for (const [k, v] of tiles) grid.append(el('div', { class: 'tile', 'data-metric': k }, el('div', { class: 'label', text: k }), el('div', { class: 'big', text: v })));
    rejects.textContent = '';
    rejects.append(el('strong', { text: 'Rejects by kind' }));
    const t = el('table', {});
    for (const m of ms.filter((x) => x.name === 'playtrace_events_total' && x.labels.outcome === 'rejected')) {
      t.append(el('tr', {}, el('td', { text: m.labels.kind }), el('td', { text: m.value })));
    }
    rejects.append(t);
  }
  load();
  const timer = setInterval(load, 2000);
  onCleanup(() => clearInterval(timer));
}

if (location.pathname === '/') history.replaceState(null, '', '/alerts');
start();
