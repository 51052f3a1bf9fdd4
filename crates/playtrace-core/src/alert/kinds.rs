//! What an alert is: its category, severity and state, and the candidate a rule (or an
//! `admin.alert`) produces for the collector to store.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// A player did something moderators must see.
    Moderation,
    /// A latency budget is breached.
    Budget,
    /// A workflow or pipeline failed or is late.
    Pipeline,
}

impl Category {
    /// Name as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Moderation => "moderation",
            Category::Budget => "budget",
            Category::Pipeline => "pipeline",
        }
    }

    /// Parses a category name.
    pub fn parse(text: &str) -> Option<Category> {
        match text {
            "moderation" => Some(Category::Moderation),
            "budget" => Some(Category::Budget),
            "pipeline" => Some(Category::Pipeline),
            _ => None,
        }
    }
}

/// How bad it is, in order: `Info < Low < Medium < High < Critical`, and in JSON the
/// lower-case names (`info` ... `critical`, SPEC §4) that rules, routes and silences match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // the variants are the level names, ordered as above
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every level, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Name as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a level name.
    pub fn parse(text: &str) -> Option<Severity> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The level's rank (0 = info), as stored.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The level of a rank.
    pub fn from_rank(rank: u8) -> Severity {
        Self::ALL[usize::from(rank.min(4))]
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an alert is: the `state` of `GET /v1/alerts` and of the alert stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Raised and not resolved.
    Firing,
    /// Resolved by a person or by its budget holding again; a new match fires it again.
    Resolved,
    /// Firing, but muted until its `silencedUntil`.
    Silenced,
}

impl AlertState {
    /// Every state, in the order the API documents them.
    pub const ALL: [AlertState; 3] = [
        AlertState::Firing,
        AlertState::Resolved,
        AlertState::Silenced,
    ];

    /// Name as in JSON, query parameters and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
            AlertState::Silenced => "silenced",
        }
    }

    /// Parses a state name.
    pub fn parse(text: &str) -> Option<AlertState> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AlertState {
    type Err = String;

    fn from_str(text: &str) -> Result<AlertState, String> {
        Self::parse(text).ok_or_else(|| {
            format!("`{text}` is not an alert state; use firing, resolved or silenced")
        })
    }
}

/// Seeded (SPEC §4): `seeded`, `fallback` or `debug` true in the data, or a reason starting
/// `debug.`. Such alerts are stored but never count as live.
pub fn is_seeded(reason: &str, data: &Map<String, Value>) -> bool {
    reason.starts_with("debug.")
        || ["seeded", "fallback", "debug"]
            .iter()
            .any(|k| data.get(*k) == Some(&Value::Bool(true)))
}

/// What a rule (or an `admin.alert`) says should be alerted; the collector turns it into an
/// alert or an update of the alert with the same fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertCandidate {
    /// Rule name (`admin.alert` for posted alerts).
    pub rule: String,
    /// The rule's category; decides which console lane shows it.
    pub category: Category,
    /// The rule's severity (or the posted one); alerts sort and filter by it.
    pub severity: Severity,
    /// Why, for people; a reason starting `debug.` marks the alert seeded.
    pub reason: String,
    /// Same fingerprint, same alert.
    pub fingerprint: String,
    /// Session the alert is about.
    pub session_id: Option<String>,
    /// The event fields the rule's `copy` names (or the posted `data`).
    pub data: Map<String, Value>,
    /// Never counts as live.
    pub seeded: bool,
    /// Caused by a verification probe.
    pub probe: bool,
    /// When the source says the alert was created (epoch ms), else the receive time is used.
    pub created_ms: Option<f64>,
}
