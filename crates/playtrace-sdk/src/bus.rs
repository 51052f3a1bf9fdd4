//! [`EventBus`]: in-process publish/subscribe for game systems, on the game-loop thread.
//!
//! Names are segments separated by `.` or `:` (`telemetry.contest.armed`,
//! `tutorial:step_completed`); a subscription is to an exact name or a pattern where `*` matches
//! exactly one segment. Handlers run by priority (lower first), ties in subscription order. A
//! handler that fails or panics is isolated and counted; the others still run. Dispatch walks a
//! snapshot of the matching subscriptions, so a once-subscription removing itself never makes
//! the next one be skipped (the JavaScript bus this replaces did). Counts of emitted and
//! unhandled events are kept by name, without copying payloads (the old bus deep-copied every
//! unhandled one). Deferred events wait in a bounded queue processed by [`EventBus::tick`].

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

/// What a handler returns; an `Err` is counted as a failure.
pub type HandlerResult = Result<(), String>;

type Handler<P> = Box<dyn FnMut(&str, &P) -> HandlerResult>;

struct Sub<P> {
    id: u64,
    pattern: Vec<Box<str>>,
    priority: i32,
    once: bool,
    active: Cell<bool>,
    handler: RefCell<Handler<P>>,
}

/// The subscriptions matching one name, in dispatch order.
type Matching<P> = Rc<[Rc<Sub<P>>]>;

/// Per-name dispatch cache and counters.
struct Route<P> {
    subs: RefCell<Option<Matching<P>>>,
    emitted: Cell<u64>,
    unhandled: Cell<u64>,
}

/// What to do when the deferred queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Refuse the new event.
    DropNewest,
    /// Make room by dropping the oldest queued event.
    DropOldest,
    /// Make room by dropping the least urgent (highest priority value, newest among equals);
    /// the new event is refused if it is itself the least urgent.
    DropLowestPriority,
}

struct Deferred<P> {
    /// (priority, arrival) → event.
    queue: BTreeMap<(i32, u64), (Box<str>, P)>,
    /// arrival → priority, for dropping the oldest.
    by_arrival: BTreeMap<u64, i32>,
    capacity: usize,
    policy: Overflow,
    next: u64,
    dropped: u64,
}

struct Inner<P> {
    subs: RefCell<Vec<Rc<Sub<P>>>>,
    routes: RefCell<HashMap<Box<str>, Rc<Route<P>>>>,
    next_id: Cell<u64>,
    failures: Cell<u64>,
    panics: Cell<u64>,
    deferred: RefCell<Deferred<P>>,
}

/// The bus. Cheap to clone (a shared handle); not `Send`: it lives on the game-loop thread.
pub struct EventBus<P> {
    inner: Rc<Inner<P>>,
}

impl<P> Clone for EventBus<P> {
    fn clone(&self) -> Self {
        EventBus {
            inner: self.inner.clone(),
        }
    }
}

/// Keeps a subscription alive; dropping it unsubscribes.
#[must_use = "dropping the handle unsubscribes"]
pub struct Subscription<P> {
    bus: Weak<Inner<P>>,
    id: u64,
}

impl<P> Subscription<P> {
    /// Keeps the subscription for the bus's whole life.
    pub fn forever(self) {
        std::mem::forget(self);
    }
}

impl<P> Drop for Subscription<P> {
    fn drop(&mut self) {
        if let Some(inner) = self.bus.upgrade() {
            inner.remove(self.id);
        }
    }
}

/// Counters of one event name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameStats {
    /// Times emitted.
    pub emitted: u64,
    /// Times emitted with no subscriber.
    pub unhandled: u64,
}

fn segments(name: &str) -> impl Iterator<Item = &str> {
    name.split(['.', ':'])
}

fn matches(pattern: &[Box<str>], name: &str) -> bool {
    let mut parts = segments(name);
    for p in pattern {
        match parts.next() {
            Some(part) if &**p == "*" || &**p == part => {}
            _ => return false,
        }
    }
    parts.next().is_none()
}

