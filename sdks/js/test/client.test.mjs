// The Node client against a real `playtrace serve` child process: exactly-once delivery of
// 100,000 events, the spool surviving SIGKILL and being sent by a later process, Retry-After
// honoured, bounded memory and flush, and a process that exits by itself after close.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../dist/index.js';
import { startServe, eventCounter, storedSummary, tempDir } from './support/serve.mjs';
import { startEmitter, exitWithin, deadUrl } from './support/proc.mjs';

let serve;
before(async () => {
  serve = await startServe();
});
after(async () => {
  await serve?.stop();
});

test('100,000 events emitted and flushed are stored exactly once', async () => {
  const before = await eventCounter(serve.url, 'accepted');
  const client = new Client({ url: serve.url, game: 'js-load', env: 'test' });
  for (let i = 0; i < 100_000; i++) {
    assert.equal(client.emit({ event: 'load.tick', attrs: { i }, session: `s-${i % 7}` }), true);
  }
  const flush = await client.flush(90_000);
  assert.deepEqual(flush, { ok: true, pending: 0 });
  const m = client.metrics();
  assert.equal(m.sent, 100_000);
  assert.deepEqual(m.dropped, { memory: 0, spoolFull: 0, rejected: 0, invalid: 0, closed: 0 });
  assert.deepEqual(await client.close(5000), { ok: true, pending: 0 });
  assert.equal((await eventCounter(serve.url, 'accepted')) - before, 100_000);
  const { stored, distinctIds, events } = await storedSummary(serve.url, 'load.');
  assert.equal(stored, 100_000);
  assert.equal(distinctIds, 100_000);
  const seen = new Set(events.map((e) => e.attrs.i));
  assert.equal(seen.size, 100_000, 'every event, once');
  const e = events[12345];
  assert.equal(e.game, 'js-load');
  assert.equal(e.env, 'test');
  assert.match(e.session, /^s-\d$/);
  assert.equal(typeof e.ts, 'number');
});

test('collector down: spooled, survives SIGKILL right after flush, sent once by a later process', async () => {
  const spool = tempDir('playtrace-js-spool-');
  // 1. No collector: flush returns once all 5,000 are fsynced in the spool; then SIGKILL.
  const p1 = startEmitter({ URL: await deadUrl(), SPOOL_DIR: spool, N: '5000', BATCH: '1000', MODE: 'hang', PREFIX: 'spool.a.' });
  const r1 = await p1.next();
  p1.child.kill('SIGKILL');
  await exitWithin(p1, 10_000);
  assert.deepEqual(r1.flush, { ok: true, pending: 0 });
  assert.equal(r1.metrics.spooled, 5000);
  assert.equal(r1.metrics.sent, 0);
  const segments = readdirSync(spool).filter((f) => f.endsWith('.ndjson'));
  assert.equal(segments.length, 5, 'one fsynced segment per batch');
  const copy = tempDir('playtrace-js-spool-copy-');
  cpSync(spool, copy, { recursive: true });

  // 2. Collector up, collector-acknowledged, then SIGKILL right after flush: nothing lost.
  const p2 = startEmitter({ URL: serve.url, N: '3000', MODE: 'hang', PREFIX: 'spool.b.' });
  const r2 = await p2.next();
  p2.child.kill('SIGKILL');
  await exitWithin(p2, 10_000);
  assert.equal(r2.metrics.sent, 3000);

  // 3. A new process with the same spool and the collector up: the spool goes first, then its own.
  const p3 = startEmitter({ URL: serve.url, SPOOL_DIR: spool, N: '10', MODE: 'close', PREFIX: 'spool.c.' });
  await p3.next();
  const closed = await p3.next();
  await exitWithin(p3, 10_000);
  assert.equal(closed.close.ok, true);
  assert.equal(closed.metrics.sent, 5010, 'the 5,000 spooled by the killed process and its own 10');
  assert.deepEqual(readdirSync(spool).filter((f) => f.endsWith('.ndjson')), [], 'the spool is empty');

  // 4. The same segments sent again (a crash between the acknowledgement and the removal) are
  //    duplicates: stored once.
  const dupBefore = await eventCounter(serve.url, 'duplicate');
  const p4 = startEmitter({ URL: serve.url, SPOOL_DIR: copy, N: '0', MODE: 'close' });
  await p4.next();
  const c4 = await p4.next();
  await exitWithin(p4, 10_000);
  assert.equal(c4.metrics.sent, 5000);
  assert.equal((await eventCounter(serve.url, 'duplicate')) - dupBefore, 5000);

  const a = await storedSummary(serve.url, 'spool.a.');
  const c = await storedSummary(serve.url, 'spool.c.');
  assert.ok(
    Math.max(...a.events.map((e) => e.seq)) < Math.min(...c.events.map((e) => e.seq)),
    'new events queue behind the spool: order is kept',
  );
  for (const [prefix, n] of [['spool.a.', 5000], ['spool.b.', 3000], ['spool.c.', 10]]) {
    const { stored, distinctIds } = await storedSummary(serve.url, prefix);
    assert.deepEqual({ prefix, stored, distinctIds }, { prefix, stored: n, distinctIds: n });
  }
});

