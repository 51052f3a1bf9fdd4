// TranscriptRecorder: a bounded transcript of tutorial or session steps, serialized to JSON, CSV
// and Markdown with SPEC §6 escaping, byte for byte as the Rust SDK's
// (crates/playtrace-sdk/src/transcript.rs; both test against testdata/sdk/transcript.*), and
// sent to the collector as `telemetry.transcript.entry` events so `playtrace export` can rebuild
// the same transcript.
//
// A null metadata value stays null (the old JS code wrote `{}`), CSV quotes exactly the fields
// that need it (RFC 4180, LF line endings), and a newline inside a Markdown cell becomes `<br>`.
// One difference JS cannot avoid: it has one number type, so a metadata value of `3500.0` is
// written `3500` (Rust writes a float as `3500.0`).

import type { EmitInput } from './client.js';
import { canonicalJson, canonicalJsonPretty } from './json.js';

/** One step of a transcript. */
export interface TranscriptEntry {
  /** Position in the session (0-based, never reused, also after old entries were dropped). */
  sequence: number;
  /** What happened (`tutorial_step_completed`). */
  event: string;
  promptId: string | null;
  title: string | null;
  /** The action (`step_completed`). */
  action: string;
  /** When, epoch ms. */
  timestamp: number;
  /** Narrative shown next. */
  narrative: string | null;
  /** Anything else (an object; null values are kept as null). */
  metadata: unknown;
}

/** What `record` takes. */
export interface TranscriptStep {
  event: string;
  promptId?: string | null;
  title?: string | null;
  action: string;
  /** Epoch ms (default: now). */
  timestamp?: number;
  narrative?: string | null;
  metadata?: unknown;
}

/** RFC 4180: quote a field containing `"`, `,`, CR or LF, doubling inner quotes. */
export function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A Markdown table cell: `|` escaped, line breaks as `<br>`. */
export function markdownCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r\n/g, '<br>').replace(/[\r\n]/g, '<br>');
}

/** RFC 3339 with milliseconds, UTC (fractions of a millisecond are floored). */
function iso(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}

/** Integral milliseconds without a fraction. */
function num(ms: number): string {
  return Number.isInteger(ms) && Math.abs(ms) < 9e15 ? ms.toFixed(0) : String(ms);
}

const nil = <T>(x: T | null | undefined): T | null => (x === undefined ? null : x);

/** A bounded transcript with a throttled change notification. */
export class TranscriptRecorder {
  private entryList: TranscriptEntry[] = [];
  private readonly capacity: number;
  private droppedCount = 0;
  private nextSequence = 0;
  private listener: ((r: TranscriptRecorder) => void) | null = null;
  private interval = 0;
  private lastNotified: number | null = null;
  private pendingChange = false;

  /** A transcript for `sessionId` keeping the newest `capacity` entries (default 50). */
  constructor(
    readonly sessionId: string,
    options: { capacity?: number } = {},
  ) {
    this.capacity = Math.max(1, Math.floor(options.capacity ?? 50));
  }

  /**
   * A transcript rebuilt from entries that carry their own sequence numbers (e.g. from
   * `telemetry.transcript.entry` events), sorted by sequence, nothing dropped.
   */
  static fromEntries(sessionId: string, entries: TranscriptEntry[]): TranscriptRecorder {
    const sorted = [...entries].sort((a, b) => a.sequence - b.sequence);
    const t = new TranscriptRecorder(sessionId, { capacity: Math.max(1, sorted.length) });
    t.entryList = sorted;
    t.nextSequence = sorted.length > 0 ? sorted[sorted.length - 1]!.sequence + 1 : 0;
    return t;
  }

  /**
   * Calls `listener` after changes, at most once per `minIntervalMs` (a change inside the
   * interval is delivered by a later `poll` or change).
   */
  onChange(minIntervalMs: number, listener: (r: TranscriptRecorder) => void): void {
    this.listener = listener;
    this.interval = minIntervalMs;
  }

  /** Records a step; returns its sequence number. */
  record(step: TranscriptStep): number {
    const sequence = this.nextSequence++;
    if (this.entryList.length === this.capacity) {
      this.entryList.shift();
      this.droppedCount++;
    }
    this.entryList.push({
      sequence,
      event: step.event,
      promptId: nil(step.promptId),
      title: nil(step.title),
      action: step.action,
      timestamp: step.timestamp ?? Date.now(),
      narrative: nil(step.narrative),
      metadata: nil(step.metadata),
    });
    this.pendingChange = true;
    this.poll();
    return sequence;
  }

  /** Delivers a pending change notification if the throttle allows. */
  poll(): void {
    if (!this.pendingChange || !this.listener) return;
    const now = Date.now();
    if (this.lastNotified === null || now - this.lastNotified >= this.interval) {
      this.pendingChange = false;
      this.lastNotified = now;
      this.listener(this);
    }
  }

  /** The entries kept, oldest first. */
  entries(): readonly TranscriptEntry[] {
    return this.entryList;
  }

  /** Entries dropped because the transcript was full. */
  get dropped(): number {
    return this.droppedCount;
  }

  /**
   * `[{sequence, event, promptId, title, action, timestamp, timestampIso, followUpNarrative,
   * metadata}]` as objects.
   */
  toJSON(): Record<string, unknown>[] {
    return this.entryList.map((e) => ({
      sequence: e.sequence,
      event: e.event,
      promptId: e.promptId,
      title: e.title,
      action: e.action,
      timestamp: e.timestamp,
      timestampIso: iso(e.timestamp),
      followUpNarrative: e.narrative,
      metadata: e.metadata,
    }));
  }

  /** The JSON artifact: pretty, keys sorted, a final newline (the shared golden file's bytes). */
  toJsonText(): string {
    return canonicalJsonPretty(this.toJSON()) + '\n';
  }

  /** CSV with the old header; nulls are empty fields, metadata is compact JSON. */
  toCsv(): string {
    let out =
      'sequence,event,prompt_id,title,action,timestamp,timestamp_iso,follow_up_narrative,metadata\n';
    for (const e of this.entryList) {
      const fields = [
        String(e.sequence),
        e.event,
        e.promptId ?? '',
        e.title ?? '',
        e.action,
        num(e.timestamp),
        iso(e.timestamp),
        e.narrative ?? '',
        e.metadata === null ? '' : canonicalJson(e.metadata),
      ];
      out += fields.map(csvField).join(',') + '\n';
    }
    return out;
  }

  /** A Markdown table: `| # | Event | Prompt | Action | Timestamp | Narrative |`. */
  toMarkdown(): string {
    let out =
      '| # | Event | Prompt | Action | Timestamp | Narrative |\n| --- | --- | --- | --- | --- | --- |\n';
    for (const e of this.entryList) {
      out += `| ${e.sequence} | ${markdownCell(e.event)} | ${markdownCell(e.title ?? '')} | ${markdownCell(e.action)} | ${iso(e.timestamp)} | ${markdownCell(e.narrative ?? '')} |\n`;
    }
    return out;
  }

  /** The entries as `telemetry.transcript.entry` events for the collector. */
  toEvents(): EmitInput[] {
    return this.entryList.map((e) => ({
      event: 'telemetry.transcript.entry',
      session: this.sessionId,
      attrs: {
        sessionId: this.sessionId,
        sequence: e.sequence,
        event: e.event,
        promptId: e.promptId,
        title: e.title,
        action: e.action,
        timestamp: e.timestamp,
        narrative: e.narrative,
        metadata: e.metadata,
      },
    }));
  }
}
