//! What goes into the stream: one message per ingest request (or per bounded slice of a large
//! one) carrying the rows exactly as this node parsed them, so every node stores the same rows;
//! and the deterministic `Nats-Msg-Id` that lets JetStream drop a client's retry.

use playtrace_core::alert::{Category, Severity};
use playtrace_store::{CompactString, RejectRow, StoredEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One message of the log.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// `node-nonce/counter` of the request that published it: that node answers the request
    /// from its own materialisation of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) origin: Option<String>,
    /// What it says.
    #[serde(flatten)]
    pub(crate) body: Body,
}

/// The kinds of messages.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Body {
    /// Parsed events and rejected lines of an ingest request.
    Ingest {
        events: Vec<Row>,
        #[serde(default)]
        rejects: Vec<Reject>,
    },
    /// Ack, resolve or silence of one alert, from any node (`actions.rs`).
    Action { alert: String, action: Action },
    /// A silence made on any node.
    Silence(Silence),
    /// A silence ended early.
    Unsilence { id: String },
    /// The lease holder's budget tick: status changes and the budget alerts they fire or
    /// resolve (`clock.rs`).
    Budget { changes: Vec<BudgetChange> },
    /// Alerts a collector raises itself: a game over its limits (any node, its own counts), a
    /// dimension's cap that folded values (the lease holder: `holder_only`).
    Raise {
        alerts: Vec<(String, Candidate)>,
        #[serde(default)]
        holder_only: bool,
    },
    /// The lease holder's alert clock: quiet moderation alerts resolve, ended silences re-fire.
    Maintain { quiet_before_ms: i64 },
    /// A collector took the lease: from here on the log takes time-driven messages from its
    /// process (`holder` is the prefix of its messages' origins) and from no other.
    Lease { holder: String },
}

impl Body {
    /// Whether only the lease holder may write this message (the others are skipped).
    pub(crate) fn holder_only(&self) -> bool {
        match self {
            Body::Budget { .. } | Body::Maintain { .. } => true,
            Body::Raise { holder_only, .. } => *holder_only,
            _ => false,
        }
    }
}

/// An alert candidate as it travels in the log (core's type is not serialisable on purpose:
/// this is the log's format, versioned with the log).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Candidate {
    pub(crate) rule: String,
    pub(crate) category: Category,
    pub(crate) severity: Severity,
    pub(crate) reason: String,
    pub(crate) fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) session_id: Option<String>,
    #[serde(default)]
    pub(crate) data: Map<String, Value>,
    #[serde(default)]
    pub(crate) seeded: bool,
    #[serde(default)]
    pub(crate) probe: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) created_ms: Option<f64>,
}

/// One budget's change of a tick.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BudgetChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fire: Option<Candidate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resolve: Option<String>,
}

/// What is done to an alert (the HTTP API's verbs).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub(crate) enum Action {
    Resolve,
    Silence { for_ms: f64 },
    Ack { by: String, comment: String },
}

/// A silence as its node made it (id and times included, so every node stores the same).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Silence {
    pub(crate) id: String,
    pub(crate) matchers: String,
    pub(crate) author: String,
    pub(crate) comment: String,
    pub(crate) starts_ms: i64,
    pub(crate) ends_ms: i64,
    pub(crate) created_ms: i64,
}

impl Envelope {
    /// A message of one action.
    pub(crate) fn encode(origin: String, body: Body) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&Envelope {
            origin: Some(origin),
            body,
        })
    }
}

/// An event row as ingest made it (sequence and receive time are given by the log).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Row {
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    game: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<CompactString>,
    name: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    env: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ts: Option<f64>,
    body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    subjects: Vec<i64>,
}

/// A rejected line.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Reject {
    line: u32,
    kind: String,
    message: String,
    raw: String,
}

impl Row {
    fn of(e: &StoredEvent) -> Row {
        Row {
            game: e.game.clone(),
            id: e.id.clone(),
            name: e.name.clone(),
            env: e.env.clone(),
            session: e.session.clone(),
            ts: e.ts_ms,
            body: e.body.clone(),
            subjects: e.subjects.clone(),
        }
    }

    pub(crate) fn into_event(self) -> StoredEvent {
        StoredEvent {
            game: self.game,
            id: self.id,
            name: self.name,
            env: self.env,
            session: self.session,
            ts_ms: self.ts,
            body: self.body,
            subjects: self.subjects,
            ..StoredEvent::default()
        }
    }
}

impl Reject {
    pub(crate) fn into_row(self) -> RejectRow {
        RejectRow {
            line: self.line,
            kind: self.kind,
            message: self.message,
            raw: self.raw,
        }
    }
}

