// The event bus has the Rust bus's semantics, including the once-listener case the old JS bus
// got wrong (removing itself during dispatch made the next listener be skipped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../dist/index.js';

const recorder = (log, tag) => (name, p) => { log.push(`${tag}:${name}:${p}`); };

test('exact names and one-segment wildcards over . and :', () => {
  const bus = new EventBus();
  const log = [];
  bus.subscribe('telemetry.contest.armed', recorder(log, 'exact'));
  bus.subscribe('telemetry.contest.*', recorder(log, 'star'));
  bus.subscribe('tutorial:*', recorder(log, 'colon'));
  bus.subscribe('*.contest.*', recorder(log, 'mid'));
  assert.equal(bus.emit('telemetry.contest.armed', 1), 3);
  assert.equal(bus.emit('telemetry.contest', 2), 0, '* matches exactly one segment');
  assert.equal(bus.emit('telemetry.contest.armed.extra', 3), 0);
  assert.equal(bus.emit('tutorial:step_completed', 4), 1);
  assert.equal(bus.emit('tutorial.step_completed', 5), 1, '. and : both separate');
  assert.deepEqual(log, [
    'exact:telemetry.contest.armed:1', 'star:telemetry.contest.armed:1',
    'mid:telemetry.contest.armed:1', 'colon:tutorial:step_completed:4',
    'colon:tutorial.step_completed:5',
  ]);
});

test('priorities run lower first, ties in subscription order', () => {
  const bus = new EventBus();
  const log = [];
  bus.subscribe('e', recorder(log, 'a5'), 5);
  bus.subscribe('e', recorder(log, 'b-1'), -1);
  bus.subscribe('e', recorder(log, 'c5'), 5);
  bus.subscribe('e', recorder(log, 'd0'), 0);
  bus.emit('e', 0);
  assert.deepEqual(log, ['b-1:e:0', 'd0:e:0', 'a5:e:0', 'c5:e:0']);
});

test('a once listener runs once and never makes the next one skip', () => {
  const bus = new EventBus();
  const log = [];
  bus.once('e', recorder(log, 'once'));
  bus.subscribe('e', recorder(log, 'after'));
  bus.emit('e', 1);
  bus.emit('e', 2);
  assert.deepEqual(log, ['once:e:1', 'after:e:1', 'after:e:2']);
});

test('several once listeners in a row all run, each once', () => {
  const bus = new EventBus();
  const log = [];
  bus.once('e', recorder(log, 'o1'));
  bus.once('e', recorder(log, 'o2'));
  bus.subscribe('e', recorder(log, 'keep'));
  bus.once('e', recorder(log, 'o3'));
  assert.equal(bus.emit('e', 1), 4);
  assert.equal(bus.emit('e', 2), 1);
  assert.deepEqual(log, ['o1:e:1', 'o2:e:1', 'keep:e:1', 'o3:e:1', 'keep:e:2']);
});

test('unsubscribing stops delivery; unhandled events are counted by name', () => {
  const bus = new EventBus();
  const log = [];
  const sub = bus.subscribe('e', recorder(log, 'x'));
  bus.emit('e', 1);
  sub.unsubscribe();
  assert.equal(bus.emit('e', 2), 0);
  assert.equal(log.length, 1);
  assert.deepEqual(bus.stats('e'), { emitted: 2, unhandled: 1 });
  const big = new Uint8Array(1 << 20);
  for (let i = 0; i < 3; i++) bus.emit('nobody.listens', big);
  assert.deepEqual(bus.allStats(), [
    ['e', { emitted: 2, unhandled: 1 }],
    ['nobody.listens', { emitted: 3, unhandled: 3 }],
  ]);
});

test('throwing and rejecting handlers are isolated and counted', async () => {
  const errors = [];
  const bus = new EventBus({ onError: (e, name) => errors.push(`${name}:${e.message}`) });
  const log = [];
  bus.subscribe('e', () => { throw new Error('nope'); }, 0);
  bus.subscribe('e', async () => { throw new Error('async nope'); }, 1);
  bus.subscribe('e', recorder(log, 'still'), 2);
  assert.equal(bus.emit('e', 7), 3);
  assert.deepEqual(log, ['still:e:7']);
  await new Promise((r) => setImmediate(r));
  assert.equal(bus.failures, 2);
  assert.deepEqual(errors.sort(), ['e:async nope', 'e:nope']);
});

test('handlers may emit and subscribe while dispatching; a handler never re-enters itself', () => {
  const bus = new EventBus();
  const log = [];
  bus.subscribe('outer', (_, p) => {
    bus.emit('inner', p + 1);
    bus.subscribe('late', recorder(log, 'late'));
  });
  bus.subscribe('inner', recorder(log, 'in'));
  bus.emit('outer', 1);
  bus.emit('late', 9);
  assert.deepEqual(log, ['in:inner:2', 'late:late:9']);
  let depth = 0;
  bus.subscribe('self', () => { depth++; bus.emit('self', 0); });
  bus.emit('self', 0);
  assert.equal(depth, 1);
});

const drain = (bus) => {
  const log = [];
  const s = bus.subscribe('*', recorder(log, 't'));
  bus.tick();
  s.unsubscribe();
  return log;
};

test('deferred events run by priority, then arrival', () => {
  const bus = new EventBus({ capacity: 10, overflow: 'dropNewest' });
  bus.defer('a', 1, 5);
  bus.defer('b', 2, 1);
  bus.defer('c', 3, 5);
  bus.defer('d', 4, 0);
  assert.equal(bus.deferred, 4);
  assert.deepEqual(drain(bus), ['t:d:4', 't:b:2', 't:a:1', 't:c:3']);
  assert.equal(bus.deferred, 0);
});

test('tick(max) emits at most max events', () => {
  const bus = new EventBus();
  for (let i = 0; i < 5; i++) bus.defer('x', i);
  assert.equal(bus.tick(2), 2);
  assert.equal(bus.deferred, 3);
});

test('overflow policies drop what they say and count it', () => {
  const fill = (overflow) => {
    const bus = new EventBus({ capacity: 3, overflow });
    assert.ok(bus.defer('x', 1, 1));
    assert.ok(bus.defer('x', 2, 9));
    assert.ok(bus.defer('x', 3, 5));
    return bus;
  };
  let bus = fill('dropNewest');
  assert.equal(bus.defer('x', 4, 0), false);
  assert.deepEqual([bus.dropped, drain(bus)], [1, ['t:x:1', 't:x:3', 't:x:2']]);

  bus = fill('dropOldest');
  assert.ok(bus.defer('x', 4, 7));
  assert.deepEqual([bus.dropped, drain(bus)], [1, ['t:x:3', 't:x:4', 't:x:2']]);

  bus = fill('dropLowestPriority');
  assert.ok(bus.defer('x', 4, 0), 'more urgent than the least urgent queued');
  assert.equal(bus.defer('x', 5, 9), false, 'as unurgent as the least urgent: refused');
  assert.deepEqual([bus.dropped, drain(bus)], [2, ['t:x:4', 't:x:1', 't:x:3']]);
});