impl<P> Inner<P> {
    fn invalidate(&self) {
        for route in self.routes.borrow().values() {
            route.subs.borrow_mut().take();
        }
    }

    fn remove(&self, id: u64) {
        let mut subs = self.subs.borrow_mut();
        if let Some(i) = subs.iter().position(|s| s.id == id) {
            subs[i].active.set(false);
            subs.remove(i);
            drop(subs);
            self.invalidate();
        }
    }

    fn route(&self, name: &str) -> Rc<Route<P>> {
        if let Some(r) = self.routes.borrow().get(name) {
            return r.clone();
        }
        let route = Rc::new(Route {
            subs: RefCell::new(None),
            emitted: Cell::new(0),
            unhandled: Cell::new(0),
        });
        self.routes.borrow_mut().insert(name.into(), route.clone());
        route
    }

    fn matching(&self, route: &Route<P>, name: &str) -> Matching<P> {
        if let Some(subs) = &*route.subs.borrow() {
            return subs.clone();
        }
        let mut found: Vec<Rc<Sub<P>>> = self
            .subs
            .borrow()
            .iter()
            .filter(|s| matches(&s.pattern, name))
            .cloned()
            .collect();
        // Stable: ties keep subscription order.
        found.sort_by_key(|s| s.priority);
        let found: Matching<P> = found.into();
        *route.subs.borrow_mut() = Some(found.clone());
        found
    }
}

impl<P> Default for EventBus<P> {
    fn default() -> Self {
        Self::new(1024, Overflow::DropOldest)
    }
}

impl<P> EventBus<P> {
    /// A bus whose deferred queue holds `capacity` events and overflows by `policy`.
    pub fn new(capacity: usize, policy: Overflow) -> Self {
        EventBus {
            inner: Rc::new(Inner {
                subs: RefCell::new(Vec::new()),
                routes: RefCell::new(HashMap::new()),
                next_id: Cell::new(0),
                failures: Cell::new(0),
                panics: Cell::new(0),
                deferred: RefCell::new(Deferred {
                    queue: BTreeMap::new(),
                    by_arrival: BTreeMap::new(),
                    capacity,
                    policy,
                    next: 0,
                    dropped: 0,
                }),
            }),
        }
    }

