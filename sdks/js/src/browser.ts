// The browser entry point: the client with an IndexedDB spool, CompressionStream gzip, and a
// last `fetch(..., {keepalive: true})` when the page is hidden; and everything
// platform-independent (contest records, transcripts, the event bus).

import { CoreClient, type ClientOptions } from './client.js';
import { IndexedDbSpool } from './spool-idb.js';

export * from './common.js';

/** Options of the browser client. */
export interface BrowserClientOptions extends ClientOptions {
  /**
   * IndexedDB database for the offline spool (default `playtrace-spool:<url>:<game>`); `false`
   * for none (failed batches are then retried in memory only).
   */
  spool?: string | false;
}

/** Keepalive requests share a 64 KiB budget per page; stay under it. */
const KEEPALIVE_BYTES = 60_000;

async function gzipStream(body: string): Promise<Uint8Array> {
  const stream = new Blob([body]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The PlayTrace client for browser games. */
export class Client extends CoreClient {
  private readonly onPageHide: () => void;
  private readonly onOnline: () => void;

  constructor(options: BrowserClientOptions) {
    const spoolName =
      options.spool === false
        ? null
        : (options.spool ?? `playtrace-spool:${options.url}:${options.game ?? ''}`);
    super(options, {
      gzip: typeof CompressionStream === 'function' ? gzipStream : undefined,
      spool:
        spoolName !== null && typeof indexedDB !== 'undefined'
          ? new IndexedDbSpool(spoolName, options.spoolMaxBytes ?? 64 << 20)
          : undefined,
    });
    const endpoint = `${String(options.url).replace(/\/+$/, '')}/v1/events`;
    const headers: Record<string, string> = { 'Content-Type': 'application/x-ndjson' };
    if (options.ingestToken) headers['Authorization'] = `Bearer ${options.ingestToken}`;
    // The page may be gone a moment later: hand what is queued to the browser now, uncompressed
    // (compression is asynchronous), in keepalive requests that outlive the page.
    this.onPageHide = () =>
      this.sendQueuedNow(KEEPALIVE_BYTES, (body) =>
        fetch(endpoint, { method: 'POST', headers, body, keepalive: true }).then(
          (r) => r.ok,
          () => false,
        ),
      );
    this.onOnline = () => this.nudge();
    if (typeof addEventListener === 'function') {
      addEventListener('pagehide', this.onPageHide);
      addEventListener('online', this.onOnline);
    }
  }

  override async close(timeoutMs = 10_000) {
    if (typeof removeEventListener === 'function') {
      removeEventListener('pagehide', this.onPageHide);
      removeEventListener('online', this.onOnline);
    }
    return super.close(timeoutMs);
  }
}
