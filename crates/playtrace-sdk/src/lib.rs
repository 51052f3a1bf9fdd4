//! `playtrace-sdk`: instrument a Rust game for PlayTrace.
//!
//! [`Client`] sends [`Event`]s to `playtrace serve` from a background thread: `emit` never
//! blocks the game loop and never holds more than the configured memory; batches are gzipped and
//! retried (honouring `Retry-After`); when the collector is away they wait in an on-disk spool
//! that survives restarts; `flush(timeout)` makes everything emitted so far durable.
//!
//! ```no_run
//! use playtrace_sdk::{Client, ClientConfig, Event};
//! use std::time::Duration;
//!
//! let mut config = ClientConfig::new("http://127.0.0.1:7070");
//! config.game = Some("glass-frontier".into());
//! config.spool_dir = Some("./playtrace-spool".into());
//! let client = Client::new(config)?;
//! client.emit(Event::new("telemetry.contest.resolved").attr("contestId", "c-1").attr("resolutionDurationMs", 640));
//! client.flush(Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bus;
pub mod client;
pub mod contest;
pub mod event;
pub mod spool;
#[cfg(feature = "tracing")]
pub mod tracing_layer;
pub mod transcript;

pub use bus::{EventBus, NameStats, Overflow, Subscription};
pub use client::{Client, ClientConfig, ClientMetrics, FlushTimeout};
pub use contest::{Armed, ContestRef, ContestTracker, Level, Record};
pub use event::Event;
#[cfg(feature = "tracing")]
pub use tracing_layer::{EventSink, PlayTraceLayer};
pub use transcript::{TranscriptEntry, TranscriptRecorder};
