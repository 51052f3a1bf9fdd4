//! `playtrace serve`: the collector games send telemetry to.
//!
//! The data path, one folder per step:
//!
//! 1. [`http`] — routes; the token and scope of every request are checked by one extractor.
//! 2. [`ingest`] — a body decoded into the one parsed form (rows, rejects, contest
//!    observations), one module per source format.
//! 3. The store (`playtrace-store`) — every request's rows are queued for its single writer,
//!    which group-commits them with one fsync and gives everything one sequence.
//! 4. [`pipeline`] — the commit hook: inside the transaction it raises alerts ([`alerting`]);
//!    once durable it folds the events into the live contests and budgets and publishes the
//!    batch to [`fanout`], whose subscribers (the SSE stream) run on their own tasks.
//! 5. [`view`] — the JSON shapes of all of it, in one place.
//!
//! [`runtime`] starts it all as named steps; [`config`] is the TOML file.

pub mod config;
pub mod notify;

mod alerting;
mod app;
mod auth;
mod background;
mod cluster;
mod console;
mod fanout;
mod hex;
mod http;
mod ingest;
mod metrics;
mod pipeline;
mod reload;
mod runtime;
mod view;

pub use runtime::{serve, shutdown_signal, Running, ServeError};
