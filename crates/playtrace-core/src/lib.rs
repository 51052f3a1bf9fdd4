//! PlayTrace's pure logic, shared by every command and by the collector.
//!
//! Nothing in this crate touches files, sockets, clocks or threads: callers hand it bytes and
//! values, it hands back results. That keeps the rules (how a log line is read, how a contest is
//! correlated, how a percentile is ranked, when a budget is breached) in one place, testable on
//! their own, and identical whether they run in `playtrace monitor` or in `playtrace serve`.
//!
//! Data flow for the monitor: [`scan::ObservationBatch`] turns lines into compact
//! [`scan::Observation`]s (parallel-safe, one batch per block of input), [`contest::Correlator`]
//! folds batches in input order into per-contest state, and [`contest::Correlator::finish`]
//! produces the [`summary::Summary`] that [`report`] renders as text or Markdown.

pub mod alert;
pub mod budget;
pub mod contest;
pub mod dialect;
pub mod dims;
pub mod event;
pub mod fields;
pub mod history;
pub mod num;
pub mod quantile;
pub mod reject;
pub mod report;
pub mod rollup;
pub mod scan;
pub mod summary;
pub mod time;
pub mod units;
