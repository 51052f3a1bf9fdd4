// The SDK's browser build in Debian's Chromium (headless, driven by playwright-core): a page sends
// events, goes offline (request interception), spools to IndexedDB, is reloaded, comes back, and
// everything arrives once; what is queued when the page is hidden goes out in keepalive requests;
// the Playwright helper turns what the page sent into `playtrace export`'s artifacts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { capturePlaytrace } from '../dist/playwright.js';
import { TranscriptRecorder } from '../dist/index.js';
import { startServe, storedSummary, tempDir } from './support/serve.mjs';

const CHROMIUM = process.env.PLAYTRACE_CHROMIUM ?? '/usr/bin/chromium';
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const pageHtml = readFileSync(new URL('./page/index.html', import.meta.url));

let pages, serve, context, pageOrigin;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium or set PLAYTRACE_CHROMIUM`);
  }
  // The game's web server: the page and the SDK's browser build.
  pages = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/index.html') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(pageHtml);
    } else if (/^\/sdk\/[a-z-]+\.js$/.test(path) && existsSync(dist + path.slice(5))) {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end(readFileSync(dist + path.slice(5)));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => pages.listen(0, '127.0.0.1', r));
  pageOrigin = `http://127.0.0.1:${pages.address().port}`;
  // The collector allows the game's origin (CORS), as a deployment would configure it.
  serve = await startServe({ config: `[http]\ncors_origins = ["${pageOrigin}"]\n` });
  context = await chromium.launchPersistentContext(tempDir('playtrace-js-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await context?.close();
  await serve?.stop();
  await new Promise((r) => (pages ? pages.close(r) : r()));
});

async function open(page, linger = 20) {
  await page.goto(`${pageOrigin}/index.html?collector=${encodeURIComponent(serve.url)}&linger=${linger}`);
  await page.waitForFunction(() => window.ready === true);
}

async function expectStored(prefix, n) {
  const s = await storedSummary(serve.url, prefix);
  assert.deepEqual({ prefix, stored: s.stored, distinctIds: s.distinctIds }, { prefix, stored: n, distinctIds: n });
}

test('online, offline (spooled to IndexedDB, page reloaded), back online: everything arrives once', async () => {
  const page = await context.newPage();
  const capture = await capturePlaytrace(page);
  const encodings = new Set();
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/events') && r.method() === 'POST') encodings.add(r.headers()['content-encoding'] ?? 'none');
  });
  await open(page);

  const online = await page.evaluate(async () => {
    for (let i = 0; i < 100; i++) pt.emit({ event: 'browser.online', attrs: { i } });
    const t = new TranscriptRecorder('s-browser');
    t.record({ event: 'tutorial_started', action: 'started', timestamp: 1761843600000, metadata: { totalSteps: 1 } });
    t.record({ event: 'note', title: 'a | b\nc', action: 'noted', timestamp: 1761843601000, metadata: null });
    for (const e of t.toEvents()) pt.emit(e);
    return { flush: await pt.flush(5000), metrics: pt.metrics(), csv: t.toCsv() };
  });
  assert.deepEqual(online.flush, { ok: true, pending: 0 });
  assert.equal(online.metrics.sent, 102);
  assert.deepEqual([...encodings], ['gzip'], 'CompressionStream gzips the bodies');

  // Offline: every request to the collector fails at the network level.
  const offline = (route) => route.abort('internetdisconnected');
  await page.route('**/v1/events', offline);
  const spooled = await page.evaluate(async () => {
    for (let i = 0; i < 100; i++) pt.emit({ event: 'browser.offline', attrs: { i } });
    return { flush: await pt.flush(5000), metrics: pt.metrics() };
  });
  assert.deepEqual(spooled.flush, { ok: true, pending: 0 }, 'durable in IndexedDB');
  assert.equal(spooled.metrics.spooled, 100);
  assert.equal(spooled.metrics.sent, 102);

  // A reload while still offline: the new page finds the spool.
  await open(page);
  // Back online; the new page sends the old page's spool first, then its own.
  await page.unroute('**/v1/events', offline);
  const back = await page.evaluate(async () => {
    dispatchEvent(new Event('online'));
    for (let i = 0; i < 50; i++) pt.emit({ event: 'browser.back', attrs: { i } });
    return { close: await pt.close(10_000), metrics: pt.metrics() };
  });
  assert.deepEqual(back.close, { ok: true, pending: 0 });
  assert.equal(back.metrics.sent, 150, 'the 100 spooled by the previous page and its own 50');

  await expectStored('browser.online', 100);
  await expectStored('browser.offline', 100);
  await expectStored('browser.back', 50);

  // The helper saw each event once and builds the transcript as the SDK does.
  assert.equal(capture.events().length, 252);
  const dir = tempDir('playtrace-js-artifacts-');
  const written = capture.writeTo(dir);
  assert.deepEqual(written.map((p) => p.slice(dir.length + 1)), [
    'playtrace-events.ndjson',
    'playtrace-transcript-s-browser.json',
    'playtrace-transcript-s-browser.csv',
    'playtrace-transcript-s-browser.md',
  ]);
  assert.equal(readFileSync(`${dir}/playtrace-transcript-s-browser.csv`, 'utf8'), online.csv);
  assert.equal(readFileSync(`${dir}/playtrace-events.ndjson`, 'utf8').split('\n').length - 1, 252);
  const attached = [];
  await capture.attach({ attach: async (name, o) => { attached.push([name, o.contentType]); } });
  assert.deepEqual(attached.map((a) => a[1]), ['application/x-ndjson', 'application/json', 'text/csv', 'text/markdown']);
  assert.ok(capture.transcripts().get('s-browser') instanceof TranscriptRecorder);
  await capture.stop();
  await page.close();
});

test('events still queued when the page is hidden leave in keepalive requests', async () => {
  const page = await context.newPage();
  // A long linger: nothing is sent until the page goes away.
  await open(page, 60_000);
  const queued = await page.evaluate(() => {
    for (let i = 0; i < 30; i++) pt.emit({ event: 'browser.pagehide', attrs: { i } });
    return pt.metrics().queued;
  });
  assert.equal(queued, 30);
  await page.goto('about:blank');
  // The request outlives the page, so nothing in the page can be awaited: wait (bounded) for the
  // collector to have stored them.
  const deadline = Date.now() + 10_000;
  while ((await storedSummary(serve.url, 'browser.pagehide')).stored < 30 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await expectStored('browser.pagehide', 30);
  await page.close();
});
