//! Which jobs join a commit the store's writer has open (`writer.rs`): background work (a
//! rejects replay's pages) fills a commit while nothing else waits, and a live job that comes
//! meanwhile joins it and ends it, so it waits for the rest of one background job, not a batch.

use std::collections::VecDeque;
use std::sync::mpsc::Receiver;

/// Background events (replay pages) one commit takes at most while nothing else waits: the
/// write of a commit grows with its rows, and a live job that comes meanwhile waits for it.
pub(crate) const BACKGROUND_EVENTS: usize = 1_000;

/// A job's weight in a commit.
pub(crate) trait Weighed {
    /// Events the job stores.
    fn events(&self) -> usize;
}

/// Where a commit in progress takes more jobs from, between two jobs.
pub(crate) struct Feed<'a, J> {
    rx: &'a Receiver<J>,
    /// Background jobs set aside, in their order.
    deferred: &'a mut VecDeque<J>,
    /// Live jobs taken off the queue for this commit, not inserted yet.
    live: VecDeque<J>,
    /// Whether the commit holds a job that is not background work: it takes no more of that.
    has_live: bool,
    /// Background events in the commit.
    background: usize,
    max_events: usize,
}

impl<'a, J: Weighed> Feed<'a, J> {
    /// A feed for a commit that starts with `jobs`.
    pub(crate) fn new(
        rx: &'a Receiver<J>,
        deferred: &'a mut VecDeque<J>,
        jobs: &[J],
        is_background: impl Fn(&J) -> bool,
        max_events: usize,
    ) -> Self {
        let mut background = 0;
        let mut has_live = false;
        for job in jobs {
            if is_background(job) {
                background += job.events();
            } else {
                has_live = true;
            }
        }
        Feed {
            rx,
            deferred,
            live: VecDeque::new(),
            has_live,
            background,
            max_events,
        }
    }

    /// The next job for a commit that holds `events` events so far (`None`: commit now). A
    /// commit with a live job takes only the live jobs that were waiting with it; a commit of
    /// background jobs takes every live job waiting now (and then ends), else the next
    /// background job while under [`BACKGROUND_EVENTS`].
    pub(crate) fn next(&mut self, is_background: impl Fn(&J) -> bool, events: usize) -> Option<J> {
        if let Some(job) = self.live.pop_front() {
            return Some(job);
        }
        if self.has_live || events >= self.max_events {
            return None;
        }
        let mut waiting = events;
        while waiting < self.max_events {
            match self.rx.try_recv() {
                Ok(job) if is_background(&job) => self.deferred.push_back(job),
                Ok(job) => {
                    waiting += job.events();
                    self.live.push_back(job);
                }
                Err(_) => break,
            }
        }
        if let Some(job) = self.live.pop_front() {
            self.has_live = true;
            return Some(job);
        }
        if self.background >= BACKGROUND_EVENTS {
            return None;
        }
        let job = self.deferred.pop_front()?;
        self.background += job.events();
        Some(job)
    }
}
