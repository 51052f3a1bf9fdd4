#!/usr/bin/env node
// @playtrace/sdk (JS) benchmark: `emit` cost per event, bus dispatch to one subscriber, and
// end-to-end events/s from one Node process to a local `playtrace serve`. Not part of
// scripts/test. Run: bench/sdk-js/run (builds what it needs).
//
// Env: PLAYTRACE_BIN (default target/release/playtrace), EVENTS (end-to-end, default 500000).

import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client, EventBus } from '../../sdks/js/dist/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = process.env.PLAYTRACE_BIN ?? join(root, 'target/release/playtrace');
const e2eEvents = Number(process.env.EVENTS ?? 500_000);
const ns = (t0) => Number(process.hrtime.bigint() - t0);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// 1. emit: queue only (the sender cannot run inside a synchronous loop). A fresh client per
//    round, so a round measures a queue of 200,000 as a game's would be, not millions retained.
{
  const attrs = { hubId: 'hub-a', roomId: 'room-1', contestId: 'c-1', resolutionDurationMs: 640 };
  const rounds = [];
  let dropped = 0;
  for (let r = 0; r < 15; r++) {
    const client = new Client({ url: 'http://127.0.0.1:9', memoryBound: 2 ** 30, logger: () => {} });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 200_000; i++) client.emit({ event: 'telemetry.contest.resolved', attrs, session: 's-1' });
    rounds.push(ns(t0) / 200_000);
    dropped += client.metrics().dropped.memory;
    await client.close(0);
  }
  console.log(`emit: ${median(rounds).toFixed(0)} ns/event (median of 15 rounds of 200,000 queued, the first ones warming up; ${dropped} dropped)`);
}

// 2. Bus dispatch to one subscriber.
{
  const bus = new EventBus();
  let seen = 0;
  bus.subscribe('telemetry.contest.*', () => { seen++; });
  const payload = { contestId: 'c-1' };
  const rounds = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 2_000_000; i++) bus.emit('telemetry.contest.resolved', payload);
    rounds.push(ns(t0) / 2_000_000);
  }
  console.log(`bus emit, one subscriber: ${median(rounds).toFixed(1)} ns/dispatch (median of 7 rounds of 2,000,000; ${seen} delivered)`);
}

// 3. End to end to a local collector.
{
  const data = mkdtempSync(join(tmpdir(), 'playtrace-bench-js-'));
  const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', data], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`${bin} exited with ${c}`)));
    createInterface({ input: child.stderr }).on('line', (l) => {
      const m = /listening on (\S+)/.exec(l);
      if (m) resolve(m[1]);
    });
  });
  for (let i = 0; i < 500 && !(await fetch(`${url}/readyz`).then((r) => r.ok, () => false)); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const client = new Client({ url, game: 'bench' });
  const attrs = { hubId: 'hub-a', roomId: 'room-1', contestId: 'c-1', resolutionDurationMs: 640 };
  const t0 = process.hrtime.bigint();
  let sent = 0;
  while (sent < e2eEvents) {
    // A game loop: a slice of events, then the event loop runs (the sender gets its turn). The
    // game paces itself on the queue instead of letting the memory bound drop events.
    if (client.metrics().queued > 50_000) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    for (let i = 0; i < 5000 && sent < e2eEvents; i++, sent++) {
      client.emit({ event: 'telemetry.contest.resolved', attrs });
    }
    await new Promise((r) => setImmediate(r));
  }
  const flush = await client.flush(300_000);
  const secs = ns(t0) / 1e9;
  const m = client.metrics();
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const accepted = /playtrace_events_total\{[^}]*outcome="accepted"[^}]*\} (\d+)/.exec(metrics)?.[1];
  console.log(`end to end: ${Math.round(e2eEvents / secs)} events/s (${e2eEvents} events in ${secs.toFixed(2)} s; flush ok ${flush.ok}; sent ${m.sent}, retried ${m.retried}, dropped ${JSON.stringify(m.dropped)}; collector accepted ${accepted})`);
  await client.close(5000);
  child.kill('SIGTERM');
}
