// Child processes for the tests: the emitter, its JSON lines, and bounded waits for exit.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';

const emitter = fileURLToPath(new URL('./emitter.mjs', import.meta.url));

/** Starts the emitter with `env`; `lines` yields its JSON lines. */
export function startEmitter(env) {
  const child = spawn(process.execPath, [emitter], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const queue = [];
  const waiting = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const msg = JSON.parse(line);
    const w = waiting.shift();
    if (w) w(msg);
    else queue.push(msg);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    /** The next JSON line, or an error after `ms`. */
    next(ms = 60_000) {
      if (queue.length > 0) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('the emitter printed nothing in time')), ms);
        waiting.push((m) => { clearTimeout(t); resolve(m); });
        exited.then(() => { clearTimeout(t); reject(new Error('the emitter exited early')); });
      });
    },
  };
}

/** Resolves with the exit, or rejects after `ms`. */
export function exitWithin(proc, ms) {
  let t;
  return Promise.race([
    proc.exited.finally(() => clearTimeout(t)),
    new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms); }),
  ]);
}

/** A loopback port nothing listens on (bound, then closed). */
export async function deadUrl() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return `http://127.0.0.1:${port}`;
}
