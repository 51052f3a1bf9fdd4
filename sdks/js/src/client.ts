// The platform-independent client: the same guarantees as the Rust SDK's `Client`
// (crates/playtrace-sdk/src/client.rs), on an event loop instead of a sender thread.
//
// `emit` only appends to an in-memory queue (bounded in bytes) and returns. One async sender
// loop batches by count, bytes and time, gzips, and posts; each event gets an id when it is
// serialized, so a retried batch is stored once (the collector deduplicates on `(game, id)`).
// When the collector is unreachable or overloaded (network errors, 5xx, 429, 503 with
// `Retry-After`), batches go to the spool (Node: fsynced files; browser: IndexedDB) and are sent
// oldest first, with backoff, once it answers again; new batches queue behind the spool so order
// is kept. Without a spool a failed batch is retried in memory (the memory bound protects the
// game). `flush(timeoutMs)` resolves once everything emitted before it is acknowledged or
// spooled (or dropped and counted), or when the timeout passes: never later.

import type {
  ClientMetrics,
  ClientOptions,
  DroppedCounts,
  EmitInput,
  FlushResult,
  Platform,
} from './options.js';
import { post, type PostResult } from './transport.js';

export type { ClientMetrics, ClientOptions, DroppedCounts, EmitInput, FlushResult, Platform };

interface Queued {
  input: EmitInput;
  size: number;
  seq: number;
}

interface Batch {
  /** Sequence number of the first event (for flush accounting). */
  firstSeq: number;
  body: string;
  events: number;
}

interface Waiter {
  target: number;
  resolve: (r: FlushResult) => void;
}

const DEFAULTS = {
  batchEvents: 5000,
  batchBytes: 4 << 20,
  lingerMs: 100,
  memoryBound: 16 << 20,
  spoolMaxBytes: 1 << 30,
  maxBackoffMs: 30_000,
  requestTimeoutMs: 10_000,
};

/** Rough serialized size of a value, for the memory bound (the Rust client's estimate). */
function valueSize(v: unknown, depth: number): number {
  switch (typeof v) {
    case 'string':
      return v.length + 2;
    case 'number':
      return 12;
    case 'boolean':
      return 5;
    case 'object': {
      if (v === null) return 5;
      if (depth > 8) return 64;
      let n = 2;
      if (Array.isArray(v)) {
        for (const x of v) n += valueSize(x, depth + 1) + 1;
      } else {
        for (const k in v as Record<string, unknown>) {
          n += k.length + 4 + valueSize((v as Record<string, unknown>)[k], depth + 1);
        }
      }
      return n;
    }
    default:
      return 12;
  }
}

function randomHex(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c?.getRandomValues) {
    const b = new Uint8Array(8);
    c.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }
  return (Math.random().toString(16).slice(2) + Date.now().toString(16)).slice(0, 16);
}

/**
 * Sends events to `playtrace serve` without ever stalling the game loop. Use the platform
 * entry points: `Client` from `@playtrace/sdk` (Node) or its `browser` build.
 */
export class CoreClient {
  protected readonly opts: Required<Omit<ClientOptions, 'game' | 'env' | 'ingestToken' | 'logger'>> &
    ClientOptions;
  private readonly platform: Platform;
  private readonly endpoint: string;
  private readonly envelopeTail: string;
  private readonly clientId: string;
  private nextId = 0;

  private queue: Queued[] = [];
  private head = 0;
  private queuedBytes = 0;
  private firstQueuedAt = 0;
  /** Events accepted by `emit` or dropped by it, in order (the next sequence number). */
  private emitted = 0;
  private readonly outstanding = new Set<Batch>();
  private waiters: Waiter[] = [];

  private stopping = false;
  private aborted = false;
  private notBefore = 0;
  private failures = 0;
  /** Whether the current back-off is the collector's `Retry-After` (close respects it). */
  private serverAskedToWait = false;
  /** Whether close already made its one attempt at the spool. */
  private closeAttempted = false;
  private wakeUp: (() => void) | null = null;
  private controller: AbortController | null = null;
  private readonly loopDone: Promise<void>;

  private readonly counts = { sent: 0, retried: 0, spooled: 0 };
  private readonly dropped: DroppedCounts = { memory: 0, spoolFull: 0, rejected: 0, invalid: 0, closed: 0 };