/** A proxy in front of the collector answering the first `refusals` requests 503. */
async function flakyProxy(target, refusals, retryAfter) {
  const seen = [];
  const encodings = [];
  const srv = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    seen.push(Date.now());
    encodings.push(req.headers['content-encoding']);
    if (seen.length <= refusals) {
      const headers = { 'Content-Type': 'application/json' };
      if (retryAfter !== undefined) headers['Retry-After'] = retryAfter;
      res.writeHead(503, headers);
      res.end('{"error":{"code":"overloaded","message":"the store\'s queue is full; retry"}}');
      return;
    }
    const headers = {};
    for (const h of ['content-type', 'content-encoding', 'authorization']) {
      if (req.headers[h]) headers[h] = req.headers[h];
    }
    const r = await fetch(`${target}${req.url}`, { method: 'POST', headers, body: Buffer.concat(chunks) });
    res.writeHead(r.status, { 'Content-Type': 'application/json' });
    res.end(await r.text());
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}`, seen, encodings, close: () => new Promise((r) => srv.close(r)) };
}

test('503 with Retry-After: 1 is waited for, then the batch is stored once', async () => {
  const proxy = await flakyProxy(serve.url, 1, '1');
  const client = new Client({ url: proxy.url, game: 'js-503' });
  for (let i = 0; i < 10; i++) client.emit({ event: 'retry.after', attrs: { i } });
  const flush = await client.flush(10_000);
  assert.deepEqual(flush, { ok: true, pending: 0 });
  assert.equal(proxy.seen.length, 2);
  const gap = proxy.seen[1] - proxy.seen[0];
  assert.ok(gap >= 990 && gap < 3000, `waited ${gap} ms for Retry-After: 1`);
  assert.equal(client.metrics().retried, 1);
  assert.equal(client.metrics().sent, 10);
  assert.deepEqual(proxy.encodings, ['gzip', 'gzip'], 'bodies are gzipped (zlib)');
  await client.close(1000);
  await proxy.close();
  const { stored, distinctIds } = await storedSummary(serve.url, 'retry.after');
  assert.deepEqual({ stored, distinctIds }, { stored: 10, distinctIds: 10 });
});

test('a retried batch keeps its ids: a 503 after the store took it still stores it once', async () => {
  // The collector stores the batch but the answer is lost (the proxy answers 503 afterwards).
  const seen = [];
  const srv = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    seen.push(1);
    const r = await fetch(`${serve.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': req.headers['content-type'], 'content-encoding': req.headers['content-encoding'] ?? '' },
      body: Buffer.concat(chunks),
    });
    await r.text();
    res.writeHead(seen.length === 1 ? 503 : r.status, { 'Retry-After': '0.05' });
    res.end('{}');
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const client = new Client({ url: `http://127.0.0.1:${srv.address().port}`, game: 'js-idem' });
  for (let i = 0; i < 50; i++) client.emit({ event: 'idem.once', attrs: { i } });
  assert.equal((await client.flush(10_000)).ok, true);
  await client.close(1000);
  await new Promise((r) => srv.close(r));
  assert.equal(seen.length, 2);
  const { stored, distinctIds } = await storedSummary(serve.url, 'idem.once');
  assert.deepEqual({ stored, distinctIds }, { stored: 50, distinctIds: 50 });
});

test('close sends the spool even inside a back-off: the network came back after the last failure', async () => {
  // The collector's network is away (connections dropped) long enough for the client to back
  // off for seconds, then comes back; close must try the spool once rather than leave it.
  let up = false;
  let failed = 0;
  const srv = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    if (!up) {
      failed++;
      req.socket.destroy();
      return;
    }
    const r = await fetch(`${serve.url}${req.url}`, {
      method: 'POST',
      headers: { 'content-type': req.headers['content-type'], 'content-encoding': req.headers['content-encoding'] ?? '' },
      body: Buffer.concat(chunks),
    });
    res.writeHead(r.status, { 'Content-Type': 'application/json' });
    res.end(await r.text());
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const client = new Client({
    url: `http://127.0.0.1:${srv.address().port}`,
    game: 'js-backoff',
    spoolDir: tempDir('playtrace-js-backoff-'),
    maxBackoffMs: 60_000,
  });
  for (let i = 0; i < 20; i++) client.emit({ event: 'backoff.close', attrs: { i } });
  assert.deepEqual(await client.flush(5000), { ok: true, pending: 0 }, 'durable in the spool');
  // Three failed attempts at the spool: the next one is 1.6 s or more away.
  while (failed < 4) await new Promise((r) => setTimeout(r, 20));
  up = true;
  const closed = await client.close(5000);
  await new Promise((r) => srv.close(r));
  assert.deepEqual(closed, { ok: true, pending: 0 });
  assert.equal(client.metrics().sent, 20, 'the spool went out at close');
  const { stored, distinctIds } = await storedSummary(serve.url, 'backoff.close');
  assert.deepEqual({ stored, distinctIds }, { stored: 20, distinctIds: 20 });
});

