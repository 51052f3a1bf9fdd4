#!/usr/bin/env node
// A Node hub server simulation on @playtrace/sdk: PvP contests in a few hubs (armed, launched,
// resolved, some expiring or failing), players' sentiment after contests, and one tutorial
// transcript, all sent to a collector. Run it against `playtrace demo` (or `playtrace serve`):
//
//   (cd sdks/js && npm ci && npm run build)
//   playtrace demo &                       # a collector on 127.0.0.1:7070
//   node examples/js/hub.mjs --seconds 20  # then: curl -sS localhost:7070/v1/contests?game=js-hub
//
// Options: --url URL (default http://127.0.0.1:7070), --seconds N (default 30),
// --rate N contests per second (default 10), --token T (ingest token), --spool DIR.

import { parseArgs } from 'node:util';
import { Client, ContestTracker, EventBus, TranscriptRecorder } from '../../sdks/js/dist/index.js';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:7070' },
    seconds: { type: 'string', default: '30' },
    rate: { type: 'string', default: '10' },
    token: { type: 'string' },
    spool: { type: 'string' },
  },
});
const seconds = Number(opts.seconds);
const rate = Number(opts.rate);
if (!(seconds > 0) || !(rate > 0)) {
  console.error('hub.mjs: --seconds and --rate must be positive numbers (e.g. --seconds 20 --rate 10)');
  process.exit(2);
}

const client = new Client({
  url: opts.url,
  game: 'js-hub',
  env: 'demo',
  ingestToken: opts.token,
  spoolDir: opts.spool,
});
const tracker = new ContestTracker();
// Game systems talk over the bus; the telemetry system is one more subscriber.
const bus = new EventBus({ onError: (e, name) => console.error(`hub: a ${name} handler failed: ${e}`) });
bus.subscribe('telemetry.contest.*', (_, record) => client.emit(record.toEvent()));
bus.subscribe('telemetry.transcript.*', (_, entry) => client.emit(entry));

// Deterministic, so two runs look alike.
let seed = 0x9e3779b9;
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];

const hubs = ['hub-docks', 'hub-market', 'hub-archive'];
const rooms = ['room-1', 'room-2', 'room-3', 'room-slow'];
const moves = [['duel', 'pvp'], ['bluff', 'social'], ['race', 'pvp']];
let contests = 0;

function startContest() {
  const n = contests++;
  const now = Date.now();
  const [move, type] = pick(moves);
  const where = {
    hubId: pick(hubs),
    roomId: rand() < 0.05 ? 'room-slow' : pick(rooms.slice(0, 3)),
    contestKey: `verb.${move}:p${n}a::p${n}b`,
  };
  bus.emit('telemetry.contest.armed', tracker.armed({
    ...where, participantCapacity: 2 + Math.floor(rand() * 3), createdAt: now, expiresAt: now + 8000,
    label: move[0].toUpperCase() + move.slice(1), move, type,
  }));
  const arming = 200 + rand() * 2500;
  if (rand() < 0.08) {
    setTimeout(() => {
      bus.emit('telemetry.contest.expired', tracker.expired({ ...where, expiredAt: Date.now() }));
      bus.emit('telemetry.contest.sentiment', tracker.sentiment({
        ...where, actorId: `p${n}a`, sentiment: 'negative', tone: 'frustrated', phase: 'post-expiration',
        messageLength: 24, issuedAt: Date.now(),
      }));
    }, arming);
    return;
  }
  setTimeout(() => {
    const contestId = `c-${n}`;
    bus.emit('telemetry.contest.launched', tracker.launched({
      ...where, contestId, participantCount: 2, startedAt: Date.now(),
    }));
    bus.emit('telemetry.contest.workflowStarted', tracker.workflowStarted({ contestId, workflowId: `wf-${n}`, runId: `run-${n}` }));
    const slow = where.roomId === 'room-slow';
    const resolution = slow ? 900 + rand() * 600 : 80 + rand() * 400;
    setTimeout(() => {
      if (rand() < 0.03) {
        bus.emit('telemetry.contest.workflowFailed', tracker.workflowFailed({ contestId, error: 'llm_timeout' }));
        return;
      }
      bus.emit('telemetry.contest.resolved', tracker.resolved({
        contestId, outcomeTier: pick(['success', 'partial', 'failure']),
        sharedComplicationCount: Math.floor(rand() * 2), resolvedAt: Date.now(),
      }));
      bus.emit('telemetry.contest.sentiment', tracker.sentiment({
        ...where, actorId: `p${n}b`, sentiment: pick(['positive', 'neutral', 'negative']),
        phase: 'post-cooldown', messageLength: 10 + Math.floor(rand() * 80), issuedAt: Date.now(),
      }));
    }, resolution);
  }, arming);
}

// One player's tutorial, recorded as it happens and sent as transcript entries.
const tutorial = new TranscriptRecorder('hub-tutorial-1');
const steps = [['movement', 'Move, Investigator'], ['case_file', 'Open the Case File']];
tutorial.record({ event: 'tutorial_started', action: 'started', metadata: { totalSteps: steps.length } });
steps.forEach(([promptId, title], stepIndex) => {
  tutorial.record({ event: 'tutorial_step_completed', promptId, title, action: 'step_completed', metadata: { stepIndex } });
});
tutorial.record({ event: 'tutorial_completed', action: 'completed', metadata: { completedSteps: steps.map((s) => s[0]) } });
for (const e of tutorial.toEvents()) bus.emit('telemetry.transcript.entry', e);

const timer = setInterval(startContest, 1000 / rate);
const status = setInterval(() => {
  const m = client.metrics();
  console.log(`hub: ${contests} contests, ${tracker.active} active; sent ${m.sent}, queued ${m.queued}, ` +
    `retried ${m.retried}, spooled ${m.spooled}, dropped ${Object.values(m.dropped).reduce((a, b) => a + b)}`);
}, 2000);

async function stop() {
  clearInterval(timer);
  clearInterval(status);
  // Let contests in flight finish (they resolve within ~3 s), then send what is left.
  await new Promise((r) => setTimeout(r, 3500));
  const result = await client.close(10_000);
  const m = client.metrics();
  console.log(`hub: done: ${contests} contests, ${m.sent} events sent` +
    (result.ok ? '' : `; ${result.pending} not sent (is the collector at ${opts.url}?)`));
}
setTimeout(stop, seconds * 1000);
process.once('SIGINT', () => { process.exitCode = 0; stop(); });
