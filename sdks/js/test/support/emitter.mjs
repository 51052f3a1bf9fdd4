// A game process for the tests: emits N events through the Node client, flushes, prints one
// JSON line with the outcome, then either waits to be killed (MODE=hang) or closes and returns
// (MODE=close, no process.exit: the process must end by itself).
import { Client } from '../../dist/index.js';

const env = process.env;
const n = Number(env.N ?? 0);
const client = new Client({
  url: env.URL,
  game: 'js-test',
  spoolDir: env.SPOOL_DIR || undefined,
  batchEvents: Number(env.BATCH ?? 5000),
  requestTimeoutMs: 2000,
  logger: () => {},
});
for (let i = 0; i < n; i++) {
  client.emit({ event: `${env.PREFIX ?? 'proc.'}tick`, attrs: { i, pid: process.pid } });
}
const flush = await client.flush(Number(env.FLUSH_MS ?? 30_000));
process.stdout.write(JSON.stringify({ phase: 'flushed', flush, metrics: client.metrics() }) + '\n');
if (env.MODE === 'hang') {
  setInterval(() => {}, 1000);
} else {
  const close = await client.close(Number(env.CLOSE_MS ?? 30_000));
  process.stdout.write(JSON.stringify({ phase: 'closed', close, metrics: client.metrics() }) + '\n');
}
