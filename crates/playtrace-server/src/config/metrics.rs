//! `[metrics]`: which budget groups `/metrics` reports, bounded.

use super::{invalid, ConfigError};
use playtrace_core::summary::GroupDim;
use serde::Deserialize;

/// `[metrics]`: which budget groups `/metrics` reports, bounded (docs/API.md).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Group dimensions of the per-group budget gauges (default `["room"]`; `[]` for none).
    pub budget_group_by: Vec<GroupDim>,
    /// Groups per dimension and window before the rest fold into `other` (default 50).
    pub max_group_values: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            budget_group_by: vec![GroupDim::Room],
            max_group_values: 50,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricsFile {
    budget_group_by: Option<Vec<String>>,
    max_group_values: Option<usize>,
}

impl MetricsFile {
    pub(super) fn over(self, mut m: MetricsConfig) -> Result<MetricsConfig, ConfigError> {
        if let Some(dims) = self.budget_group_by {
            m.budget_group_by = dims
                .iter()
                .map(|d| {
                    GroupDim::parse(d).ok_or_else(|| {
                        invalid(
                            "metrics.budget_group_by",
                            format!("`{d}` is not a dimension; use hub, room, move or type"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            m.budget_group_by.dedup();
        }
        if let Some(n) = self.max_group_values {
            m.max_group_values = n;
        }
        Ok(m)
    }
}
