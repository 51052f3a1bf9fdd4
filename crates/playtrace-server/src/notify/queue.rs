//! A receiver's pending notifications in memory, soonest due first, so its delivery loop never
//! asks the store what is due after each send (that cost the collector milliseconds of CPU per
//! alert). The outbox stays the durable truth: this list is rebuilt from it at start (a SIGKILL
//! loses nothing), after a retry request or a failed record, and whenever more wait than
//! [`CAP`] — then it holds the soonest due and remembers from when the store holds more.
//!
//! Who feeds it: the flusher adds what its transaction queued, the recorder puts a failed
//! attempt back with its next time once that is recorded, a read of the store adds what
//! memory did not know.

use playtrace_store::Notification;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Notifications held in memory per receiver; more wait in the store only.
pub(crate) const CAP: usize = 1024;

/// One receiver's due list.
pub(crate) struct Queue {
    /// By (due time, arrival): the order the store reads them in.
    waiting: BTreeMap<(i64, u64), Notification>,
    keys: HashMap<String, (i64, u64)>,
    arrivals: u64,
    /// Taken to send and not recorded yet: the store still shows them pending.
    in_flight: HashSet<String>,
    /// `Some` while a read of the store runs: attempts recorded meanwhile, which that read may
    /// still have seen pending (they must not come back from it).
    recorded_during_read: Option<HashSet<String>>,
    /// `None`: every pending notification of the receiver is here or in flight. `Some(t)`: the
    /// store may hold others, none due before `t`.
    unread_from: Option<i64>,
    /// In flight when an erasure committed: their copies here predate it, so a failed one is
    /// read back from the (scrubbed) store instead of coming back from memory.
    stale: HashSet<String>,
}

impl Queue {
    /// An empty list that reads the store first.
    pub(crate) fn new() -> Queue {
        Queue {
            waiting: BTreeMap::new(),
            keys: HashMap::new(),
            arrivals: 0,
            in_flight: HashSet::new(),
            recorded_during_read: None,
            unread_from: Some(i64::MIN),
            stale: HashSet::new(),
        }
    }

    fn known(&self, id: &str) -> bool {
        self.keys.contains_key(id) || self.in_flight.contains(id)
    }

    fn unread(&mut self, from: i64) {
        self.unread_from = Some(self.unread_from.map_or(from, |t| t.min(from)));
    }

    /// Adds a pending notification (one already known is left as it is). Past [`CAP`] the one
    /// due last leaves memory; the store still has it.
    pub(crate) fn add(&mut self, n: Notification) {
        if self.known(&n.id) {
            return;
        }
        self.arrivals += 1;
        let key = (n.next_ms, self.arrivals);
        self.keys.insert(n.id.clone(), key);
        self.waiting.insert(key, n);
        if self.waiting.len() > CAP {
            if let Some((_, last)) = self.waiting.pop_last() {
                self.keys.remove(&last.id);
                self.unread(last.next_ms);
            }
        }
    }

    /// Whether a notification here is due at `now`.
    pub(crate) fn has_due(&self, now: i64) -> bool {
        self.waiting
            .first_key_value()
            .is_some_and(|((t, _), _)| *t <= now)
    }

    /// The soonest due notification, if due at `now`, taken out to send (in flight until
    /// [`Queue::recorded`]).
    pub(crate) fn take_due(&mut self, now: i64) -> Option<Notification> {
        if !self.has_due(now) {
            return None;
        }
        let (_, n) = self.waiting.pop_first()?;
        self.keys.remove(&n.id);
        self.in_flight.insert(n.id.clone());
        Some(n)
    }

