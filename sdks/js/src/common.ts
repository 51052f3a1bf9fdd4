// What both entry points (Node and browser) export besides their `Client`.

export type {
  ClientMetrics,
  ClientOptions,
  DroppedCounts,
  EmitInput,
  FlushResult,
  Platform,
} from './client.js';
export { CoreClient } from './client.js';
export type { Segment, Spool } from './spool.js';
export * from './contest.js';
export * from './transcript.js';
export * from './bus.js';
