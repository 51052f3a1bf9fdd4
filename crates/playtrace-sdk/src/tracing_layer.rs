//! A `tracing` layer that turns events of a chosen target into PlayTrace events, so a game that
//! already logs with `tracing` needs no new calls:
//!
//! ```ignore
//! use tracing_subscriber::layer::SubscriberExt;
//! let subscriber = tracing_subscriber::fmt().finish().with(PlayTraceLayer::new(client, "playtrace"));
//! tracing::info!(target: "playtrace", event = "telemetry.contest.armed", hubId = "hub-a", contestKey = "k");
//! ```
//!
//! The event name is the `event` field (else the message); every other field becomes an
//! attribute (numbers and booleans keep their type). `session` sets the session.

use crate::{Client, Event};
use serde_json::{Map, Value};
use std::sync::Arc;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Where the layer's events go (a [`Client`], or anything else that takes events).
pub trait EventSink: Send + Sync + 'static {
    /// Takes one event.
    fn emit(&self, event: Event);
}

impl EventSink for Client {
    fn emit(&self, event: Event) {
        Client::emit(self, event);
    }
}

/// The layer.
pub struct PlayTraceLayer<S: EventSink> {
    sink: Arc<S>,
    target: String,
}

impl<S: EventSink> PlayTraceLayer<S> {
    /// Sends events whose target is `target` (or starts with `target::`) to `sink`.
    pub fn new(sink: Arc<S>, target: impl Into<String>) -> Self {
        PlayTraceLayer {
            sink,
            target: target.into(),
        }
    }

    fn wants(&self, target: &str) -> bool {
        target == self.target
            || target
                .strip_prefix(self.target.as_str())
                .is_some_and(|rest| rest.starts_with("::"))
    }
}

#[derive(Default)]
struct Fields {
    name: Option<String>,
    message: Option<String>,
    session: Option<String>,
    attrs: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("event", Value::String(s)) => self.name = Some(s),
            ("message", Value::String(s)) => self.message = Some(s),
            ("session", Value::String(s)) => self.session = Some(s),
            (name, v) => {
                self.attrs.insert(name.to_string(), v);
            }
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

impl<S: EventSink, T: tracing::Subscriber> Layer<T> for PlayTraceLayer<S> {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, T>) {
        if !self.wants(event.metadata().target()) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(name) = fields.name.or(fields.message) else {
            return;
        };
        let mut e =
            Event::new(name).attr("level", event.metadata().level().as_str().to_lowercase());
        if let Some(s) = fields.session {
            e = e.session(s);
        }
        for (k, v) in fields.attrs {
            e = e.attr(k, v);
        }
        self.sink.emit(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Default)]
    struct Collect(Mutex<Vec<Event>>);

    impl EventSink for Collect {
        fn emit(&self, event: Event) {
            self.0.lock().unwrap().push(event);
        }
    }

    #[test]
    fn events_of_the_target_become_playtrace_events() {
        let sink = Arc::new(Collect::default());
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish()
            .with(PlayTraceLayer::new(sink.clone(), "playtrace"));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "playtrace", event = "telemetry.contest.armed", hubId = "hub-a", participantCapacity = 4u64, ranked = true, session = "s-1");
            tracing::warn!(target: "playtrace::combat", damage = 12.5, "combat.hit");
            tracing::info!(target: "other", event = "ignored");
            tracing::info!(target: "playtracex", event = "ignored too");
        });
        let got = sink.0.lock().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name(), "telemetry.contest.armed");
        assert_eq!(got[0].attrs()["hubId"], "hub-a");
        assert_eq!(got[0].attrs()["participantCapacity"], 4);
        assert_eq!(got[0].attrs()["ranked"], true);
        assert_eq!(got[0].attrs()["level"], "info");
        assert_eq!(got[1].name(), "combat.hit");
        assert_eq!(got[1].attrs()["damage"], 12.5);
        assert_eq!(got[1].attrs()["level"], "warn");
    }
}
