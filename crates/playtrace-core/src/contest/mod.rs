//! Contest lifecycle correlation (SPEC §3): armed → launched → resolved / failed / expired.
//!
//! [`Correlator`] folds [`crate::scan::ObservationBatch`]es, in input order, into one record per
//! contest and produces the [`crate::summary::Summary`]. Memory grows with the number of
//! contests (about 64 bytes each, plus ids with `--include-raw`), never with the bytes read.

mod correlator;
mod interner;
mod lifecycle;
mod live;
mod sentiment;
mod table;

pub use correlator::{Correlator, CorrelatorOptions};
pub use live::{
    BudgetLine, BudgetQuery, ContestState, ContestView, EventMeta, GroupLine, LiveContests,
    LiveOptions, WindowReport,
};
