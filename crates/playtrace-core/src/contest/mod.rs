//! Contest lifecycle correlation (SPEC §3): armed → launched → resolved / failed / expired.
//!
//! The lifecycle itself (identity, transitions, which timestamp wins, how durations are derived)
//! is written once, in `lifecycle.rs`; two drivers fold observations through it:
//! [`Correlator`] folds [`crate::scan::ObservationBatch`]es of a whole run, in input order, into
//! one record per contest and produces the [`crate::summary::Summary`] (`playtrace monitor`);
//! [`LiveContests`] keeps the collector's contests as their events arrive, with budgets over
//! rolling windows. The correlator's memory grows with the number of contests (72 bytes each,
//! plus ids with `--include-raw`), never with the bytes read.

mod cardinality;
mod correlator;
mod interner;
mod lifecycle;
mod live;
mod sentiment;
mod shard;
mod table;

pub use correlator::{Correlator, CorrelatorOptions, Ordered};
pub(crate) use live::budget_lines;
pub use live::{
    BudgetLine, BudgetQuery, ContestState, ContestView, EventMeta, GroupLine, LiveContests,
    LiveOptions, WindowReport, DEFAULT_RECENT_CLOSED,
};
pub use shard::{ContestShard, Prepared};
