// The transcript serializers write the shared golden files' exact bytes (the Rust SDK's test
// reads the same files), the old fixture's Markdown, and keep nulls null.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TranscriptRecorder, csvField, markdownCell } from '../dist/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const golden = (name) => readFileSync(`${root}testdata/sdk/${name}`, 'utf8');
const fixture = (name) => readFileSync(`${root}testdata/fixtures/genai-engine/${name}`, 'utf8');

/** The tutorial of the fixture, recorded as crates/playtrace-sdk/src/transcript/tests.rs does. */
function tutorial() {
  const t = new TranscriptRecorder('s-tutorial');
  t.record({ event: 'tutorial_started', action: 'started', timestamp: 1761843600000,
    metadata: { totalSteps: 2, startedAt: 1761843600000 } });
  t.record({ event: 'tutorial_step_started', promptId: 'movement', title: 'Move, Investigator',
    action: 'step_started', timestamp: 1761843601000,
    metadata: { stepIndex: 0, totalSteps: 2, description: 'Use WASD',
      highlight: { type: 'entity', entityId: 'player' }, position: null, canSkip: true,
      startedAt: 1761843601000 } });
  t.record({ event: 'tutorial_step_completed', promptId: 'movement', title: 'Move, Investigator',
    action: 'step_completed', timestamp: 1761843604500,
    narrative: 'Good. Now | check the "case file".',
    metadata: { stepIndex: 0, totalSteps: 2, completedAt: 1761843604500, durationMs: 3500 } });
  t.record({ event: 'tutorial_step_started', promptId: 'case_file', title: 'Open the Case File',
    action: 'step_started', timestamp: 1761843605000,
    metadata: { stepIndex: 1, totalSteps: 2, description: null, highlight: null, position: null,
      canSkip: null, startedAt: 1761843605000 } });
  t.record({ event: 'tutorial_skipped', promptId: 'case_file', title: 'Open the Case File',
    action: 'skipped', timestamp: 1761843606000, metadata: { stepIndex: 1, skippedAt: 1761843606000 } });
  t.record({ event: 'tutorial_completed', action: 'completed', timestamp: 1761843606100,
    metadata: { totalSteps: 2, completedSteps: ['movement'], completedAt: 1761843606100 } });
  return t;
}

test('serializers write the shared golden files byte for byte', () => {
  const t = tutorial();
  t.record({ event: 'note', promptId: 'p', title: 'Two\nlines | and "quotes", commas',
    action: 'noted', timestamp: 1761843607000.5, narrative: 'line one\r\nline two', metadata: null });
  t.record({ event: 'ünïcødé ✓', promptId: '', title: '', action: '', timestamp: 1761843608000,
    narrative: '日本語, «quotes»', metadata: { empty: '', list: [], none: null } });
  assert.equal(t.toCsv(), golden('transcript.csv'));
  assert.equal(t.toMarkdown(), golden('transcript.md'));
  assert.equal(t.toJsonText(), golden('transcript.json'));
  assert.equal(t.toMarkdown().split('\n').length - 1, 2 + 8, 'no cell breaks the table');
});

test('markdown matches the old fixture and CSV never writes {} for null', () => {
  assert.equal(tutorial().toMarkdown(), fixture('03-tutorial-transcript.md'));
  const csv = tutorial().toCsv();
  assert.ok(!csv.includes('{}'));
  assert.ok(csv.endsWith('\n') && !csv.includes('\r'));
  assert.equal(csv.split('\n')[0], fixture('03-tutorial-transcript.csv').split('\n')[0], 'header');
});

test('escaping follows SPEC §6', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('cr\rhere'), '"cr\rhere"');
  assert.equal(markdownCell('a|b\r\nc\nd\re'), 'a\\|b<br>c<br>d<br>e');
});

test('keys are sorted the way the Rust SDK sorts them, integer-like keys included', () => {
  const t = new TranscriptRecorder('s');
  t.record({ event: 'e', action: 'a', timestamp: 0, metadata: { 10: 'x', 9: 'y', b: 1, a: { z: 1, y: 2 } } });
  assert.ok(t.toCsv().includes('"{""10"":""x"",""9"":""y"",""a"":{""y"":2,""z"":1},""b"":1}"'));
});

test('the transcript is bounded and drops the oldest, counted', () => {
  const t = new TranscriptRecorder('s', { capacity: 3 });
  for (let i = 0; i < 5; i++) t.record({ event: 'e', action: 'a', timestamp: i });
  assert.deepEqual(t.entries().map((e) => e.sequence), [2, 3, 4]);
  assert.equal(t.dropped, 2);
  const d = new TranscriptRecorder('s');
  for (let i = 0; i < 60; i++) d.record({ event: 'e', action: 'a', timestamp: i });
  assert.equal(d.entries().length, 50, 'default capacity');
});

test('change notifications are throttled', async () => {
  const t = new TranscriptRecorder('s');
  let calls = 0;
  t.onChange(200, (r) => {
    calls++;
    assert.ok(r.entries().length > 0);
  });
  for (let i = 0; i < 10; i++) t.record({ event: 'e', action: 'a', timestamp: i });
  assert.equal(calls, 1, 'ten changes inside the interval: one call');
  t.poll();
  assert.equal(calls, 1);
  // The throttle is a time interval: waiting it out is the behaviour under test.
  await new Promise((r) => setTimeout(r, 220));
  t.poll();
  assert.equal(calls, 2, 'the pending change is delivered after the interval');
  t.poll();
  assert.equal(calls, 2, 'nothing pending');
});

test('entries become transcript events and come back as the same transcript', () => {
  const events = tutorial().toEvents();
  assert.equal(events.length, 6);
  const e = events[2];
  assert.equal(e.event, 'telemetry.transcript.entry');
  assert.equal(e.session, 's-tutorial');
  assert.equal(e.attrs.sequence, 2);
  assert.equal(e.attrs.promptId, 'movement');
  assert.equal(e.attrs.narrative, 'Good. Now | check the "case file".');
  const rebuilt = TranscriptRecorder.fromEntries(
    's-tutorial',
    events.reverse().map(({ attrs: a }) => ({ ...a, narrative: a.narrative })),
  );
  assert.equal(rebuilt.toCsv(), tutorial().toCsv());
});
