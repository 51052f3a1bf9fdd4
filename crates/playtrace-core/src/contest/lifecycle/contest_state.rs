//! [`ContestState`]: a contest's state as the API names it (`GET /v1/contests` shows and filters
//! by it, the CLI parses it). Kept apart from the lifecycle's transitions because this is a public
//! vocabulary with its own spelling, parsing and error text, which changes on its own schedule
//! (what users type) while the state machine only decides which state a contest is in.

/// Where a contest is in its lifecycle (SPEC §3), as `GET /v1/contests` shows and filters it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ContestState {
    /// Armed, not launched yet.
    Arming,
    /// Launched, waiting for its resolution.
    Resolving,
    /// Resolved (a workflow failure after it does not change that).
    Resolved,
    /// Timed out before launch.
    Expired,
    /// The workflow failed.
    Failed,
    /// Launched and neither resolved nor failed within `unresolved_after`.
    Unresolved,
}

impl ContestState {
    /// Every state, in lifecycle order.
    pub const ALL: [ContestState; 6] = [
        ContestState::Arming,
        ContestState::Resolving,
        ContestState::Resolved,
        ContestState::Expired,
        ContestState::Failed,
        ContestState::Unresolved,
    ];

    /// Name as in JSON and query parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            ContestState::Arming => "arming",
            ContestState::Resolving => "resolving",
            ContestState::Resolved => "resolved",
            ContestState::Expired => "expired",
            ContestState::Failed => "failed",
            ContestState::Unresolved => "unresolved",
        }
    }

    /// Parses a state name (`None` for anything else, so callers can list the valid ones).
    pub fn parse(text: &str) -> Option<ContestState> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for ContestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ContestState {
    type Err = String;

    fn from_str(text: &str) -> Result<ContestState, String> {
        Self::parse(text).ok_or_else(|| {
            format!(
                "`{text}` is not a contest state; use arming, resolving, resolved, expired, \
                 failed or unresolved"
            )
        })
    }
}
