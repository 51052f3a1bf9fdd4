//! Live contest correlation for the collector: contests tracked as their events arrive, and
//! budgets over rolling windows of receive time.
//!
//! The lifecycle is the monitor's ([`super::lifecycle`]): the same observations, the same "which
//! timestamp wins" and the same derivations, so once every event of a contest has arrived its
//! durations equal what `playtrace monitor` reports for it. Unlike the whole-run
//! [`super::Correlator`], a contest's durations are recomputed after each of its events, and each
//! known duration is one sample in a time-ordered window, updated in place if a later event
//! changes it. Memory is bounded by time, not by traffic history: samples older than the longest
//! window and contests closed before it (or open and silent for `forget_after`) are dropped by
//! [`LiveContests::evict`].

mod state;
mod view;
mod windows;

pub use crate::contest::lifecycle::ContestState;
pub use state::{EventMeta, LiveContests, LiveOptions};
pub use view::ContestView;
pub use windows::{BudgetLine, BudgetQuery, GroupLine, WindowReport};

#[cfg(test)]
mod tests;
