// Runs the real `playtrace serve` binary on 127.0.0.1 (a free port, a temporary data directory)
// for the tests, and reads what it stored. The binary comes from PLAYTRACE_BIN (default: the
// workspace's debug build).

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
export const PLAYTRACE_BIN = resolve(
  process.env.PLAYTRACE_BIN ?? join(here, '../../../../target/debug/playtrace'),
);

// Every temporary path a test file made goes when its process exits (each test file runs in a
// process of its own), so repeated runs do not fill /tmp; PLAYTRACE_KEEP_TEMP=1 keeps them to
// look at after a failure.
const made = [];
process.on('exit', () => {
  if (process.env.PLAYTRACE_KEEP_TEMP) return;
  for (const path of made) rmSync(path, { recursive: true, force: true });
});

/** A temporary directory, removed when the test process exits. */
export function tempDir(prefix = 'playtrace-js-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * Starts `playtrace serve`; resolves once it listens and /readyz answers 200.
 * `listen` defaults to 127.0.0.1:0 (a free port); `config` is TOML text.
 */
export async function startServe({ dataDir = tempDir(), listen = '127.0.0.1:0', config } = {}) {
  if (!existsSync(PLAYTRACE_BIN)) {
    throw new Error(
      `${PLAYTRACE_BIN} does not exist: run \`cargo build -p playtrace\` or set PLAYTRACE_BIN`,
    );
  }
  const args = ['serve', '--listen', listen, '--data-dir', dataDir];
  if (config !== undefined) {
    const path = `${dataDir}.toml`;
    writeFileSync(path, config);
    made.push(path);
    args.push('--config', path);
  }
  const env = { ...process.env };
  delete env.PLAYTRACE_LOG;
  const child = spawn(PLAYTRACE_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let log = '';
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${log}`)), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${log}`));
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      log += line + '\n';
      const m = /listening on (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`serve never became ready:\n${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url,
    dataDir,
    child,
    log: () => log,
    /** Stops it (SIGTERM) and waits for it to exit. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `playtrace_events_total{outcome=...}` summed over kinds. */
export async function eventCounter(url, outcome) {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('playtrace_events_total{') && line.includes(`outcome="${outcome}"`)) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/** Every stored event (paging GET /v1/events by its cursor). */
export async function storedEvents(url, name = '') {
  const out = [];
  let after = 0;
  for (let page = 0; page < 100_000; page++) {
    const r = await fetch(`${url}/v1/events?name=${encodeURIComponent(name)}&after=${after}&limit=1000`);
    if (!r.ok) throw new Error(`GET /v1/events: ${r.status} ${await r.text()}`);
    const body = await r.json();
    out.push(...body.events);
    // A short or empty page with `scanLimited` is not the end: the collector examines a bounded
    // range of sequence numbers per page and says where it stopped.
    if ((body.events.length === 0 && !body.scanLimited) || body.next === after) break;
    after = body.next;
  }
  return out;
}

/** Asserts-friendly summary: how many stored, how many distinct ids. */
export async function storedSummary(url, name = '') {
  const events = await storedEvents(url, name);
  return { stored: events.length, distinctIds: new Set(events.map((e) => e.id)).size, events };
}
