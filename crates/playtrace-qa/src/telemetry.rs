//! The pipeline's own telemetry (`--url`): the events production's offline workers send, through
//! the SDK client, so a collector's default rules raise `offline.workflow_failed` and
//! `offline.workflow_sla_exceeded` for a QA batch exactly as for production, and the moderation
//! hold's `admin.alert` lands on the alert stream.

use playtrace_sdk::{Client, ClientConfig, Event};
use serde_json::Value;
use std::time::Duration;

/// Where the events go: nowhere, or a collector.
#[derive(Default)]
pub struct Telemetry {
    client: Option<Client>,
}

impl Telemetry {
    /// Sends nothing.
    pub fn off() -> Telemetry {
        Telemetry::default()
    }

    /// Sends to the collector at `url` with an ingest token.
    pub fn connect(url: &str, token: Option<String>) -> std::io::Result<Telemetry> {
        let mut config = ClientConfig::new(url);
        config.token = token;
        config.linger = Duration::from_millis(20);
        Ok(Telemetry {
            client: Some(Client::new(config)?),
        })
    }

    /// Whether events are sent anywhere.
    pub fn enabled(&self) -> bool {
        self.client.is_some()
    }

    /// Queues one event (never blocks).
    pub(crate) fn emit(&self, name: &'static str, session: &str, attrs: Vec<(&str, Value)>) {
        if let Some(client) = &self.client {
            let mut event = Event::new(name).session(session).attr("sessionId", session);
            for (k, v) in attrs {
                event = event.attr(k, v);
            }
            client.emit(event);
        }
    }

    /// Waits until everything emitted is acknowledged (or spooled), at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), String> {
        match &self.client {
            Some(client) => client.flush(timeout).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}