test('emit never throws; the memory bound drops and counts; flush and close keep their timeouts', async () => {
  const client = new Client({ url: await deadUrl(), memoryBound: 20_000, requestTimeoutMs: 500, logger: () => {} });
  let accepted = 0;
  for (let i = 0; i < 1000; i++) if (client.emit({ event: 'bound.x', attrs: { i, pad: 'x'.repeat(50) } })) accepted++;
  assert.ok(accepted > 0 && accepted < 1000, `${accepted} accepted`);
  assert.equal(client.metrics().dropped.memory, 1000 - accepted);
  assert.equal(client.emit(null), false);
  assert.equal(client.emit({ attrs: {} }), false);
  assert.equal(client.metrics().dropped.invalid, 2);
  const cyclic = {};
  cyclic.self = cyclic;
  assert.doesNotThrow(() => client.emit({ event: 'bound.cyclic', attrs: cyclic }));
  let t = Date.now();
  const flush = await client.flush(300);
  assert.equal(flush.ok, false);
  assert.ok(flush.pending > 0);
  assert.ok(Date.now() - t < 1500, 'flush returned at its timeout');
  t = Date.now();
  const close = await client.close(300);
  assert.ok(Date.now() - t < 1500, 'close returned at its timeout');
  assert.equal(client.emit({ event: 'after.close' }), false);
  assert.equal(client.metrics().dropped.closed >= 1, true);
  assert.equal(typeof close.pending, 'number');
});

test('a permanent refusal (401) is dropped and counted, not retried; the token is sent', async () => {
  const secured = await startServe({
    config: '[[tokens]]\nname = "game"\nsecret = "s3cret-token-1"\nscopes = ["admin"]\n',
  });
  try {
    const bad = new Client({ url: secured.url, logger: () => {} });
    bad.emit({ event: 'auth.no' });
    assert.equal((await bad.flush(5000)).ok, true, 'dropped events are settled');
    assert.equal(bad.metrics().dropped.rejected, 1);
    assert.equal(bad.metrics().retried, 0);
    await bad.close(1000);
    const good = new Client({ url: secured.url, ingestToken: 's3cret-token-1' });
    good.emit({ event: 'auth.yes' });
    assert.equal((await good.flush(5000)).ok, true);
    assert.equal(good.metrics().sent, 1);
    await good.close(1000);
  } finally {
    await secured.stop();
  }
});

test('after close the process exits by itself (collector up, and collector down)', async () => {
  for (const url of [serve.url, await deadUrl()]) {
    const p = startEmitter({ URL: url, N: '20', MODE: 'close', FLUSH_MS: '300', CLOSE_MS: '300' });
    await p.next();
    const closed = await p.next();
    const exit = await exitWithin(p, 5000);
    assert.equal(exit.code, 0, `exit for ${url}`);
    assert.equal(closed.phase, 'closed');
  }
});

test('flush(Infinity) waits for the events (setTimeout would have made it 1 ms)', async () => {
  const client = new Client({ url: serve.url, game: 'js-inf' });
  for (let i = 0; i < 10; i++) client.emit({ event: 'flush.infinity', attrs: { i } });
  assert.deepEqual(await client.flush(Infinity), { ok: true, pending: 0 });
  assert.equal(client.metrics().sent, 10);
  await client.close(1000);
});

test('a spool directory left by the Rust SDK is read in the same format', async () => {
  const spool = tempDir('playtrace-js-rustspool-');
  const { writeFileSync } = await import('node:fs');
  const line = (i) => JSON.stringify({ event: 'rust.spooled', ts: 1, id: `rust-${i}`, game: 'js-test', attrs: { i } });
  writeFileSync(join(spool, '00000000000000000000.ndjson'), [0, 1, 2].map(line).join('\n') + '\n');
  writeFileSync(join(spool, '00000000000000000001.ndjson'), [3, 4].map(line).join('\n') + '\n');
  writeFileSync(join(spool, '.00000000000000000002.ndjson.tmp'), 'a torn write is ignored');
  const client = new Client({ url: serve.url, spoolDir: spool });
  const close = await client.close(10_000);
  assert.equal(close.ok, true);
  assert.equal(client.metrics().sent, 5);
  const { stored } = await storedSummary(serve.url, 'rust.spooled');
  assert.equal(stored, 5);
});
