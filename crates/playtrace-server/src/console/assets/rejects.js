// PlayTrace console, the Rejects view (issue 25): what is failing, how much, since when.
// Loaded before app.js and run by its router (window.consoleViews); it uses app.js's helpers
// (el, api, main, notice, onCleanup, age) only when the view is shown.
'use strict';

window.consoleViews = window.consoleViews || {};

(() => {
  const KINDS = ['parse', 'schema', 'size', 'encoding'];
  const MAX_GROUPS = 200;
  const BUCKETS = 24;
  const SVG = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The query string of the filters (the API's names: kind, name, game, since).
  function query(f, extra) {
    const q = new URLSearchParams(extra || {});
    for (const k of ['kind', 'name', 'game', 'since']) if (f[k]) q.set(k, f[k]);
    return q.toString();
  }

  // Epoch ms of the start of the chart: the since filter (a duration back from now, epoch ms
  // or RFC 3339), else the oldest selected reject.
  function chartStart(sinceText, groups, now) {
    const s = (sinceText || '').trim();
    if (s) {
      if (/^\d{10,}$/.test(s)) return Number(s);
      const d = parseDuration(s);
      if (d !== null) return now - d;
      const t = Date.parse(s);
      if (!isNaN(t)) return t;
    }
    const first = Math.min(...groups.map((g) => g.firstMs));
    return isFinite(first) ? first : now - 3600e3;
  }

  // Counts over time: one grouped request per bucket (by kind), in parallel; each is a range
  // scan of the receive-time index, so together they read the selected rejects once.
  async function buckets(f, from, to) {
    const width = Math.max(1, Math.ceil((to - from) / BUCKETS));
    const asks = [];
    for (let i = 0; i < BUCKETS; i++) {
      const lo = from + i * width;
      const q = query(Object.assign({}, f, { since: String(lo) }), { group_by: 'kind', until: String(lo + width) });
      asks.push(api('/v1/rejects?' + q).then((r) => {
        const by = {};
        for (const g of r.groups) by[g.kind] = g.count;
        return { from: lo, to: lo + width, total: r.total, by };
      }));
    }
    return Promise.all(asks);
  }

  function chart(series) {
    const w = 720, h = 150, pad = 28, bw = (w - 2 * pad) / series.length;
    const top = Math.max(1, ...series.map((b) => b.total));
    const node = svg('svg', { width: w, height: h, viewBox: '0 0 ' + w + ' ' + h, id: 'rejects-chart', role: 'img' });
    node.append(svg('text', { x: 2, y: 12 }, top + ' per ' + age(series[0].to - series[0].from)));
    series.forEach((b, i) => {
      let y = h - pad;
      const x = pad + i * bw;
      const bar = svg('g', { class: 'rejects-bucket', 'data-from': b.from, 'data-count': b.total });
      bar.append(svg('title', {}, new Date(b.from).toISOString() + ': ' + b.total + ' ' +
        JSON.stringify(b.by)));
      for (const k of KINDS) {
        const n = b.by[k] || 0;
        if (!n) continue;
        const bh = Math.max(1, (n / top) * (h - 2 * pad));
        y -= bh;
        bar.append(svg('rect', { class: 'rejects-bar kind-' + k, x: x + 1, y, width: Math.max(1, bw - 2), height: bh }));
      }
      node.append(bar);
    });
    node.append(svg('line', { class: 'rejects-axis', x1: pad, x2: w - pad, y1: h - pad, y2: h - pad }));
    node.append(svg('text', { x: pad, y: h - 8 }, age(Date.now() - series[0].from) + ' ago'));
    node.append(svg('text', { x: w - pad - 24, y: h - 8 }, 'now'));
    const legend = svg('g', {});
    KINDS.forEach((k, i) => {
      legend.append(svg('rect', { class: 'rejects-bar kind-' + k, x: w - 300 + i * 72, y: 4, width: 10, height: 10 }));
      legend.append(svg('text', { x: w - 286 + i * 72, y: 13 }, k));
    });
    node.append(legend);
    return node;
  }

  function groupRow(g) {
    const ex = g.example || {};
    const raw = String(ex.raw || '');
    return el('tr', { class: 'reject-group', 'data-kind': g.kind, 'data-message': g.message, 'data-count': g.count },
      el('td', { class: 'kind', text: g.kind }),
      el('td', { class: 'message', text: g.message }),
      el('td', { class: 'count', text: g.count }),
      el('td', { text: age(Date.now() - g.firstMs) + ' ago' }),
      el('td', { text: age(Date.now() - g.lastMs) + ' ago' }),
      el('td', { class: 'example' },
        el('details', {},
          el('summary', { text: '#' + ex.seq + ' line ' + ex.line + (ex.replayed ? ' (replayed)' : '') + ': ' +
            (raw.length > 80 ? raw.slice(0, 80) + '…' : raw) }),
          el('pre', { class: 'raw', text: raw }))));
  }

  function rejectsView() {
    const f = {};
    const kind = el('select', { id: 'r-kind' }, [['', 'any']].concat(KINDS.map((k) => [k, k]))
      .map(([v, t]) => el('option', { value: v, text: t })));
    const input = (id, size, placeholder) => el('input', { id, size, placeholder });
    const name = input('r-name', 14, 'event name');
    const game = input('r-game', 10, 'game');
    const sinceBox = input('r-since', 8, 'e.g. 1h');
    sinceBox.value = '24h';
    for (const n of [kind, name, game, sinceBox]) n.addEventListener('change', load);
    const summary = el('span', { id: 'rejects-total' });
    const chartBox = el('div', { class: 'panel', id: 'rejects-chart-box' });
    const table = el('tbody', { id: 'reject-groups' });
    main().append(
      el('div', { class: 'bar' }, el('label', {}, 'kind ', kind), el('label', {}, 'name ', name),
        el('label', {}, 'game ', game), el('label', {}, 'since ', sinceBox), summary),
      chartBox,
      el('div', { class: 'panel' }, el('strong', { text: 'Groups (kind, message)' }),
        el('table', { id: 'reject-table' },
          el('thead', {}, el('tr', {}, ['kind', 'message', 'count', 'first', 'last', 'example'].map((t) => el('th', { text: t })))),
          table)));

    // Refreshed every 5 s, or ten times as long as the last refresh took: grouping scans the
    // selected rejects, and a console left open on a million of them must not keep the store's
    // readers busy.
    let busy = false, again = false, timer = null, stopped = false;
    async function load() {
      // A filter changed during a refresh: refresh again right after it.
      if (busy) { again = true; return; }
      busy = true;
      clearTimeout(timer);
      const started = Date.now();
      try {
        f.kind = kind.value; f.name = name.value.trim(); f.game = game.value.trim(); f.since = sinceBox.value.trim();
        const now = Date.now();
        const r = await api('/v1/rejects?' + query(f, { group_by: 'kind,message' }));
        const rows = r.groups.slice(0, MAX_GROUPS).map(groupRow);
        if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 6, class: 'empty', text: 'No rejects match.' })));
        table.replaceChildren(...rows);
        summary.textContent = r.total + ' rejects in ' + r.groups.length + ' group' + (r.groups.length === 1 ? '' : 's') +
          (r.groups.length > MAX_GROUPS ? ' (largest ' + MAX_GROUPS + ' shown)' : '');
        summary.dataset.total = r.total;
        const series = await buckets(f, chartStart(f.since, r.groups, now), now + 1);
        chartBox.replaceChildren(el('strong', { text: 'Rejects over time, by kind' }), el('br'), chart(series));
      } catch (e) {
        notice('rejects: ' + e.message);
      } finally {
        busy = false;
        if (!stopped) timer = setTimeout(load, again ? 0 : Math.max(5000, 10 * (Date.now() - started)));
        again = false;
      }
    }
    load();
    onCleanup(() => { stopped = true; clearTimeout(timer); });
  }

  window.consoleViews.rejects = rejectsView;
})();
