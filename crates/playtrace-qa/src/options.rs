//! What a QA run is given: the sessions, where state, index, reports and published batches go,
//! the decisions, the simulated faults, the gate's thresholds and the cadence.

use crate::cadence::CadenceConfig;
use crate::decisions::Decisions;
use crate::gate::GateConfig;
use crate::input::Session;
use crate::publish::Target;
use crate::queue::Drift;
use std::path::PathBuf;

/// `--simulate-search-drift`: which search jobs fail, deterministically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftMode {
    /// No simulated faults.
    Off,
    /// Every other job of a session (the 1st, 3rd, ...) fails its first attempt, alternately a
    /// refused write and a stale version.
    First,
    /// The same jobs fail every attempt (they end dead-lettered).
    Always,
}

impl DriftMode {
    pub(crate) fn for_job(self, position: usize) -> Drift {
        if self == DriftMode::Off || position % 2 == 1 {
            return Drift::None;
        }
        match (self, position.is_multiple_of(4)) {
            (DriftMode::First, true) => Drift::FirstFail,
            (DriftMode::First, false) => Drift::FirstStale,
            (_, true) => Drift::AlwaysFail,
            (_, false) => Drift::AlwaysStale,
        }
    }
}

/// What to run.
pub struct QaOptions {
    /// The sessions (from [`crate::input`]).
    pub sessions: Vec<Session>,
    /// Where reports go (none: stdout only).
    pub output: Option<PathBuf>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// Where batches are published (none: versions are kept in the state only).
    pub target: Option<Target>,
    /// The search index (default `<state>/search.db`).
    pub index: Option<PathBuf>,
    /// "Now", epoch ms.
    pub now_ms: f64,
    /// Moderators' decisions.
    pub decisions: Decisions,
    /// Simulated search drift.
    pub drift: DriftMode,
    /// Simulated storage outage halfway through each batch.
    pub storage_outage: bool,
    /// The gate's thresholds.
    pub gate: GateConfig,
    /// The cadence.
    pub cadence: CadenceConfig,
}
