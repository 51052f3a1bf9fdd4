// The Node entry point: the client with an fsynced file spool and zlib gzip, and everything
// platform-independent (contest records, transcripts, the event bus).

import { randomBytes } from 'node:crypto';
import { gzip } from 'node:zlib';
import { CoreClient, type ClientOptions } from './client.js';
import { FileSpool } from './spool-file.js';

export * from './common.js';

/** Options of the Node client. */
export interface NodeClientOptions extends ClientOptions {
  /**
   * Directory of the on-disk spool (fsynced NDJSON segments) used while the collector cannot
   * take events; what it holds is sent first when the collector is back, also by a later
   * process. Without it, failed batches are retried in memory.
   */
  spoolDir?: string;
}

function gzipFast(body: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) =>
    gzip(body, { level: 1 }, (err, out) => (err ? reject(err) : resolve(out))),
  );
}

/** The PlayTrace client for Node game servers. */
export class Client extends CoreClient {
  constructor(options: NodeClientOptions) {
    super(options, {
      gzip: gzipFast,
      randomHex: () => randomBytes(8).toString('hex'),
      spool: options.spoolDir
        ? new FileSpool(options.spoolDir, options.spoolMaxBytes ?? 1 << 30)
        : undefined,
      unref: (t) => (t as { unref?: () => void }).unref?.(),
    });
  }
}
