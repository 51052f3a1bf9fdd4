// examples/js/hub.mjs (the hub simulation `playtrace demo` users run) works against a collector:
// its contests are correlated by the collector, its transcript is stored, and it exits by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServe, storedSummary } from './support/serve.mjs';

const hub = fileURLToPath(new URL('../../../examples/js/hub.mjs', import.meta.url));

test('the hub simulation feeds a collector and exits by itself', async () => {
  const serve = await startServe();
  try {
    const child = spawn(process.execPath, [hub, '--url', serve.url, '--seconds', '1', '--rate', '20'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const code = await new Promise((resolve, reject) => {
      const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`hub.mjs still running:\n${out}`)); }, 30_000);
      child.once('exit', (c) => { clearTimeout(t); resolve(c); });
    });
    assert.equal(code, 0, out);
    assert.match(out, /hub: done: \d+ contests, \d+ events sent\n/);
    const contests = await (await fetch(`${serve.url}/v1/contests?game=js-hub&limit=1000`)).json();
    const list = contests.contests ?? contests;
    assert.ok(Array.isArray(list) && list.length >= 10, JSON.stringify(contests).slice(0, 300));
    assert.ok(list.some((c) => c.state === 'resolved'), 'some contests resolved');
    const transcript = await storedSummary(serve.url, 'telemetry.transcript.entry');
    assert.equal(transcript.stored, 4);
  } finally {
    await serve.stop();
  }
});
