//! Tracking plans: event contracts for game telemetry.
//!
//! A plan is a directory of JSON Schema (draft 2020-12) files, one per event name or name
//! pattern: the file's name says which (`quest.objective.json`, `telemetry.contest.*.json`).
//! Each schema describes an event's `attrs` (for structured log lines: the fields after
//! `level`, `timestamp` and `message`). A plan is compiled once ([`Plan::load`]) and then checks
//! events cheaply, on many threads at once ([`Plan::check`]).
//!
//! ```text
//!  load.rs     the directory → compiled schemas, with errors naming the file and JSON pointer
//!  check.rs    one event's attrs → violations (missing, wrong type, unexpected, invalid)
//!  fast/       one line's text → "one clean event named N", without a `Value` (or step aside)
//!  report.rs   many checked events → the parity/coverage report (the engine team's shape)
//!  infer.rs    existing telemetry → a draft plan
//!  diff.rs     two plans → the changes that break existing producers
//! ```
//!
//! The same [`Plan::check`] serves `playtrace plan check` (offline, CI) and the collector's
//! ingest (`[plan]`), so a line the CLI calls clean is never refused at ingest, and the other
//! way round.

mod check;
mod diff;
mod fast;
mod infer;
mod load;
mod report;

pub use check::{Checked, CleanLine, Severity, Violation, ViolationKind};
pub use diff::{diff, Change, ChangeKind};
pub use infer::Inferrer;
pub use load::{EventSchema, Plan, PlanError};
pub use report::{Coverage, ReportOptions};