    /// When the loop must look again: the soonest time here, or from when unread ones may be due.
    pub(crate) fn next_ms(&self) -> Option<i64> {
        let here = self.waiting.first_key_value().map(|((t, _), _)| *t);
        match (here, self.unread_from) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the store must be read: nothing here is due, and the store may hold due ones.
    pub(crate) fn must_read(&self, now: i64) -> bool {
        self.unread_from.is_some_and(|t| t <= now) && !self.has_due(now)
    }

    /// A send's result is recorded in the store: it is no longer in flight; a failed attempt
    /// to try again comes back with its next time.
    pub(crate) fn recorded(&mut self, id: &str, retry: Option<Notification>) {
        self.in_flight.remove(id);
        if let Some(during) = &mut self.recorded_during_read {
            during.insert(id.to_string());
        }
        if self.stale.remove(id) {
            if retry.is_some() {
                self.unread(i64::MIN);
            }
            return;
        }
        if let Some(n) = retry {
            self.add(n);
        }
    }

    /// Recording a send failed: the store still shows it pending as before, so read it again.
    pub(crate) fn not_recorded(&mut self, id: &str) {
        self.in_flight.remove(id);
        self.stale.remove(id);
        self.unread(i64::MIN);
    }

    /// Forgets what is here (not what is in flight) and reads the store again: after a retry
    /// request changed a notification behind memory's back.
    pub(crate) fn reload(&mut self) {
        self.waiting.clear();
        self.keys.clear();
        self.unread(i64::MIN);
    }

    /// After an erasure committed: forgets every copy here (they may name the erased subject)
    /// and reads the store again; a send in flight is not taken back, but if it fails, it is
    /// retried from the store's scrubbed copy, not from its own.
    pub(crate) fn erased(&mut self) {
        self.reload();
        self.stale.extend(self.in_flight.iter().cloned());
    }

    /// Starts a read of the store: what to pass over (here or in flight) and how many to read.
    pub(crate) fn begin_read(&mut self) -> (HashSet<String>, usize) {
        self.recorded_during_read = Some(HashSet::new());
        self.unread_from = None;
        let skip = self.keys.keys().chain(&self.in_flight).cloned().collect();
        (skip, CAP.saturating_sub(self.waiting.len()).max(1))
    }

    /// Ends a read: `read` joins (except what was recorded meanwhile), `unread_from` as the read
    /// returned it.
    pub(crate) fn end_read(&mut self, read: Vec<Notification>, unread_from: Option<i64>) {
        let during = self.recorded_during_read.take().unwrap_or_default();
        for n in read {
            if !during.contains(&n.id) {
                self.add(n);
            }
        }
        if let Some(t) = unread_from {
            self.unread(t);
        }
    }

    /// A read of the store failed: try again later.
    pub(crate) fn read_failed(&mut self, retry_at: i64) {
        self.recorded_during_read = None;
        self.unread(retry_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(id: &str, next_ms: i64) -> Notification {
        Notification {
            id: id.into(),
            receiver: "hook".into(),
            group_key: "g".into(),
            status: "firing".into(),
            alerts: 1,
            body: "{}".into(),
            state: "pending".into(),
            attempts: 0,
            created_ms: 0,
            next_ms,
            updated_ms: 0,
            last_error: None,
        }
    }

    #[test]
    fn due_notifications_come_out_soonest_first_and_once() {
        let mut q = Queue::new();
        assert!(q.must_read(0), "a new list reads the store first");
        let (skip, _) = q.begin_read();
        assert!(skip.is_empty());
        q.end_read(vec![note("b", 20), note("a", 10)], None);
        assert!(!q.must_read(1_000), "everything pending is here");
        q.add(note("a", 10));
        q.add(note("c", 20));
        assert_eq!(q.next_ms(), Some(10));
        assert!(q.take_due(5).is_none(), "nothing due yet");
        assert_eq!(q.take_due(20).unwrap().id, "a");
        assert_eq!(q.take_due(20).unwrap().id, "b", "same time: arrival order");
        q.add(note("a", 0));
        assert_eq!(
            q.take_due(20).unwrap().id,
            "c",
            "in flight: not added again"
        );
        assert!(q.take_due(20).is_none());
        q.recorded("a", Some(note("a", 30)));
        q.recorded("b", None);
        assert_eq!(q.next_ms(), Some(30), "a retry comes back at its time");
        assert_eq!(q.take_due(30).unwrap().id, "a");
    }

    #[test]
    fn past_the_cap_the_store_is_read_again_when_memory_runs_dry() {
        let mut q = Queue::new();
        q.begin_read();
        q.end_read(Vec::new(), None);
        for i in 0..CAP {
            q.add(note(&format!("n{i}"), 100 + i as i64));
        }
        q.add(note("early", 50));
        assert_eq!(q.waiting.len(), CAP);
        assert_eq!(q.next_ms(), Some(50));
        assert!(!q.must_read(10_000), "due ones are still here");
        while q.take_due(10_000).is_some() {}
        assert!(
            q.must_read(10_000),
            "the one due last was left in the store"
        );
        let (skip, want) = q.begin_read();
        assert_eq!(skip.len(), CAP, "in flight ones are passed over");
        assert_eq!(want, CAP);
        // A send recorded while the read ran: the read may have seen it pending.
        q.recorded("n3", None);
        q.end_read(
            vec![note("n3", 103), note(&format!("n{}", CAP - 1), 100)],
            None,
        );
        assert_eq!(q.take_due(10_000).unwrap().id, format!("n{}", CAP - 1));
        assert!(
            q.take_due(10_000).is_none(),
            "n3 was recorded: not sent again"
        );
        assert!(!q.must_read(10_000));
    }

    #[test]
    fn after_an_erasure_no_copy_from_before_it_comes_back_from_memory() {
        let mut q = Queue::new();
        q.begin_read();
        q.end_read(vec![note("a", 0), note("b", 0), note("c", 500)], None);
        q.take_due(0);
        q.take_due(0);
        q.erased();
        assert!(q.take_due(1_000).is_none(), "c's copy is forgotten");
        assert!(q.must_read(0));
        // a fails while the erasure runs: its retry is read from the store, not kept.
        q.recorded("a", Some(note("a", 10)));
        assert!(!q.keys.contains_key("a"));
        let (skip, _) = q.begin_read();
        assert_eq!(skip.len(), 1, "only b, still in flight, is passed over");
        q.end_read(vec![note("a", 10), note("c", 500)], None);
        assert_eq!(q.take_due(1_000).unwrap().id, "a");
        // Later attempts of b come back from memory again.
        q.recorded("b", None);
        q.recorded("a", Some(note("a", 20)));
        assert!(q.keys.contains_key("a"));
    }

    #[test]
    fn a_failed_record_or_a_retry_request_reads_the_store_again() {
        let mut q = Queue::new();
        q.begin_read();
        q.end_read(vec![note("a", 0), note("b", 500)], None);
        q.take_due(0);
        q.not_recorded("a");
        assert!(q.must_read(0));
        q.begin_read();
        q.end_read(vec![note("a", 0)], None);
        assert_eq!(q.take_due(0).unwrap().id, "a");
        q.reload();
        assert!(q.must_read(0));
        assert_eq!(
            q.begin_read().0.len(),
            1,
            "only the one in flight is passed over"
        );
    }
}