/// A message ready to publish.
pub(crate) struct Outgoing {
    pub(crate) payload: Vec<u8>,
    /// `Nats-Msg-Id`, when every event has an id (events without one are stored again on a
    /// retry, as on a single node).
    pub(crate) msg_id: Option<String>,
    /// How many events it carries.
    pub(crate) events: usize,
}

/// Splits a request's rows into messages of at most about `max_bytes` of event bodies (a
/// single larger event still goes alone); rejects travel with the first.
pub(crate) fn ingest_messages(
    events: &[StoredEvent],
    rejects: &[RejectRow],
    max_bytes: usize,
    mut origin: impl FnMut() -> String,
) -> Result<Vec<(String, Outgoing)>, serde_json::Error> {
    let mut slices: Vec<&[StoredEvent]> = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, e) in events.iter().enumerate() {
        let len = e.body.len() + e.name.len() + e.game.len() + 64;
        if i > start && size + len > max_bytes {
            slices.push(&events[start..i]);
            (start, size) = (i, 0);
        }
        size += len;
    }
    slices.push(&events[start..]);
    let mut out = Vec::with_capacity(slices.len());
    for (n, slice) in slices.into_iter().enumerate() {
        let token = origin();
        let envelope = Envelope {
            origin: Some(token.clone()),
            body: Body::Ingest {
                events: slice.iter().map(Row::of).collect(),
                rejects: if n == 0 {
                    rejects
                        .iter()
                        .map(|r| Reject {
                            line: r.line,
                            kind: r.kind.clone(),
                            message: r.message.clone(),
                            raw: r.raw.clone(),
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            },
        };
        out.push((
            token,
            Outgoing {
                payload: serde_json::to_vec(&envelope)?,
                msg_id: msg_id(slice),
                events: slice.len(),
            },
        ));
    }
    Ok(out)
}

/// SHA-256 over the events' `(game, id)`s in order: the same request sent again gets the same
/// id, so JetStream drops it within its duplicate window. `None` when an event has no id.
pub(crate) fn msg_id(events: &[StoredEvent]) -> Option<String> {
    if events.is_empty() {
        return None;
    }
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    for e in events {
        hash.update(e.game.as_bytes());
        hash.update(&[0x1f]);
        hash.update(e.id.as_deref()?.as_bytes());
        hash.update(&[0x1e]);
    }
    let digest = hash.finish();
    Some(
        digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(game: &str, id: Option<&str>) -> StoredEvent {
        StoredEvent {
            game: game.into(),
            id: id.map(Into::into),
            name: "n".into(),
            body: "{}".into(),
            ..StoredEvent::default()
        }
    }

    #[test]
    fn the_message_id_depends_on_games_and_ids_only_and_needs_every_id() {
        let a = [event("g", Some("1")), event("g", Some("2"))];
        let mut b = [event("g", Some("1")), event("g", Some("2"))];
        b[0].body = "{\"other\":1}".into();
        assert_eq!(msg_id(&a), msg_id(&b));
        assert!(msg_id(&a).is_some());
        assert_ne!(
            msg_id(&a),
            msg_id(&[event("h", Some("1")), event("g", Some("2"))])
        );
        assert_ne!(msg_id(&a), msg_id(&[event("g", Some("12"))]));
        assert_eq!(msg_id(&[event("g", Some("1")), event("g", None)]), None);
        assert_eq!(msg_id(&[]), None);
    }

    #[test]
    fn large_requests_are_split_and_read_back_as_the_same_rows() {
        let events: Vec<_> = (0..10).map(|i| event("g", Some(&i.to_string()))).collect();
        let rejects = vec![RejectRow {
            line: 3,
            kind: "parse".into(),
            message: "m".into(),
            raw: "x".into(),
        }];
        let mut n = 0;
        let out = ingest_messages(&events, &rejects, 200, || {
            n += 1;
            format!("o/{n}")
        })
        .unwrap();
        assert!(out.len() > 1);
        assert_eq!(out.iter().map(|(_, o)| o.events).sum::<usize>(), 10);
        let mut back = Vec::new();
        let mut back_rejects = 0;
        for (token, o) in out {
            let e: Envelope = serde_json::from_slice(&o.payload).unwrap();
            assert_eq!(e.origin.as_deref(), Some(token.as_str()));
            let Body::Ingest { events, rejects } = e.body else {
                panic!("not an ingest message")
            };
            back_rejects += rejects.len();
            back.extend(events.into_iter().map(Row::into_event));
        }
        assert_eq!(back, events);
        assert_eq!(back_rejects, 1);
    }
}
