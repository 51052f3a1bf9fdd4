//! Live contest correlation for the collector: contests tracked as their events arrive, and
//! budgets over rolling windows of receive time.
//!
//! The lifecycle is the monitor's ([`super::lifecycle`]): the same observations, the same "which
//! timestamp wins" and the same derivations, so once every event of a contest has arrived its
//! durations equal what `playtrace monitor` reports for it. Unlike the whole-run
//! [`super::Correlator`], a contest's durations are recomputed after each of its events, and each
//! known duration is one sample in a time-ordered window, updated in place if a later event
//! changes it. Memory is bounded by time, not by traffic history, and a window's cost by its
//! distinct durations, not its samples: windows hold counts per distinct value in slices of
//! receive time (`ring.rs`), closed contests beyond the most recent few are reduced to what can
//! still change a window (`closed.rs`), and both are dropped once older than the longest window
//! (open contests once silent for `forget_after`) by [`LiveContests::evict`].

mod cache;
mod closed;
mod journal;
mod report;
mod ring;
mod slice;
mod state;
mod view;
mod windows;

pub use crate::contest::lifecycle::ContestState;
pub use report::{BudgetLine, BudgetQuery, GroupLine, WindowReport};
pub use state::{EventMeta, LiveContests, LiveOptions, DEFAULT_RECENT_CLOSED};
pub use view::ContestView;
pub(crate) use windows::budget_lines;

#[cfg(test)]
mod tests;
