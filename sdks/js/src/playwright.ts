// A Playwright helper: for one test, collects the events the page sent to the collector through
// the SDK and turns them into the artifacts `playtrace export` builds (the events as NDJSON, one
// transcript per session as JSON, CSV and Markdown), attached to the test's output so a failing
// e2e run carries its telemetry. `playwright-core` (or `@playwright/test`) is a peer dependency:
// this module only uses the `page` it is given.

import { gunzipSync } from 'node:zlib';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page, Request, Route } from 'playwright-core';
import { TranscriptRecorder, type TranscriptEntry } from './transcript.js';

/** One artifact: a file name, its media type and its bytes. */
export interface CapturedArtifact {
  name: string;
  contentType: string;
  body: string;
}

/** What `capturePlaytrace` takes. */
export interface CaptureOptions {
  /** Which requests are the SDK's (default `**\/v1/events`). */
  url?: string | RegExp;
  /**
   * Pass requests on to the collector (default true); `false` answers them here with
   * `{"accepted": n}` so a test needs no collector.
   */
  forward?: boolean;
  /** File-name prefix of the artifacts (default `playtrace`, as `playtrace export`). */
  prefix?: string;
}

/** The part of Playwright Test's `TestInfo` this helper uses. */
export interface AttachTarget {
  attach(name: string, options: { body: string | Buffer; contentType: string }): Promise<void>;
}

type Json = Record<string, unknown>;

function decode(request: Request): string {
  const raw = request.postDataBuffer();
  if (!raw) return '';
  const encoding = request.headers()['content-encoding'] ?? '';
  return (encoding.includes('gzip') ? gunzipSync(raw) : raw).toString('utf8');
}

/** The events one test's page sent, and the artifacts built from them. */
export class PlaytraceCapture {
  private readonly lines: string[] = [];
  private readonly seen = new Set<string>();
  private readonly prefix: string;

  private constructor(
    private readonly page: Page,
    private readonly pattern: string | RegExp,
    private readonly handler: (route: Route, request: Request) => Promise<void>,
    prefix: string,
  ) {
    this.prefix = prefix;
  }

  /** Starts collecting on `page` (call before the page loads the game). */
  static async start(page: Page, options: CaptureOptions = {}): Promise<PlaytraceCapture> {
    const pattern = options.url ?? '**/v1/events';
    const forward = options.forward ?? true;
    let capture: PlaytraceCapture | null = null;
    const handler = async (route: Route, request: Request) => {
      if (request.method() !== 'POST') {
        await route.fallback();
        return;
      }
      const body = decode(request);
      if (!forward) {
        capture?.take(body);
        const n = body.split('\n').filter((l) => l.trim() !== '').length;
        await route.fulfill({
          status: 200,
          contentType: 'application/json',
          headers: { 'Access-Control-Allow-Origin': '*' },
          body: JSON.stringify({ accepted: n, duplicates: 0, rejected: [] }),
        });
        return;
      }
      const response = await route.fetch();
      // Only what the collector took counts as sent (the client retries the rest).
      if (response.ok()) capture?.take(body);
      await route.fulfill({ response });
    };
    capture = new PlaytraceCapture(page, pattern, handler, options.prefix ?? 'playtrace');
    await page.route(pattern, handler);
    return capture;
  }

  private take(body: string): void {
    for (const line of body.split('\n')) {
      if (line.trim() === '') continue;
      let key = line;
      try {
        const e = JSON.parse(line) as Json;
        if (typeof e.id === 'string') key = `${String(e.game ?? '')}\u0000${e.id}`;
      } catch {
        // Kept as sent: the collector records unparseable lines as rejects.
      }
      // A retried batch is one set of events, as at the collector.
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      this.lines.push(line);
    }
  }

  /** The events sent so far, parsed (unparseable lines are skipped). */
  events(): Json[] {
    const out: Json[] = [];
    for (const l of this.lines) {
      try {
        out.push(JSON.parse(l) as Json);
      } catch {
        // skipped
      }
    }
    return out;
  }

  /** One transcript per session, from `telemetry.transcript.entry` events (as `playtrace export`). */
  transcripts(): Map<string, TranscriptRecorder> {
    const sessions = new Map<string, TranscriptEntry[]>();
    for (const e of this.events()) {
      if (e.event !== 'telemetry.transcript.entry') continue;
      const a = (e.attrs ?? {}) as Json;
      const text = (k: string) => (typeof a[k] === 'string' ? (a[k] as string) : null);
      const session = text('sessionId') ?? (typeof e.session === 'string' ? e.session : null);
      if (session === null) continue;
      const list = sessions.get(session) ?? [];
      list.push({
        sequence: typeof a.sequence === 'number' && a.sequence >= 0 ? Math.floor(a.sequence) : 0,
        event: text('event') ?? '',
        promptId: text('promptId'),
        title: text('title'),
        action: text('action') ?? '',
        timestamp: typeof a.timestamp === 'number' ? a.timestamp : typeof e.ts === 'number' ? e.ts : 0,
        narrative: text('narrative'),
        metadata: a.metadata === undefined ? null : a.metadata,
      });
      sessions.set(session, list);
    }
    const out = new Map<string, TranscriptRecorder>();
    for (const s of [...sessions.keys()].sort()) {
      out.set(s, TranscriptRecorder.fromEntries(s, sessions.get(s)!));
    }
    return out;
  }

  /** The artifacts: `<prefix>-events.ndjson` and `<prefix>-transcript-<session>.{json,csv,md}`. */
  artifacts(): CapturedArtifact[] {
    const out: CapturedArtifact[] = [
      {
        name: `${this.prefix}-events.ndjson`,
        contentType: 'application/x-ndjson',
        body: this.lines.map((l) => l + '\n').join(''),
      },
    ];
    for (const [session, t] of this.transcripts()) {
      const base = `${this.prefix}-transcript-${session.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      // `playtrace export` writes the JSON without a final newline.
      out.push({ name: `${base}.json`, contentType: 'application/json', body: t.toJsonText().slice(0, -1) });
      out.push({ name: `${base}.csv`, contentType: 'text/csv', body: t.toCsv() });
      out.push({ name: `${base}.md`, contentType: 'text/markdown', body: t.toMarkdown() });
    }
    return out;
  }

  /** Attaches the artifacts to a Playwright Test `testInfo`. */
  async attach(testInfo: AttachTarget): Promise<void> {
    for (const a of this.artifacts()) {
      await testInfo.attach(a.name, { body: a.body, contentType: a.contentType });
    }
  }

  /** Writes the artifacts into `dir` (for runners without attachments); returns their paths. */
  writeTo(dir: string): string[] {
    mkdirSync(dir, { recursive: true });
    return this.artifacts().map((a) => {
      const path = join(dir, a.name);
      writeFileSync(path, a.body);
      return path;
    });
  }

  /** Stops collecting (what was collected stays). */
  async stop(): Promise<void> {
    await this.page.unroute(this.pattern, this.handler);
  }
}

/** Starts collecting the SDK's events on `page`; see {@link PlaytraceCapture}. */
export function capturePlaytrace(page: Page, options?: CaptureOptions): Promise<PlaytraceCapture> {
  return PlaytraceCapture.start(page, options);
}
