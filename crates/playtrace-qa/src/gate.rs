//! The moderation gate: which world deltas need a moderator before they may be published.
//!
//! A delta is flagged `capability_violation` when it touches a capability at or above the
//! configured severity (the old pipeline: a prohibited capability), `conflict_detected` when
//! extraction recorded conflicts, and `low_confidence` when its confidence is below the
//! threshold (0.6: the fixture's delta at 0.65 is tiered "low" yet not flagged for it).

use crate::input::Delta;
use serde_json::Value;

/// Thresholds of the gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateConfig {
    /// A delta below this confidence is `low_confidence` (default 0.6).
    pub low_confidence_below: f64,
    /// The lowest capability severity that is a violation (default `high`).
    pub capability_min_severity: Severity,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            low_confidence_below: 0.6,
            capability_min_severity: Severity::High,
        }
    }
}

/// A capability reference's severity, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

impl Severity {
    /// Reads `low|medium|high|critical` (any case).
    pub fn parse(text: &str) -> Option<Severity> {
        match text.to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// Why a delta needs review, in the order reports list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// It touches a prohibited capability.
    CapabilityViolation,
    /// Extraction recorded conflicts with the canon.
    ConflictDetected,
    /// Its confidence is under the threshold.
    LowConfidence,
}

impl Reason {
    /// The old pipeline's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::CapabilityViolation => "capability_violation",
            Reason::ConflictDetected => "conflict_detected",
            Reason::LowConfidence => "low_confidence",
        }
    }
}

/// The capability references of `delta` that are violations under `config`. A reference without
/// a readable severity counts as one: an unknown capability is not assumed harmless.
pub fn violations<'a>(delta: &'a Delta, config: &GateConfig) -> Vec<&'a Value> {
    delta
        .capability_refs
        .iter()
        .filter(|r| {
            r.get("severity")
                .and_then(Value::as_str)
                .and_then(Severity::parse)
                .is_none_or(|s| s >= config.capability_min_severity)
        })
        .collect()
}

/// Why `delta` needs review (empty: it may be published without a moderator).
pub fn reasons(delta: &Delta, config: &GateConfig) -> Vec<Reason> {
    let mut out = Vec::new();
    if !violations(delta, config).is_empty() {
        out.push(Reason::CapabilityViolation);
    }
    if !delta.conflicts.is_empty() {
        out.push(Reason::ConflictDetected);
    }
    if delta.confidence < config.low_confidence_below {
        out.push(Reason::LowConfidence);
    }
    out
}

/// The confidence tier the old pipeline recorded (`high` ≥ 0.85, `medium` ≥ 0.7, else `low`).
pub fn tier(confidence: f64) -> &'static str {
    if confidence >= 0.85 {
        "high"
    } else if confidence >= 0.7 {
        "medium"
    } else {
        "low"
    }
}

/// The moderation figures of one session (the fixture's `moderation` object).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Whether any delta was flagged.
    pub requires_moderation: bool,
    /// Distinct reasons, in [`Reason`] order.
    pub reasons: Vec<Reason>,
    /// Deltas flagged `capability_violation`.
    pub capability_violations: u64,
    /// Deltas flagged `conflict_detected`.
    pub conflict_detections: u64,
    /// Deltas flagged `low_confidence`.
    pub low_confidence_findings: u64,
}

impl Summary {
    /// Adds one delta's reasons.
    pub fn add(&mut self, reasons: &[Reason]) {
        for r in reasons {
            self.requires_moderation = true;
            if !self.reasons.contains(r) {
                self.reasons.push(*r);
                self.reasons.sort();
            }
            match r {
                Reason::CapabilityViolation => self.capability_violations += 1,
                Reason::ConflictDetected => self.conflict_detections += 1,
                Reason::LowConfidence => self.low_confidence_findings += 1,
            }
        }
    }

    /// The fixture's JSON shape.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "requiresModeration": self.requires_moderation,
            "reasons": self.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "capabilityViolations": self.capability_violations,
            "conflictDetections": self.conflict_detections,
            "lowConfidenceFindings": self.low_confidence_findings,
        })
    }
}
