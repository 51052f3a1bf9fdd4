// SPEC §3: the contest records field for field, and its two test cases as written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContestTracker } from '../dist/index.js';

const where = { hubId: 'hub-a', roomId: 'room-1', contestKey: 'verb.duel:alpha::beta' };
const armed = (createdAt, expiresAt, participantCapacity) => ({
  ...where, participantCapacity, createdAt, expiresAt, label: 'Duel', move: 'duel', type: 'pvp',
});

test('SPEC §3 case: armed at 100, launched at 340 with 3, resolved at 920', () => {
  const t = new ContestTracker();
  assert.deepEqual(t.armed(armed(100, 900, 4)).toJSON(), {
    level: 'info', message: 'telemetry.contest.armed', hubId: 'hub-a', roomId: 'room-1',
    contestKey: 'verb.duel:alpha::beta', participantCount: 1, participantCapacity: 4,
    windowMs: 800, label: 'Duel', move: 'duel', type: 'pvp',
  });
  assert.equal(t.launched({ ...where, participantCount: 3, startedAt: 340 }), null, 'no id, no record');
  const launched = t.launched({ ...where, contestId: 'c-1', participantCount: 3, startedAt: 340 });
  assert.deepEqual(launched.toJSON(), {
    level: 'info', message: 'telemetry.contest.launched', hubId: 'hub-a', roomId: 'room-1',
    contestId: 'c-1', contestKey: 'verb.duel:alpha::beta', participantCount: 3,
    participantCapacity: 4, armingDurationMs: 240, label: 'Duel', move: 'duel', type: 'pvp',
  });
  assert.deepEqual(t.resolved({ contestId: 'c-1', outcomeTier: 'success', resolvedAt: 920 }).toJSON(), {
    level: 'info', message: 'telemetry.contest.resolved', hubId: 'hub-a', roomId: 'room-1',
    contestId: 'c-1', contestKey: 'verb.duel:alpha::beta', participantCount: 3,
    participantCapacity: 4, outcomeTier: 'success', sharedComplicationCount: 0,
    armingDurationMs: 240, resolutionDurationMs: 580,
  });
  assert.deepEqual([t.pending, t.active], [0, 0]);
});

test('SPEC §3 case: expiry counts to the expiry, not the window end', () => {
  const t = new ContestTracker();
  t.armed(armed(100, 700, 2));
  const r = t.expired({ ...where, expiredAt: 900 });
  assert.deepEqual(r.toJSON(), {
    level: 'info', message: 'telemetry.contest.expired', hubId: 'hub-a', roomId: 'room-1',
    contestKey: 'verb.duel:alpha::beta', participantCount: null, participantCapacity: 2,
    label: 'Duel', move: 'duel', type: 'pvp', expiredAt: 900, windowMs: 600, armingDurationMs: 800,
  });
  assert.equal(t.pending, 0);
});

test('unknown parts key pending contests; defaults and levels', () => {
  const t = new ContestTracker();
  const partial = { roomId: 'r', contestKey: 'k' };
  t.armed({ ...partial, createdAt: 0 });
  const r = t.launched({ ...partial, contestId: 'c', startedAt: 50 });
  assert.equal(r.fields.armingDurationMs, 50);
  assert.equal(r.fields.participantCount, null);
  assert.equal(r.fields.hubId, null);
  const started = t.workflowStarted({ contestId: 'c', workflowId: 'w', runId: 'run' });
  assert.deepEqual(started.fields, { hubId: null, roomId: 'r', contestId: 'c', contestKey: 'k', workflowId: 'w', runId: 'run' });
  const failed = t.workflowFailed({ contestId: 'c' });
  assert.deepEqual([failed.level, failed.fields.error], ['error', 'workflow_failed']);
  assert.equal(t.active, 0);
  assert.equal(t.rematchBlocked({ actorId: 'a' }).fields.remainingMs, 0);
  const fb = t.timingFallback({ contestId: 'c', timings: { t: 1 } });
  assert.equal(fb.level, 'warn');
  assert.deepEqual(t.resolved({ contestId: 'zz', resolvedAt: 5 }).fields.resolutionDurationMs, null);
  assert.deepEqual(Object.keys(t.sentiment({ ...where, actorId: 'a', sentiment: 'negative', phase: 'cooldown', issuedAt: 1 }).fields),
    ['hubId', 'roomId', 'contestKey', 'actorId', 'sentiment', 'tone', 'phase', 'messageLength', 'remainingCooldownMs', 'cooldownMs', 'issuedAt']);
  assert.deepEqual(Object.keys(t.rematchCooling({ ...where, cooldownMs: 1, availableAt: 2 }).fields),
    ['hubId', 'roomId', 'contestKey', 'cooldownMs', 'availableAt', 'expiredAt', 'participantCount', 'severity', 'missingParticipants']);
});

test('durations are clamped at zero', () => {
  const t = new ContestTracker();
  t.armed({ ...where, createdAt: 500, expiresAt: 400 });
  const l = t.launched({ ...where, contestId: 'c', startedAt: 300 });
  assert.equal(l.fields.armingDurationMs, 0);
  assert.equal(t.resolved({ contestId: 'c', resolvedAt: 100 }).fields.resolutionDurationMs, 0);
});

test('records become events with the level as an attribute', () => {
  const e = new ContestTracker().armed(armed(1, 2, 2)).toEvent('sess');
  assert.equal(e.event, 'telemetry.contest.armed');
  assert.equal(e.session, 'sess');
  assert.equal(e.attrs.level, 'info');
  assert.equal(e.attrs.windowMs, 1);
});
