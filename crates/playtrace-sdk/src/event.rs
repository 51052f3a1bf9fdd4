//! Events as a game builds them: a name and attributes, cheap to create on the game thread.

use serde_json::{Map, Value};
use std::borrow::Cow;

/// One telemetry event (SPEC §2 native envelope; the client adds `id` and `ts`).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub(crate) name: Cow<'static, str>,
    pub(crate) session: Option<String>,
    pub(crate) attrs: Map<String, Value>,
    /// Rough size in bytes, kept up to date as attributes are added (for the memory bound).
    pub(crate) size: usize,
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 12,
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(value_size).sum::<usize>(),
        Value::Object(o) => {
            2 + o
                .iter()
                .map(|(k, v)| k.len() + 4 + value_size(v))
                .sum::<usize>()
        }
    }
}

impl Event {
    /// An event named `name` (e.g. `telemetry.contest.resolved`).
    pub fn new(name: impl Into<Cow<'static, str>>) -> Event {
        let name = name.into();
        Event {
            size: 96 + name.len(),
            name,
            session: None,
            attrs: Map::new(),
        }
    }

    /// Sets the session.
    pub fn session(mut self, session: impl Into<String>) -> Event {
        let s = session.into();
        self.size += s.len() + 12;
        self.session = Some(s);
        self
    }

    /// Adds an attribute.
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<Value>) -> Event {
        let key = key.into();
        let value = value.into();
        self.size += key.len() + 4 + value_size(&value);
        self.attrs.insert(key, value);
        self
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its attributes.
    pub fn attrs(&self) -> &Map<String, Value> {
        &self.attrs
    }
}
