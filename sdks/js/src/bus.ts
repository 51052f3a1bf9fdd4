// EventBus: in-process publish/subscribe for game systems, with the Rust SDK bus's semantics
// (crates/playtrace-sdk/src/bus.rs).
//
// Names are segments separated by `.` or `:` (`telemetry.contest.armed`,
// `tutorial:step_completed`); a subscription is to an exact name or a pattern where `*` matches
// exactly one segment. Handlers run by priority (lower first), ties in subscription order. A
// handler that throws (or returns a promise that rejects) is isolated and counted; the others
// still run. Dispatch walks a snapshot of the matching subscriptions, so a once-subscription
// removing itself never makes the next one be skipped (the JavaScript bus this replaces did).
// Counts of emitted and unhandled events are kept by name, without copying payloads. Deferred
// events wait in a bounded queue processed by `tick`.

/** A subscriber. */
export type Handler<P> = (name: string, payload: P) => unknown;

/** What to do when the deferred queue is full. */
export type Overflow = 'dropNewest' | 'dropOldest' | 'dropLowestPriority';

/** Counters of one event name. */
export interface NameStats {
  /** Times emitted. */
  emitted: number;
  /** Times emitted with no subscriber. */
  unhandled: number;
}

/** Keeps a subscription; `unsubscribe()` ends it. */
export interface Subscription {
  unsubscribe(): void;
}

interface Sub<P> {
  id: number;
  pattern: string[];
  priority: number;
  once: boolean;
  active: boolean;
  running: boolean;
  handler: Handler<P>;
}

interface Route<P> {
  subs: Sub<P>[] | null;
  emitted: number;
  unhandled: number;
}

interface Deferred<P> {
  priority: number;
  arrival: number;
  name: string;
  payload: P;
}

const SEPARATOR = /[.:]/;

function matches(pattern: string[], name: string): boolean {
  const parts = name.split(SEPARATOR);
  if (parts.length !== pattern.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '*' && pattern[i] !== parts[i]) return false;
  }
  return true;
}

/** The bus. It lives on one event loop; handlers run synchronously inside `emit`. */
export class EventBus<P = unknown> {
  private subs: Sub<P>[] = [];
  private readonly routes = new Map<string, Route<P>>();
  private nextId = 0;
  private failureCount = 0;
  /** Deferred events sorted by (priority, arrival). */
  private queue: Deferred<P>[] = [];
  private arrival = 0;
  private droppedCount = 0;
  private readonly capacity: number;
  private readonly policy: Overflow;
  private readonly onError: ((error: unknown, name: string) => void) | undefined;

  /**
   * A bus whose deferred queue holds `capacity` events (default 1024) and overflows by
   * `overflow` (default `dropOldest`). `onError` sees every handler failure (they are counted
   * either way).
   */
  constructor(
    options: { capacity?: number; overflow?: Overflow; onError?: (error: unknown, name: string) => void } = {},
  ) {
    this.capacity = options.capacity ?? 1024;
    this.policy = options.overflow ?? 'dropOldest';
    this.onError = options.onError;
  }

  private invalidate(): void {
    for (const r of this.routes.values()) r.subs = null;
  }

  private remove(id: number): void {
    const i = this.subs.findIndex((s) => s.id === id);
    if (i !== -1) {
      this.subs[i]!.active = false;
      this.subs = this.subs.filter((s) => s.id !== id);
      this.invalidate();
    }
  }

  private add(pattern: string, handler: Handler<P>, priority: number, once: boolean): Subscription {
    const id = this.nextId++;
    this.subs = [
      ...this.subs,
      { id, pattern: pattern.split(SEPARATOR), priority, once, active: true, running: false, handler },
    ];
    this.invalidate();
    return { unsubscribe: () => this.remove(id) };
  }

  /** Subscribes to a name or pattern (`telemetry.contest.*`); lower priorities run first. */
  subscribe(pattern: string, handler: Handler<P>, priority = 0): Subscription {
    return this.add(pattern, handler, priority, false);
  }

  /** Subscribes for the next matching event only. */
  once(pattern: string, handler: Handler<P>, priority = 0): Subscription {
    return this.add(pattern, handler, priority, true);
  }

  private route(name: string): Route<P> {
    let r = this.routes.get(name);
    if (!r) {
      r = { subs: null, emitted: 0, unhandled: 0 };
      this.routes.set(name, r);
    }
    return r;
  }

  private failed(error: unknown, name: string): void {
    this.failureCount++;
    if (this.onError) {
      try {
        this.onError(error, name);
      } catch {
        // The error hook must not break dispatch either.
      }
    }
  }

  /** Delivers an event to every matching subscriber now; returns how many handled it. */
  emit(name: string, payload: P): number {
    const route = this.route(name);
    route.emitted++;
    let subs = route.subs;
    if (subs === null) {
      // Stable sort: ties keep subscription order.
      subs = this.subs.filter((s) => matches(s.pattern, name)).sort((a, b) => a.priority - b.priority);
      route.subs = subs;
    }
    let handled = 0;
    // `subs` is a snapshot: subscribing or unsubscribing during dispatch replaces the cache,
    // never this array.
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i]!;
      if (!sub.active) continue;
      if (sub.once) this.remove(sub.id);
      // A handler that emits into itself is skipped for the inner event.
      if (sub.running) continue;
      handled++;
      sub.running = true;
      try {
        const r = sub.handler(name, payload);
        if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
          (r as Promise<unknown>).then(undefined, (e) => this.failed(e, name));
        }
      } catch (e) {
        this.failed(e, name);
      } finally {
        sub.running = false;
      }
    }
    if (handled === 0) route.unhandled++;
    return handled;
  }

  /** Queues an event for the next `tick`; `false` if the overflow policy refused it. */
  defer(name: string, payload: P, priority = 0): boolean {
    const arrival = this.arrival++;
    const q = this.queue;
    if (q.length >= this.capacity) {
      let victim = -1;
      if (this.policy === 'dropOldest') {
        for (let i = 0; i < q.length; i++) {
          if (victim === -1 || q[i]!.arrival < q[victim]!.arrival) victim = i;
        }
      } else if (this.policy === 'dropLowestPriority') {
        if (q.length > 0 && q[q.length - 1]!.priority > priority) victim = q.length - 1;
      }
      this.droppedCount++;
      if (victim === -1) return false;
      q.splice(victim, 1);
    }
    // Insert after every event of the same or a more urgent priority (arrival order).
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (q[mid]!.priority <= priority) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, { priority, arrival, name, payload });
    return true;
  }

  /** Emits up to `max` deferred events, by priority then arrival; returns how many. */
  tick(max = Infinity): number {
    let done = 0;
    while (done < max && this.queue.length > 0) {
      const d = this.queue.shift()!;
      this.emit(d.name, d.payload);
      done++;
    }
    return done;
  }

  /** Events waiting in the deferred queue. */
  get deferred(): number {
    return this.queue.length;
  }

  /** Deferred events dropped by the overflow policy. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Handlers that threw or rejected. */
  get failures(): number {
    return this.failureCount;
  }

  /** Counters of one name. */
  stats(name: string): NameStats {
    const r = this.routes.get(name);
    return { emitted: r?.emitted ?? 0, unhandled: r?.unhandled ?? 0 };
  }

  /** Counters of every name emitted so far, sorted by name. */
  allStats(): [string, NameStats][] {
    return [...this.routes.entries()]
      .map(([k, r]): [string, NameStats] => [k, { emitted: r.emitted, unhandled: r.unhandled }])
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}