  constructor(options: ClientOptions, platform: Platform) {
    this.opts = { ...DEFAULTS, gzip: true, ...stripUndefined(options) } as CoreClient['opts'];
    this.platform = platform;
    this.clientId = platform.randomHex?.() ?? randomHex();
    this.endpoint = `${String(options.url).replace(/\/+$/, '')}/v1/events`;
    let tail = '';
    if (options.game !== undefined) tail += `,"game":${JSON.stringify(options.game)}`;
    if (options.env !== undefined) tail += `,"env":${JSON.stringify(options.env)}`;
    this.envelopeTail = tail;
    this.loopDone = this.run().catch((e) => this.log(`sender stopped: ${String(e)}`));
  }

  /**
   * Queues an event; never blocks and never throws. `false` when it was dropped (memory bound,
   * no event name, or the client is closed), counted in `metrics().dropped`.
   */
  emit(input: EmitInput): boolean {
    try {
      const seq = this.emitted++;
      if (this.stopping) {
        this.dropped.closed++;
        return false;
      }
      if (input === null || typeof input !== 'object' || typeof input.event !== 'string') {
        this.dropped.invalid++;
        return false;
      }
      const size =
        96 +
        input.event.length +
        (input.attrs ? valueSize(input.attrs, 0) : 0) +
        (input.session ? input.session.length + 12 : 0);
      if (this.queuedBytes + size > this.opts.memoryBound) {
        const n = ++this.dropped.memory;
        if ((n & (n - 1)) === 0) {
          this.log(
            `memory bound reached and the sender cannot keep up; ${n} events dropped so far ` +
              '(raise memoryBound or configure a spool)',
          );
        }
        return false;
      }
      const wasEmpty = this.queue.length === this.head;
      // No clock read per event (it can cost more than the rest of emit): the linger clock
      // starts with the first queued event, and `ts` defaults to when the batch is serialized.
      if (wasEmpty) this.firstQueuedAt = Date.now();
      this.queue.push({ input, size, seq });
      this.queuedBytes += size;
      if (wasEmpty || this.queue.length - this.head >= this.opts.batchEvents) this.wake();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Resolves once every event emitted before this call is acknowledged by the collector,
   * durably spooled, or dropped and counted; or after `timeoutMs`, with what is still pending.
   */
  flush(timeoutMs = 10_000): Promise<FlushResult> {
    const target = this.emitted;
    if (this.lowestPending() >= target) return Promise.resolve({ ok: true, pending: 0 });
    return new Promise((resolve) => {
      // This timer is not unref'd: a process awaiting a flush stays alive until it is settled.
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve({ ok: false, pending: Math.max(0, target - this.lowestPending()) });
      }, timerMs(timeoutMs));
      const waiter: Waiter = {
        target,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      this.waiters.push(waiter);
      this.wake();
    });
  }

  /**
   * Sends (or spools) what is queued, one attempt each, and stops every timer, so a Node
   * process exits by itself afterwards. Resolves within `timeoutMs`; later `emit`s are dropped
   * and counted.
   */
  async close(timeoutMs = 10_000): Promise<FlushResult> {
    const target = this.emitted;
    this.stopping = true;
    this.wake();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timerMs(timeoutMs));
    });
    const finished = await Promise.race([this.loopDone.then(() => false), timedOut]);
    clearTimeout(timer);
    if (finished) {
      this.aborted = true;
      this.controller?.abort();
      this.wake();
    }
    const pending = Math.max(0, target - this.lowestPending());
    this.settleWaiters();
    await this.platform.spool?.close?.();
    return { ok: pending === 0, pending };
  }

  /** Counters, a snapshot. */
  metrics(): ClientMetrics {
    return {
      queued: this.queue.length - this.head,
      ...this.counts,
      dropped: { ...this.dropped },
    };
  }

  protected log(message: string): void {
    const logger = this.opts.logger ?? ((m: string) => console.error(m));
    try {
      logger(`playtrace client: ${message}`);
    } catch {
      // A failing logger must not break sending.
    }
  }

  // --- accounting -------------------------------------------------------------------------

  /** The lowest sequence number not yet settled (everything below it is durable or dropped). */
  private lowestPending(): number {
    let low = this.queue.length > this.head ? this.queue[this.head]!.seq : this.emitted;
    for (const b of this.outstanding) low = Math.min(low, b.firstSeq);
    return low;
  }

  private settle(b: Batch): void {
    this.outstanding.delete(b);
    this.settleWaiters();
  }

  private settleWaiters(): void {
    if (this.waiters.length === 0) return;
    const low = this.lowestPending();
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (low >= w.target || this.aborted) {
        w.resolve({ ok: low >= w.target, pending: Math.max(0, w.target - low) });
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }

  // --- the sender loop --------------------------------------------------------------------

  private wake(): void {
    const w = this.wakeUp;
    if (w) {
      this.wakeUp = null;
      w();
    }
  }

  /** Waits `ms` (Infinity: until woken); background timers never hold the process open. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      if (Number.isFinite(ms)) {
        timer = setTimeout(() => {
          this.wakeUp = null;
          resolve();
        }, timerMs(ms));
        this.platform.unref?.(timer);
      }
      this.wakeUp = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
    });
  }

  private spoolWaiting(): boolean {
    return this.platform.spool?.hasSegments() ?? false;
  }

  private batchReady(now: number): boolean {
    const n = this.queue.length - this.head;
    if (n === 0) return false;
    return (
      n >= this.opts.batchEvents ||
      this.queuedBytes >= this.opts.batchBytes ||
      this.stopping ||
      this.waiters.length > 0 ||
      now - this.firstQueuedAt >= this.opts.lingerMs
    );
  }

  private async run(): Promise<void> {
    if (this.platform.spool) {
      try {
        await this.platform.spool.open();
      } catch (e) {
        this.log(`cannot open the spool (${String(e)}); retrying in memory instead`);
        this.platform.spool = undefined;
      }
    }
    for (;;) {
      if (this.aborted) return;
      const now = Date.now();
      if (this.batchReady(now)) {
        const batch = this.take();
        if (batch) await this.deliver(batch);
        await this.drainSpool();
        continue;
      }
      if (this.spoolWaiting() && now >= this.notBefore) {
        // Sends one segment at least, or backs off: never a busy loop.
        await this.drainSpool();
        if (this.stopping && this.queue.length === this.head) return;
        continue;
      }
      if (this.stopping && this.queue.length === this.head) {
        // Closing makes one attempt at the spool even inside a back-off of our own: a request
        // that failed while the network was away, answered after it came back, must not keep
        // what is spooled from going out at close (it stays spooled if this attempt fails).
        if (this.spoolWaiting() && !this.closeAttempted && !this.serverAskedToWait) {
          this.closeAttempted = true;
          this.notBefore = 0;
          continue;
        }
        return;
      }
      let wait = Infinity;
      if (this.queue.length > this.head) {
        wait = this.opts.lingerMs - (Date.now() - this.firstQueuedAt);
      } else if (this.spoolWaiting()) {
        wait = Math.max(this.notBefore - Date.now(), 10);
      }
      if (wait > 0) await this.sleep(wait);
    }
  }

  /** Takes one batch off the queue and serializes it (ids assigned here). */
  private take(): Batch | null {
    const { batchEvents, batchBytes } = this.opts;
    const first = this.queue[this.head]!;
    let body = '';
    let bytes = 0;
    let events = 0;
    const start = this.head;
    const now = Date.now();
    while (this.head < this.queue.length && this.head - start < batchEvents) {
      const q = this.queue[this.head]!;
      if (bytes > 0 && bytes + q.size > batchBytes) break;
      bytes += q.size;
      this.head++;
      const line = this.serialize(q, now);
      if (line === null) {
        this.dropped.invalid++;
      } else {
        body += line;
        events++;
      }
    }
    this.queuedBytes -= bytes;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else {
      this.firstQueuedAt = Date.now();
      if (this.head > 4096 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
    }
    const batch: Batch = { firstSeq: first.seq, body, events };
    if (events === 0) {
      this.settleWaiters();
      return null;
    }
    this.outstanding.add(batch);
    return batch;
  }

  private serialize(q: Queued, now: number): string | null {
    try {
      const e = q.input;
      const id = typeof e.id === 'string' ? e.id : `${this.clientId}-${this.nextId++}`;
      let line = `{"event":${JSON.stringify(e.event)},"ts":${typeof e.ts === 'number' && Number.isFinite(e.ts) ? e.ts : now},"id":${JSON.stringify(id)}`;
      line += this.envelopeTail;
      if (typeof e.session === 'string') line += `,"session":${JSON.stringify(e.session)}`;
      line += `,"attrs":${e.attrs === undefined || e.attrs === null ? '{}' : JSON.stringify(e.attrs)}}\n`;
      return line;
    } catch {
      return null;
    }
  }

  /** Sends or spools one batch; settles it when durable, dropped, or given up on at close. */
  private async deliver(b: Batch): Promise<void> {
    if (this.spoolWaiting()) {
      // Older batches are spooled: queue behind them to keep order.
      await this.spoolBatch(b);
      return;
    }
    for (;;) {
      if (this.aborted) return;
      if (Date.now() >= this.notBefore) {
        const r = await this.post(b.body);
        if (r.kind === 'ok') {
          this.failures = 0;
          this.serverAskedToWait = false;
          this.counts.sent += b.events;
          this.settle(b);
          return;
        }
        if (r.kind === 'permanent') {
          this.log(`the collector refused ${b.events} events: ${r.why}`);
          this.dropped.rejected += b.events;
          this.settle(b);
          return;
        }
        this.backOff(r.retryAfterMs);
      }
      if (this.platform.spool) {
        await this.spoolBatch(b);
        return;
      }
      if (this.stopping) {
        // Closing without a spool: one attempt was all there was time for.
        this.log(`closing: ${b.events} events could not be sent and there is no spool`);
        this.dropped.closed += b.events;
        this.settle(b);
        return;
      }
      // No spool: wait and retry in memory (the memory bound protects the game).
      await this.sleep(this.notBefore - Date.now());
    }
  }

  private async spoolBatch(b: Batch): Promise<void> {
    const spool = this.platform.spool;
    if (!spool) return;
    try {
      if (await spool.push(b.body, b.events)) {
        this.counts.spooled += b.events;
      } else {
        this.log(`the spool is full; ${b.events} events dropped`);
        this.dropped.spoolFull += b.events;
      }
    } catch (e) {
      this.log(`cannot spool ${b.events} events: ${String(e)}`);
      this.dropped.spoolFull += b.events;
    }
    this.settle(b);
  }

  /** Sends spooled segments, oldest first, while the collector takes them. */
  private async drainSpool(): Promise<void> {
    const spool = this.platform.spool;
    while (spool && spool.hasSegments() && !this.aborted) {
      if (Date.now() < this.notBefore) return;
      let seg;
      try {
        seg = await spool.first();
      } catch (e) {
        this.log(`cannot read the spool: ${String(e)}`);
        this.backOff(undefined);
        return;
      }
      if (!seg) return;
      const r = await this.post(seg.body);
      if (r.kind === 'transient') {
        this.backOff(r.retryAfterMs);
        return;
      }
      if (r.kind === 'ok') {
        this.failures = 0;
        this.serverAskedToWait = false;
        this.counts.sent += seg.events;
      } else {
        this.log(`the collector refused a spooled batch of ${seg.events} events: ${r.why}`);
        this.dropped.rejected += seg.events;
      }
      try {
        await spool.remove(seg.key);
      } catch (e) {
        this.log(`cannot remove a sent spool segment: ${String(e)}`);
        this.backOff(undefined);
        return;
      }
      // Let new events through between segments (while stopping, drain in one pass).
      if (!this.stopping && this.queue.length > this.head) return;
    }
  }

  private backOff(retryAfterMs: number | undefined): void {
    this.failures = Math.min(this.failures + 1, 1000);
    this.counts.retried++;
    this.serverAskedToWait = retryAfterMs !== undefined;
    const exp = Math.min(100 * 2 ** Math.min(this.failures, 10), this.opts.maxBackoffMs);
    // Up to 25% jitter so many clients do not retry in step.
    const wait = retryAfterMs !== undefined ? Math.max(retryAfterMs, 10) : exp + exp * 0.25 * Math.random();
    this.notBefore = Date.now() + wait;
  }

  private async post(body: string): Promise<PostResult> {
    const controller = new AbortController();
    this.controller = controller;
    try {
      return await post(this.endpoint, body, this.opts, this.platform, controller);
    } finally {
      this.controller = null;
    }
  }

  /**
   * Serializes everything queued into bodies of at most `maxBytes` and hands them to `send`
   * synchronously (a page being hidden has no time for anything asynchronous). `send` resolves
   * to whether the collector took the body; one that did not goes to the spool.
   */
  protected sendQueuedNow(maxBytes: number, send: (body: string) => Promise<boolean>): void {
    while (this.queue.length > this.head) {
      const saved = this.opts.batchBytes;
      this.opts.batchBytes = maxBytes;
      const batch = this.take();
      this.opts.batchBytes = saved;
      if (!batch) continue;
      send(batch.body)
        .catch(() => false)
        .then(async (ok) => {
          if (ok) {
            this.counts.sent += batch.events;
            this.settle(batch);
          } else if (this.platform.spool) {
            await this.spoolBatch(batch);
          } else {
            this.dropped.closed += batch.events;
            this.settle(batch);
          }
        })
        .catch(() => undefined);
    }
  }

  /** Wakes the sender (the browser calls this when the network comes back). */
  protected nudge(): void {
    this.notBefore = Math.min(this.notBefore, Date.now());
    this.wake();
  }
}

/** A timeout as `setTimeout` takes it (it treats anything over 2^31 − 1 ms as 1 ms). */
function timerMs(ms: number): number {
  return Number.isNaN(ms) ? 0 : Math.min(Math.max(0, ms), 2 ** 31 - 1);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
