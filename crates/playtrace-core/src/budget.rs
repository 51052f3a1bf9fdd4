//! Latency budgets: which percentile of which duration must stay at or under which limit.
//!
//! A budget is breached when its percentile is strictly above the limit (SPEC §3). Below
//! `min_samples` there is not enough data to judge, and the status is `insufficient_data`, which
//! never fails a run: a quiet hour must not page anyone.

use crate::quantile::nearest_rank;
use crate::units::Written;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A duration PlayTrace measures per contest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Metric {
    /// Armed → launched.
    Arming,
    /// Launched → resolved.
    Resolution,
    /// Armed → expired, for contests that timed out.
    ExpiredArming,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 3] = [Metric::Arming, Metric::Resolution, Metric::ExpiredArming];

    /// Name as in JSON and TOML.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Arming => "arming",
            Metric::Resolution => "resolution",
            Metric::ExpiredArming => "expiredArming",
        }
    }

    /// The metric's slot in `[arming, resolution, expiredArming]` sample arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Name for people.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Arming => "arming",
            Metric::Resolution => "resolution",
            Metric::ExpiredArming => "expired arming",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One budget: `percentile` of `metric` must stay at or under `limit_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// What is measured.
    pub metric: Metric,
    /// Percentile, 0 < p ≤ 100.
    pub percentile: f64,
    /// Limit in milliseconds; breached when the percentile is strictly above it.
    pub limit_ms: f64,
    /// Fewer samples than this → `insufficient_data`.
    pub min_samples: u64,
}

/// DES-BENCH-01: arming p95 ≤ 8000 ms.
pub const DEFAULT_ARMING_P95_MS: f64 = 8000.0;
/// DES-BENCH-01: resolution p95 ≤ 800 ms.
pub const DEFAULT_RESOLUTION_P95_MS: f64 = 800.0;

/// The budgets a run checks.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetSet {
    /// Budgets in the order they are reported.
    pub budgets: Vec<Budget>,
}

impl Default for BudgetSet {
    /// DES-BENCH-01: arming p95 ≤ 8000 ms, resolution p95 ≤ 800 ms.
    fn default() -> Self {
        BudgetSet {
            budgets: vec![
                Budget {
                    metric: Metric::Arming,
                    percentile: 95.0,
                    limit_ms: DEFAULT_ARMING_P95_MS,
                    min_samples: 1,
                },
                Budget {
                    metric: Metric::Resolution,
                    percentile: 95.0,
                    limit_ms: DEFAULT_RESOLUTION_P95_MS,
                    min_samples: 1,
                },
            ],
        }
    }
}

/// A budgets file could not be used. Messages name the entry and what to write instead.
#[derive(Debug, Error)]
pub enum BudgetFileError {
    /// Not valid TOML, or not the expected shape (the TOML error carries line and column).
    #[error("{0}")]
    Toml(String),
    /// A value out of range.
    #[error("budget #{index} ({metric}): {problem}")]
    Invalid {
        /// 1-based entry number.
        index: usize,
        /// The entry's metric.
        metric: Metric,
        /// What is wrong.
        problem: String,
    },
    /// No `[[budget]]` entries.
    #[error("no budgets: add at least one [[budget]] table, e.g.\n\n[[budget]]\nmetric = \"arming\"\npercentile = 95\nlimit_ms = 8000")]
    Empty,
}

/// A budgets file named on the command line could not be used. The source (shown after a colon
/// by `anyhow`'s `{:#}`) says why.
#[derive(Debug, Error)]
pub enum BudgetLoadError {
    /// The file could not be read.
    #[error("cannot read the budgets file `{}`", path.display())]
    Read {
        /// The file as given.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid budgets file.
    #[error("invalid budgets file `{}`", path.display())]
    Invalid {
        /// The file as given.
        path: PathBuf,
        /// What is wrong in it.
        #[source]
        source: BudgetFileError,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetFile {
    #[serde(default)]
    budget: Vec<BudgetEntry>,
}

/// One `[[budget]]` table as written (in a budgets file or the collector's config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetEntry {
    metric: Metric,
    #[serde(default = "default_percentile")]
    percentile: f64,
    /// `8000` or `"8s"`, read after the entry so the error can name it.
    limit_ms: Written,
    #[serde(default = "default_min_samples")]
    min_samples: u64,
}

fn default_percentile() -> f64 {
    95.0
}

fn default_min_samples() -> u64 {
    1
}

impl BudgetSet {
    /// Reads a budgets file:
    ///
    /// ```toml
    /// [[budget]]
    /// metric = "arming"        # arming | resolution | expiredArming
    /// percentile = 95          # default 95
    /// limit_ms = 8000          # or a duration: "8s"
    /// min_samples = 20         # default 1
    /// ```
    pub fn from_toml(text: &str) -> Result<BudgetSet, BudgetFileError> {
        let file: BudgetFile = toml::from_str(text)
            .map_err(|e| BudgetFileError::Toml(e.to_string().trim_end().to_string()))?;
        Self::from_entries(file.budget)
    }

    /// The budgets of a run that takes `--budgets FILE`: the file's budgets, or the defaults
    /// without one. Every command and the collector load budgets files through here, so the
    /// messages are the same everywhere. `read` reads the file (callers pass
    /// `std::fs::read_to_string`; this crate does no I/O itself).
    pub fn load(
        path: Option<&Path>,
        read: impl FnOnce(&Path) -> std::io::Result<String>,
    ) -> Result<BudgetSet, BudgetLoadError> {
        let Some(path) = path else {
            return Ok(BudgetSet::default());
        };
        let text = read(path).map_err(|source| BudgetLoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|source| BudgetLoadError::Invalid {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Validates `[[budget]]` tables already read from TOML.
    pub fn from_entries(entries: Vec<BudgetEntry>) -> Result<BudgetSet, BudgetFileError> {
        if entries.is_empty() {
            return Err(BudgetFileError::Empty);
        }
        let mut budgets = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            let invalid = |problem: String| BudgetFileError::Invalid {
                index: i + 1,
                metric: entry.metric,
                problem,
            };
            if !(entry.percentile > 0.0 && entry.percentile <= 100.0) {
                return Err(invalid(format!(
                    "percentile must be above 0 and at most 100, got {}",
                    entry.percentile
                )));
            }
            let limit_ms = entry
                .limit_ms
                .millis()
                .map_err(|e| invalid(format!("limit_ms: {e}")))?
                .as_ms_f64();
            budgets.push(Budget {
                metric: entry.metric,
                percentile: entry.percentile,
                limit_ms,
                min_samples: entry.min_samples,
            });
        }
        Ok(BudgetSet { budgets })
    }

    /// Sets the limit of every p95 budget on `metric`, adding one when there is none (this is what
    /// `--arming-threshold` / `--resolution-threshold` do).
    pub fn set_p95_limit(&mut self, metric: Metric, limit_ms: f64) {
        let mut found = false;
        for b in self
            .budgets
            .iter_mut()
            .filter(|b| b.metric == metric && b.percentile == 95.0)
        {
            b.limit_ms = limit_ms;
            found = true;
        }
        if !found {
            self.budgets.push(Budget {
                metric,
                percentile: 95.0,
                limit_ms,
                min_samples: 1,
            });
        }
    }

    /// The p95 limit for `metric`, if a budget sets one.
    pub fn p95_limit(&self, metric: Metric) -> Option<f64> {
        self.budgets
            .iter()
            .find(|b| b.metric == metric && b.percentile == 95.0)
            .map(|b| b.limit_ms)
    }
}

/// Outcome of one budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetStatus {
    /// At or under the limit, with at least `min_samples` samples.
    Pass,
    /// Strictly above the limit.
    Breach,
    /// Fewer samples than `min_samples`.
    InsufficientData,
}

impl BudgetStatus {
    /// Name as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetStatus::Pass => "pass",
            BudgetStatus::Breach => "breach",
            BudgetStatus::InsufficientData => "insufficient_data",
        }
    }
}

/// A budget checked against samples: `{metric, percentile, budget, value, samples, status}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BudgetResult {
    /// What was measured.
    pub metric: Metric,
    /// Which percentile was checked (`95` for p95), as the budget gave it.
    pub percentile: crate::num::Num,
    /// The limit, ms.
    pub budget: crate::num::Num,
    /// The measured percentile, ms; `null` without samples.
    pub value: Option<crate::num::Num>,
    /// Number of samples.
    pub samples: u64,
    /// `pass`, `breach` or `insufficient_data`; only `breach` fails the run (exit 1).
    pub status: BudgetStatus,
}

/// Checks a budget against ascending samples.
pub fn evaluate(budget: &Budget, sorted: &[f64]) -> BudgetResult {
    judge(
        budget,
        nearest_rank(sorted, budget.percentile),
        sorted.len() as u64,
    )
}

/// The budget's verdict on its percentile `value` over `samples` samples, however they were
/// counted (sorted samples, or counts per distinct value in the live windows).
pub(crate) fn judge(budget: &Budget, value: Option<f64>, samples: u64) -> BudgetResult {
    let status = match value {
        Some(_) if samples < budget.min_samples.max(1) => BudgetStatus::InsufficientData,
        None => BudgetStatus::InsufficientData,
        Some(v) if v > budget.limit_ms => BudgetStatus::Breach,
        Some(_) => BudgetStatus::Pass,
    };
    BudgetResult {
        metric: budget.metric,
        percentile: crate::num::Num(budget.percentile),
        budget: crate::num::Num(budget.limit_ms),
        value: value.map(crate::num::Num),
        samples,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arming(limit: f64, min_samples: u64) -> Budget {
        Budget {
            metric: Metric::Arming,
            percentile: 95.0,
            limit_ms: limit,
            min_samples,
        }
    }

    #[test]
    fn breach_is_strictly_above() {
        let s = [100.0, 8000.0];
        assert_eq!(evaluate(&arming(8000.0, 1), &s).status, BudgetStatus::Pass);
        assert_eq!(
            evaluate(&arming(7999.0, 1), &s).status,
            BudgetStatus::Breach
        );
        assert_eq!(
            evaluate(&arming(7999.999, 1), &[8000.0]).status,
            BudgetStatus::Breach
        );
    }

    #[test]
    fn too_few_samples_is_insufficient_data() {
        assert_eq!(
            evaluate(&arming(1.0, 1), &[]).status,
            BudgetStatus::InsufficientData
        );
        assert_eq!(
            evaluate(&arming(1.0, 3), &[5.0, 6.0]).status,
            BudgetStatus::InsufficientData
        );
        assert_eq!(
            evaluate(&arming(1.0, 2), &[5.0, 6.0]).status,
            BudgetStatus::Breach
        );
        assert_eq!(evaluate(&arming(1.0, 0), &[]).value, None);
    }

    #[test]
    fn reads_budget_files() {
        let set = BudgetSet::from_toml(
            "[[budget]]\nmetric = \"arming\"\npercentile = 99\nlimit_ms = \"9.5s\"\nmin_samples = 20\n\n[[budget]]\nmetric = \"expiredArming\"\nlimit_ms = 12000\n",
        )
        .unwrap();
        assert_eq!(
            set.budgets,
            [
                Budget {
                    metric: Metric::Arming,
                    percentile: 99.0,
                    limit_ms: 9500.0,
                    min_samples: 20
                },
                Budget {
                    metric: Metric::ExpiredArming,
                    percentile: 95.0,
                    limit_ms: 12000.0,
                    min_samples: 1
                },
            ]
        );
    }

    #[test]
    fn budget_file_errors_say_where_and_what() {
        let err = BudgetSet::from_toml("[[budget]]\nmetric = \"latency\"\nlimit_ms = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `latency`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err =
            BudgetSet::from_toml("[[budget]]\nmetric = \"arming\"\nlimit_ms = 1\nlimit = 3\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("unknown field `limit`"), "{err}");
        let err =
            BudgetSet::from_toml("[[budget]]\nmetric = \"arming\"\npercentile = 0\nlimit_ms = 1\n")
                .unwrap_err()
                .to_string();
        assert_eq!(
            err,
            "budget #1 (arming): percentile must be above 0 and at most 100, got 0"
        );
        let err =
            BudgetSet::from_toml("[[budget]]\nmetric = \"resolution\"\nlimit_ms = \"fast\"\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.starts_with("budget #1 (resolution): limit_ms: `fast` is not a duration"),
            "{err}"
        );
        assert!(matches!(
            BudgetSet::from_toml(""),
            Err(BudgetFileError::Empty)
        ));
    }

    #[test]
    fn loading_names_the_file_and_keeps_the_cause() {
        let path = Path::new("budgets.toml");
        assert_eq!(
            BudgetSet::load(None, |_| unreachable!()).unwrap(),
            BudgetSet::default()
        );
        let set = BudgetSet::load(Some(path), |_| {
            Ok("[[budget]]\nmetric = \"arming\"\nlimit_ms = \"8s\"\n".into())
        })
        .unwrap();
        assert_eq!(set.p95_limit(Metric::Arming), Some(8000.0));
        let err = BudgetSet::load(Some(path), |_| {
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"))
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read the budgets file `budgets.toml`"
        );
        assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "gone");
        let err = BudgetSet::load(Some(path), |_| Ok(String::new())).unwrap_err();
        assert_eq!(err.to_string(), "invalid budgets file `budgets.toml`");
        assert!(matches!(
            err,
            BudgetLoadError::Invalid {
                source: BudgetFileError::Empty,
                ..
            }
        ));
    }

    #[test]
    fn thresholds_override_or_add_p95_budgets() {
        let mut set = BudgetSet::default();
        set.set_p95_limit(Metric::Arming, 5000.0);
        set.set_p95_limit(Metric::ExpiredArming, 9000.0);
        assert_eq!(set.p95_limit(Metric::Arming), Some(5000.0));
        assert_eq!(set.p95_limit(Metric::Resolution), Some(800.0));
        assert_eq!(set.p95_limit(Metric::ExpiredArming), Some(9000.0));
        assert_eq!(set.budgets.len(), 3);
    }
}
