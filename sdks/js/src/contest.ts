// ContestTracker: the hub PvP contest instrumentation of SPEC §3, as the Rust SDK's
// (crates/playtrace-sdk/src/contest.rs).
//
// Each call returns the record the old instrumentation wrote for that moment, field for field,
// with the same derivations: pending contests are keyed by `hubId:roomId:contestKey` (unknown
// parts as `unknown`) and launched ones by contestId, carrying createdAt, capacity, label, move
// and type forward; arming = startedAt − createdAt, resolution = resolvedAt − startedAt, expired
// arming = expiredAt − createdAt (to the expiry, not to the window end), all clamped at zero.
// Records are structured log lines (`{level, message, ...fields}`), the dialect
// `playtrace monitor` and the collector read.

import type { EmitInput } from './client.js';

/** Log level of a record. */
export type Level = 'info' | 'warn' | 'error';

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One instrumentation record. */
export class ContestRecord {
  constructor(
    /** `info`, `warn` (timing fallback) or `error` (workflow failed). */
    readonly level: Level,
    /** Event name, e.g. `telemetry.contest.armed`. */
    readonly message: string,
    /** The fields of SPEC §3's table for this event, in its order. */
    readonly fields: Record<string, Json>,
  ) {}

  /** The structured log line `{level, message, ...fields}`. */
  toJSON(): Record<string, Json> {
    return { level: this.level, message: this.message, ...this.fields };
  }

  /** As an event for `Client.emit` (the level becomes an attribute). */
  toEvent(session?: string): EmitInput {
    const e: EmitInput = { event: this.message, attrs: { level: this.level, ...this.fields } };
    if (session !== undefined) e.session = session;
    return e;
  }
}

/** Where a contest happens and what it is. */
export interface ContestRef {
  hubId?: string | null;
  roomId?: string | null;
  /** `verb:actorA::actorB`. */
  contestKey?: string | null;
}

/** Arming a contest. */
export interface Armed extends ContestRef {
  /** Participants so far (default 1). */
  participantCount?: number | null;
  /** Participants asked for. */
  participantCapacity?: number | null;
  /** When armed, epoch ms. */
  createdAt?: number | null;
  /** When the arming window ends. */
  expiresAt?: number | null;
  label?: string | null;
  move?: string | null;
  type?: string | null;
}

interface Carried {
  contest: ContestRef;
  createdAt: number | null;
  expiresAt: number | null;
  startedAt: number | null;
  participantCount: number | null;
  participantCapacity: number | null;
  label: string | null;
  move: string | null;
  type: string | null;
  armingMs: number | null;
}

const v = <T>(x: T | null | undefined): T | null => (x === undefined ? null : x);
const clamp = (d: number): number => Math.max(d, 0);

function pendingKey(c: ContestRef): string {
  const part = (p: string | null | undefined) => (p === undefined || p === null ? 'unknown' : p);
  return `${part(c.hubId)}:${part(c.roomId)}:${part(c.contestKey)}`;
}

function ref(c: ContestRef): ContestRef {
  return { hubId: v(c.hubId), roomId: v(c.roomId), contestKey: v(c.contestKey) };
}

function carried(contest: ContestRef): Carried {
  return {
    contest: ref(contest),
    createdAt: null,
    expiresAt: null,
    startedAt: null,
    participantCount: null,
    participantCapacity: null,
    label: null,
    move: null,
    type: null,
    armingMs: null,
  };
}

function base(c: ContestRef): Record<string, Json> {
  return { hubId: v(c.hubId), roomId: v(c.roomId) };
}

/** Tracks contests between their events and returns SPEC §3's record for each. */
export class ContestTracker {
  private readonly pendingContests = new Map<string, Carried>();
  private readonly activeContests = new Map<string, Carried>();

  /** `telemetry.contest.armed`. */
  armed(a: Armed): ContestRecord {
    const createdAt = v(a.createdAt);
    const expiresAt = v(a.expiresAt);
    const window = createdAt !== null && expiresAt !== null ? clamp(expiresAt - createdAt) : null;
    const f = base(a);
    f.contestKey = v(a.contestKey);
    f.participantCount = a.participantCount ?? 1;
    f.participantCapacity = v(a.participantCapacity);
    f.windowMs = window;
    f.label = v(a.label);
    f.move = v(a.move);
    f.type = v(a.type);
    this.pendingContests.set(pendingKey(a), {
      ...carried(a),
      createdAt,
      expiresAt,
      participantCount: v(a.participantCount),
      participantCapacity: v(a.participantCapacity),
      label: v(a.label),
      move: v(a.move),
      type: v(a.type),
    });
    return new ContestRecord('info', 'telemetry.contest.armed', f);
  }

  /** `telemetry.contest.launched`; `null` without a contest id (not emitted, as before). */
  launched(l: ContestRef & { contestId?: string | null; participantCount?: number | null; startedAt: number }): ContestRecord | null {
    const id = l.contestId;
    if (id === undefined || id === null) return null;
    const key = pendingKey(l);
    const c = this.pendingContests.get(key) ?? carried(l);
    this.pendingContests.delete(key);
    c.startedAt = l.startedAt;
    if (l.participantCount !== undefined && l.participantCount !== null) c.participantCount = l.participantCount;
    c.armingMs = c.createdAt !== null ? clamp(l.startedAt - c.createdAt) : null;
    const f = base(c.contest);
    f.contestId = id;
    f.contestKey = v(c.contest.contestKey);
    f.participantCount = c.participantCount;
    f.participantCapacity = c.participantCapacity;
    f.armingDurationMs = c.armingMs;
    f.label = c.label;
    f.move = c.move;
    f.type = c.type;
    this.activeContests.set(id, c);
    return new ContestRecord('info', 'telemetry.contest.launched', f);
  }

