// The client's public shapes: what `emit` takes, the options, the metrics, `flush`'s result,
// and what a platform (Node, browser) supplies.

import type { Spool } from './spool.js';

/** What a game passes to `Client.emit`. */
export interface EmitInput {
  /** Event name, e.g. `telemetry.contest.resolved`. */
  event: string;
  /** Attributes; serialized when the batch is sent, so do not mutate the object after `emit`. */
  attrs?: Record<string, unknown>;
  /** Session the event belongs to. */
  session?: string;
  /**
   * Event time, epoch milliseconds (default: when its batch is serialized, at most `lingerMs`
   * after `emit` while the collector keeps up; pass it where the exact time matters).
   */
  ts?: number;
  /** Idempotency key; unique per game (default: a client id and a counter). */
  id?: string;
}

/** Options common to the Node and browser clients. */
export interface ClientOptions {
  /** Collector URL, e.g. `http://127.0.0.1:7070`. */
  url: string;
  /** Game; scopes everything downstream and is part of the idempotency key. */
  game?: string;
  /** Environment (prod, staging, ...). */
  env?: string;
  /** A token with the `ingest` scope, sent as `Authorization: Bearer`. */
  ingestToken?: string;
  /** Events per request at most (default 5000). */
  batchEvents?: number;
  /** Bytes per request at most, before compression (default 4 MiB). */
  batchBytes?: number;
  /** How long a partial batch may wait for more events (default 100 ms). */
  lingerMs?: number;
  /** Memory the queue may use (default 16 MiB); past it `emit` drops and counts. */
  memoryBound?: number;
  /** Spool size limit in bytes (default 1 GiB). */
  spoolMaxBytes?: number;
  /** Gzip request bodies where the platform can (default true). */
  gzip?: boolean;
  /** Longest wait between retries (default 30 s). */
  maxBackoffMs?: number;
  /** Per-request timeout (default 10 s). */
  requestTimeoutMs?: number;
  /** Where problems are reported (default `console.error`). */
  logger?: (message: string) => void;
}

/** Events dropped, by reason. */
export interface DroppedCounts {
  /** The memory bound was reached (the sender could not keep up). */
  memory: number;
  /** The spool was full or could not be written. */
  spoolFull: number;
  /** The collector refused them for good (400, 401, 403, 413, 415). */
  rejected: number;
  /** Not serializable (no event name, a cycle, a BigInt in attrs). */
  invalid: number;
  /** Emitted after `close`, or still failing when `close` gave up without a spool. */
  closed: number;
}

/** Counters, a snapshot. */
export interface ClientMetrics {
  /** Events waiting in memory. */
  queued: number;
  /** Events acknowledged by the collector (stored, or duplicates of stored ones). */
  sent: number;
  /** Failed requests that will be retried (each one backs off first). */
  retried: number;
  /** Events written to the spool. */
  spooled: number;
  /** Events dropped, by reason. */
  dropped: DroppedCounts;
}

/** What `flush` and `close` resolve to; they never reject. */
export interface FlushResult {
  /** Everything emitted before the call is acknowledged, spooled or dropped and counted. */
  ok: boolean;
  /** Events still pending when the timeout passed (0 when `ok`). */
  pending: number;
}

/** What a platform supplies: compression, a spool, timers that do not hold a process open. */
export interface Platform {
  gzip?: (body: string) => Promise<Uint8Array>;
  spool?: Spool;
  /** 16 random hex digits for the client id (default: Web Crypto, else Math.random). */
  randomHex?: () => string;
  /** Makes a background timer not keep the process alive (Node's `unref`). */
  unref?: (timer: ReturnType<typeof setTimeout>) => void;
}
