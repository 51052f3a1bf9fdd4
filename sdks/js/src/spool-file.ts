// The Node spool: one NDJSON file per batch, written atomically (temporary file, fsync, rename,
// directory fsync), named like the Rust SDK's (`00000000000000000042.ndjson`), so either SDK can
// send what the other spooled.

import { promises as fs, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Segment, Spool } from './spool.js';

const SUFFIX = '.ndjson';

function segmentNumber(name: string): number | null {
  if (!name.endsWith(SUFFIX)) return null;
  const stem = name.slice(0, -SUFFIX.length);
  return /^[0-9]+$/.test(stem) ? Number(stem) : null;
}

async function syncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** A directory of spooled batches. */
export class FileSpool implements Spool {
  private segments: { n: number; bytes: number }[] = [];
  private bytes = 0;
  private next = 0;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  async open(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const found: { n: number; bytes: number }[] = [];
    for (const name of readdirSync(this.dir)) {
      const n = segmentNumber(name);
      if (n === null) continue;
      found.push({ n, bytes: statSync(join(this.dir, name)).size });
    }
    found.sort((a, b) => a.n - b.n);
    this.segments = found;
    this.bytes = found.reduce((s, x) => s + x.bytes, 0);
    this.next = found.length > 0 ? found[found.length - 1]!.n + 1 : 0;
  }

  hasSegments(): boolean {
    return this.segments.length > 0;
  }

  private path(n: number): string {
    return join(this.dir, `${String(n).padStart(20, '0')}${SUFFIX}`);
  }

  async push(body: string, _events: number): Promise<boolean> {
    const size = Buffer.byteLength(body);
    if (this.bytes + size > this.maxBytes) return false;
    const n = this.next++;
    const path = this.path(n);
    const tmp = join(this.dir, `.${String(n).padStart(20, '0')}${SUFFIX}.tmp`);
    const h = await fs.open(tmp, 'w');
    try {
      await h.writeFile(body);
      await h.sync();
    } finally {
      await h.close();
    }
    await fs.rename(tmp, path);
    await syncDir(this.dir);
    this.segments.push({ n, bytes: size });
    this.bytes += size;
    return true;
  }

  async first(): Promise<Segment | null> {
    for (;;) {
      const s = this.segments[0];
      if (!s) return null;
      try {
        const body = await fs.readFile(this.path(s.n), 'utf8');
        let events = 0;
        for (let i = body.indexOf('\n'); i !== -1; i = body.indexOf('\n', i + 1)) events++;
        return { key: s.n, body, events };
      } catch {
        // Gone or unreadable: nothing to send from it.
        this.segments.shift();
        this.bytes -= s.bytes;
      }
    }
  }

  async remove(key: Segment['key']): Promise<void> {
    const i = this.segments.findIndex((s) => s.n === key);
    if (i === -1) return;
    const [s] = this.segments.splice(i, 1);
    this.bytes -= s!.bytes;
    await fs.rm(this.path(s!.n), { force: true });
    await syncDir(this.dir);
  }
}