  private known(contestId: string): ContestRef {
    return this.activeContests.get(contestId)?.contest ?? {};
  }

  private withId(contestId: string): Record<string, Json> {
    const contest = this.known(contestId);
    const f = base(contest);
    f.contestId = contestId;
    f.contestKey = v(contest.contestKey);
    return f;
  }

  /** `telemetry.contest.workflowStarted`. */
  workflowStarted(w: { contestId: string; workflowId: string; runId: string }): ContestRecord {
    const f = this.withId(w.contestId);
    f.workflowId = w.workflowId;
    f.runId = w.runId;
    return new ContestRecord('info', 'telemetry.contest.workflowStarted', f);
  }

  /** `telemetry.contest.workflowFailed` (error defaults to `workflow_failed`). */
  workflowFailed(w: { contestId: string; error?: string | null }): ContestRecord {
    const f = this.withId(w.contestId);
    f.error = w.error ?? 'workflow_failed';
    this.activeContests.delete(w.contestId);
    return new ContestRecord('error', 'telemetry.contest.workflowFailed', f);
  }

  /** `telemetry.contest.resolved`. */
  resolved(r: {
    contestId: string;
    outcomeTier?: string | null;
    sharedComplicationCount?: number | null;
    resolvedAt: number;
  }): ContestRecord {
    const f = this.withId(r.contestId);
    const c = this.activeContests.get(r.contestId) ?? carried({});
    this.activeContests.delete(r.contestId);
    f.participantCount = c.participantCount;
    f.participantCapacity = c.participantCapacity;
    f.outcomeTier = v(r.outcomeTier);
    f.sharedComplicationCount = r.sharedComplicationCount ?? 0;
    f.armingDurationMs = c.armingMs;
    f.resolutionDurationMs = c.startedAt !== null ? clamp(r.resolvedAt - c.startedAt) : null;
    return new ContestRecord('info', 'telemetry.contest.resolved', f);
  }

  /** `telemetry.contest.expired`: arming counts to the expiry, not to the window end. */
  expired(e: ContestRef & { expiredAt: number }): ContestRecord {
    const key = pendingKey(e);
    const c = this.pendingContests.get(key) ?? carried(e);
    this.pendingContests.delete(key);
    const window =
      c.createdAt !== null && c.expiresAt !== null ? clamp(c.expiresAt - c.createdAt) : null;
    const f = base(c.contest);
    f.contestKey = v(c.contest.contestKey);
    f.participantCount = c.participantCount;
    f.participantCapacity = c.participantCapacity;
    f.label = c.label;
    f.move = c.move;
    f.type = c.type;
    f.expiredAt = e.expiredAt;
    f.windowMs = window;
    f.armingDurationMs = c.createdAt !== null ? clamp(e.expiredAt - c.createdAt) : null;
    return new ContestRecord('info', 'telemetry.contest.expired', f);
  }

  /** `telemetry.contest.rematchCooling`. */
  rematchCooling(r: ContestRef & {
    cooldownMs: number;
    availableAt: number;
    expiredAt?: number | null;
    participantCount?: number | null;
    severity?: string | null;
    missingParticipants?: number | null;
  }): ContestRecord {
    const f = base(r);
    f.contestKey = v(r.contestKey);
    f.cooldownMs = r.cooldownMs;
    f.availableAt = r.availableAt;
    f.expiredAt = v(r.expiredAt);
    f.participantCount = v(r.participantCount);
    f.severity = v(r.severity);
    f.missingParticipants = v(r.missingParticipants);
    return new ContestRecord('info', 'telemetry.contest.rematchCooling', f);
  }

  /** `telemetry.contest.rematchBlocked` (remainingMs defaults to 0). */
  rematchBlocked(r: ContestRef & { actorId: string; remainingMs?: number | null; cooldownMs?: number | null }): ContestRecord {
    const f = base(r);
    f.contestKey = v(r.contestKey);
    f.actorId = r.actorId;
    f.remainingMs = r.remainingMs ?? 0;
    f.cooldownMs = v(r.cooldownMs);
    return new ContestRecord('info', 'telemetry.contest.rematchBlocked', f);
  }

  /** `telemetry.contest.sentiment`. */
  sentiment(s: ContestRef & {
    actorId: string;
    /** positive, neutral or negative. */
    sentiment: string;
    tone?: string | null;
    /** cooldown, post-cooldown or post-expiration. */
    phase: string;
    messageLength?: number | null;
    remainingCooldownMs?: number | null;
    cooldownMs?: number | null;
    issuedAt: number;
  }): ContestRecord {
    const f = base(s);
    f.contestKey = v(s.contestKey);
    f.actorId = s.actorId;
    f.sentiment = s.sentiment;
    f.tone = v(s.tone);
    f.phase = s.phase;
    f.messageLength = v(s.messageLength);
    f.remainingCooldownMs = v(s.remainingCooldownMs);
    f.cooldownMs = v(s.cooldownMs);
    f.issuedAt = s.issuedAt;
    return new ContestRecord('info', 'telemetry.contest.sentiment', f);
  }

  /** `telemetry.contest.timingFallback` (warn): timings could not be measured directly. */
  timingFallback(t: { contestId: string; timings: Json }): ContestRecord {
    const f = base(this.known(t.contestId));
    f.contestId = t.contestId;
    f.timings = t.timings;
    return new ContestRecord('warn', 'telemetry.contest.timingFallback', f);
  }

  /** Contests armed and not launched or expired yet. */
  get pending(): number {
    return this.pendingContests.size;
  }

  /** Contests launched and not closed yet. */
  get active(): number {
    return this.activeContests.size;
  }
}
