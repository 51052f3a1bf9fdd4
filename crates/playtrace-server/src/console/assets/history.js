// The budgets view's history chart: the selected budget's p95 per minute over the last hour,
// computed by the collector (GET /v1/budgets/history, exact per minute), with the budget line.
// Its own file so the budgets view only calls budgetHistory(); el() and api() are app.js's.
'use strict';

// Draws into `box` (replacing what it held) the p95 per minute of `line` (a budget line of
// GET /v1/budgets) for `group` (null: overall; else {dimension: value}).
async function budgetHistory(box, group, line) {
  const dims = group ? Object.keys(group) : [];
  const q = '?from=1h&step=1m' + (dims.length ? '&group_by=' + dims.join(',') : '');
  let r;
  try { r = await api('/v1/budgets/history' + q); } catch (e) { box.textContent = 'history: ' + e.message; return; }
  const same = (key) => dims.every((d) => (key[d] === undefined ? null : key[d]) === group[d]);
  const points = [];
  for (const p of r.points) {
    const lines = group ? ((p.groups || []).find((g) => same(g.key)) || { budgets: [] }).budgets : p.budgets;
    const b = lines.find((l) => l.metric === line.metric && l.percentile === line.percentile);
    if (b && b.p95 !== null && b.p95 !== undefined) points.push([p.fromMs, b.p95, b.status]);
  }
  const w = 420, h = 120, pad = 30;
  const svg = el('svg', { width: w, height: h, viewBox: '0 0 ' + w + ' ' + h, id: 'budget-history', role: 'img' });
  const top = Math.max(line.budget || 0, ...points.map(([, v]) => v)) * 1.15 || 1;
  const x = (t) => pad + ((t - r.fromMs) / Math.max(1, r.toMs - r.fromMs)) * (w - 2 * pad);
  const y = (v) => h - pad - (v / top) * (h - 2 * pad);
  svg.append(el('line', { class: 'chart-budget', x1: pad, x2: w - pad, y1: y(line.budget), y2: y(line.budget) }));
  if (points.length > 1) {
    svg.append(el('polyline', { class: 'spark', points: points.map(([t, v]) => x(t).toFixed(1) + ',' + y(v).toFixed(1)).join(' ') }));
  }
  for (const [t, v, status] of points) {
    svg.append(el('rect', { class: 'history-point ' + status, x: x(t) - 2, y: y(v) - 2, width: 4, height: 4,
      'data-minute': new Date(t).toISOString(), 'data-p95': v }));
  }
  svg.append(el('text', { x: pad, y: 14, text: points.length ? 'p95 per minute, last hour' : 'no samples in the last hour' }));
  svg.append(el('text', { x: pad, y: h - 8, text: new Date(r.fromMs).toISOString().slice(11, 16) }));
  svg.append(el('text', { x: w - pad - 30, y: h - 8, text: new Date(r.toMs).toISOString().slice(11, 16) }));
  box.textContent = '';
  box.append(svg);
}
