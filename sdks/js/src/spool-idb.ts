// The browser spool: batches in IndexedDB (one record per batch, auto-incremented keys, so
// oldest first), used while the page is offline or the collector cannot take events; a later
// page load of the same origin sends what an earlier one spooled.

import type { Segment, Spool } from './spool.js';

const STORE = 'segments';

interface Row {
  body: string;
  events: number;
  bytes: number;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

/** A spool in an IndexedDB database of its own. */
export class IndexedDbSpool implements Spool {
  private db: IDBDatabase | null = null;
  private count = 0;
  private bytes = 0;

  constructor(
    private readonly name: string,
    private readonly maxBytes: number,
  ) {}

  async open(): Promise<void> {
    const open = indexedDB.open(this.name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE, { autoIncrement: true });
    this.db = await request(open);
    const tx = this.db.transaction(STORE, 'readonly');
    const rows = await request(tx.objectStore(STORE).getAll());
    this.count = rows.length;
    this.bytes = (rows as Row[]).reduce((s, r) => s + (r.bytes ?? r.body.length), 0);
  }

  hasSegments(): boolean {
    return this.count > 0;
  }

  async push(body: string, events: number): Promise<boolean> {
    if (!this.db) return false;
    if (this.bytes + body.length > this.maxBytes) return false;
    const tx = this.db.transaction(STORE, 'readwrite', { durability: 'strict' } as IDBTransactionOptions);
    tx.objectStore(STORE).add({ body, events, bytes: body.length } satisfies Row);
    await done(tx);
    this.count++;
    this.bytes += body.length;
    return true;
  }

  async first(): Promise<Segment | null> {
    if (!this.db) return null;
    const tx = this.db.transaction(STORE, 'readonly');
    const cursor = await request(tx.objectStore(STORE).openCursor());
    if (!cursor) {
      this.count = 0;
      this.bytes = 0;
      return null;
    }
    const row = cursor.value as Row;
    return { key: cursor.key as number, body: row.body, events: row.events };
  }

  async remove(key: Segment['key']): Promise<void> {
    if (!this.db) return;
    const tx = this.db.transaction(STORE, 'readwrite', { durability: 'strict' } as IDBTransactionOptions);
    const store = tx.objectStore(STORE);
    const row = (await request(store.get(key))) as Row | undefined;
    store.delete(key);
    await done(tx);
    if (row) {
      this.count = Math.max(0, this.count - 1);
      this.bytes = Math.max(0, this.bytes - row.bytes);
    }
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = null;
  }
}
