// What a spool is to the client: durable batches, oldest first. A segment is the exact NDJSON
// body that will be posted, ids included, so a batch sent twice is stored once.

/** One spooled batch. */
export interface Segment {
  key: string | number;
  body: string;
  events: number;
}

/** Durable storage for batches the collector could not take yet. */
export interface Spool {
  /** Opens (creating) the spool and learns what it holds. */
  open(): Promise<void>;
  /** Whether anything is spooled (kept in memory, so it is cheap). */
  hasSegments(): boolean;
  /** Durably appends one batch; `false` when the spool is full. */
  push(body: string, events: number): Promise<boolean>;
  /** The oldest segment. */
  first(): Promise<Segment | null>;
  /** Removes a segment once the collector acknowledged it. */
  remove(key: Segment['key']): Promise<void>;
  /** Releases what the spool holds open. */
  close?(): Promise<void>;
}
