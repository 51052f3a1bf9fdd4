//! `[contests]` and `[budgets]`: the live correlation's windows and how often budgets are checked.

use super::{invalid, millis, ConfigError};
use playtrace_core::budget::BudgetSet;
use playtrace_core::contest::LiveOptions;
use playtrace_core::units::{Millis, Written};
use serde::Deserialize;

/// `[contests]` and `[budgets] windows` make the live correlation's options (defaults:
/// [`LiveOptions::default`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ContestsFile {
    unresolved_after: Option<Written>,
    forget_after: Option<Written>,
}

/// `[budgets]`: the rolling windows (in [`LiveOptions`]) and how often budget alerts look.
#[derive(Debug, Clone, PartialEq)]
pub struct Budgets {
    /// The budgets (`[[budget]]` tables; default arming p95 ≤ 8 s, resolution p95 ≤ 800 ms).
    pub set: BudgetSet,
    /// How often budgets are checked for status changes and alerts (at least 50 ms).
    pub evaluate_every: Millis,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            set: BudgetSet::default(),
            evaluate_every: Millis::from_secs_saturating(1),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BudgetsFile {
    windows: Option<Vec<Written>>,
    pub(super) evaluate_every: Option<Written>,
}

pub(super) fn live_options(
    contests: &ContestsFile,
    budgets: &BudgetsFile,
    mut o: LiveOptions,
) -> Result<LiveOptions, ConfigError> {
    if let Some(v) = &contests.unresolved_after {
        o.unresolved_after_ms = millis(v, "contests.unresolved_after")?.as_ms_f64();
    }
    if let Some(v) = &contests.forget_after {
        o.forget_after_ms = millis(v, "contests.forget_after")?.as_ms_f64();
    }
    if let Some(windows) = &budgets.windows {
        if windows.is_empty() {
            return Err(invalid(
                "budgets.windows",
                "needs at least one window, e.g. [\"5m\", \"1h\"]",
            ));
        }
        o.windows_ms = windows
            .iter()
            .map(|w| {
                let ms = millis(w, "budgets.windows")?;
                if ms == Millis::ZERO {
                    return Err(invalid("budgets.windows", "a window must be longer than 0"));
                }
                Ok(ms.as_ms_f64())
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(o)
}
