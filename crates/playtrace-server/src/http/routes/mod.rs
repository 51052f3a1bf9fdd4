//! One module per group of routes: ingest (NDJSON/JSON and OTLP), queries, alerts, the stream, operations.

pub(crate) mod admin;
pub(crate) mod alerts;
pub(crate) mod erasures;
pub(crate) mod history;
pub(crate) mod ingest;
pub(crate) mod metrics;
pub(crate) mod notifications;
pub(crate) mod ops;
pub(crate) mod otlp;
pub(crate) mod params;
pub(crate) mod plan;
pub(crate) mod query;
pub(crate) mod rejects;
pub(crate) mod silences;
pub(crate) mod stream;