    fn add(
        &self,
        pattern: &str,
        priority: i32,
        once: bool,
        handler: impl FnMut(&str, &P) -> HandlerResult + 'static,
    ) -> Subscription<P> {
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id + 1);
        self.inner.subs.borrow_mut().push(Rc::new(Sub {
            id,
            pattern: segments(pattern).map(Into::into).collect(),
            priority,
            once,
            active: Cell::new(true),
            handler: RefCell::new(Box::new(handler)),
        }));
        self.inner.invalidate();
        Subscription {
            bus: Rc::downgrade(&self.inner),
            id,
        }
    }

    /// Subscribes to a name or pattern (`telemetry.contest.*`) at priority 0.
    pub fn subscribe(
        &self,
        pattern: &str,
        handler: impl FnMut(&str, &P) -> HandlerResult + 'static,
    ) -> Subscription<P> {
        self.add(pattern, 0, false, handler)
    }

    /// Subscribes at a priority (lower runs first).
    pub fn subscribe_with_priority(
        &self,
        pattern: &str,
        priority: i32,
        handler: impl FnMut(&str, &P) -> HandlerResult + 'static,
    ) -> Subscription<P> {
        self.add(pattern, priority, false, handler)
    }

    /// Subscribes for the next matching event only.
    pub fn once(
        &self,
        pattern: &str,
        priority: i32,
        handler: impl FnMut(&str, &P) -> HandlerResult + 'static,
    ) -> Subscription<P> {
        self.add(pattern, priority, true, handler)
    }

    /// Delivers an event to every matching subscriber now; returns how many handled it.
    pub fn emit(&self, name: &str, payload: &P) -> usize {
        let route = self.inner.route(name);
        route.emitted.set(route.emitted.get() + 1);
        let subs = self.inner.matching(&route, name);
        let mut handled = 0;
        for sub in subs.iter() {
            if !sub.active.get() {
                continue;
            }
            if sub.once {
                sub.active.set(false);
                self.inner.remove(sub.id);
            }
            // A handler that emits into itself is skipped for the inner event.
            let Ok(mut handler) = sub.handler.try_borrow_mut() else {
                continue;
            };
            handled += 1;
            match catch_unwind(AssertUnwindSafe(|| handler(name, payload))) {
                Ok(Ok(())) => {}
                Ok(Err(_)) => self.inner.failures.set(self.inner.failures.get() + 1),
                Err(_) => self.inner.panics.set(self.inner.panics.get() + 1),
            }
        }
        if handled == 0 {
            route.unhandled.set(route.unhandled.get() + 1);
        }
        handled
    }

    /// Queues an event for the next [`EventBus::tick`]; `false` if the overflow policy refused
    /// it.
    pub fn defer(&self, name: &str, payload: P, priority: i32) -> bool {
        let mut d = self.inner.deferred.borrow_mut();
        let arrival = d.next;
        d.next += 1;
        if d.queue.len() >= d.capacity {
            let victim = match d.policy {
                Overflow::DropNewest => None,
                Overflow::DropOldest => d.by_arrival.first_key_value().map(|(a, p)| (*p, *a)),
                Overflow::DropLowestPriority => d
                    .queue
                    .last_key_value()
                    .map(|(k, _)| *k)
                    .filter(|(p, _)| *p > priority),
            };
            match victim {
                Some(key) => {
                    d.queue.remove(&key);
                    d.by_arrival.remove(&key.1);
                    d.dropped += 1;
                }
                None => {
                    d.dropped += 1;
                    return false;
                }
            }
        }
        d.queue.insert((priority, arrival), (name.into(), payload));
        d.by_arrival.insert(arrival, priority);
        true
    }

    /// Emits up to `max` deferred events, by priority then arrival; returns how many.
    pub fn tick(&self, max: usize) -> usize {
        let mut done = 0;
        while done < max {
            let next = {
                let mut d = self.inner.deferred.borrow_mut();
                let item = d.queue.pop_first();
                if let Some(((_, arrival), _)) = &item {
                    d.by_arrival.remove(arrival);
                }
                item
            };
            let Some((_, (name, payload))) = next else {
                break;
            };
            self.emit(&name, &payload);
            done += 1;
        }
        done
    }

    /// Events waiting in the deferred queue.
    pub fn deferred(&self) -> usize {
        self.inner.deferred.borrow().queue.len()
    }

    /// Deferred events dropped by the overflow policy.
    pub fn dropped(&self) -> u64 {
        self.inner.deferred.borrow().dropped
    }

    /// Handlers that returned an error.
    pub fn failures(&self) -> u64 {
        self.inner.failures.get()
    }

    /// Handlers that panicked.
    pub fn panics(&self) -> u64 {
        self.inner.panics.get()
    }

    /// Counters of one name.
    pub fn stats(&self, name: &str) -> NameStats {
        self.inner
            .routes
            .borrow()
            .get(name)
            .map_or(NameStats::default(), |r| NameStats {
                emitted: r.emitted.get(),
                unhandled: r.unhandled.get(),
            })
    }

    /// Counters of every name emitted so far, sorted by name.
    pub fn all_stats(&self) -> Vec<(String, NameStats)> {
        let mut all: Vec<(String, NameStats)> = self
            .inner
            .routes
            .borrow()
            .iter()
            .map(|(k, r)| {
                (
                    k.to_string(),
                    NameStats {
                        emitted: r.emitted.get(),
                        unhandled: r.unhandled.get(),
                    },
                )
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[cfg(test)]
mod tests;
