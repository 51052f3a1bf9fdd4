//! `[[dimensions]]`: attributes budgets can be grouped by besides hub, room, move and type
//! (`build` = `clientVersion`, `variant`, `platform`), each with a cap on distinct values.

use super::{invalid, ConfigError};
use playtrace_core::dims::{Dimension, Dimensions, DEFAULT_MAX_VALUES};
use serde::Deserialize;

/// One `[[dimensions]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DimensionFile {
    name: String,
    attr: String,
    max_values: Option<usize>,
}

/// Reads `[[dimensions]]`.
pub(super) fn dimensions(entries: Vec<DimensionFile>) -> Result<Dimensions, ConfigError> {
    Dimensions::new(
        entries
            .into_iter()
            .map(|d| Dimension {
                name: d.name.trim().to_string(),
                attr: d.attr.trim().to_string(),
                max_values: d.max_values.unwrap_or(DEFAULT_MAX_VALUES),
            })
            .collect(),
    )
    .map_err(|e| invalid("dimensions", e))
}

#[cfg(test)]
mod tests {
    use crate::config::ServeConfig;

    #[test]
    fn dimensions_read_and_are_usable_wherever_a_group_is_named() {
        let c = ServeConfig::from_toml(
            "[[dimensions]]\nname = \"build\"\nattr = \"clientVersion\"\n\
             [metrics]\nbudget_group_by = [\"build\"]\n\
             [alerts]\nbudget_group_by = [\"build\", \"room\"]\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.dimensions.list()[0].max_values, 1000);
        assert_eq!(c.metrics.budget_group_by[0].as_str(), "build");
        assert_eq!(c.budget_alerting.group_by.len(), 2);
        for (text, needle) in [
            (
                "[[dimensions]]\nname = \"room\"\nattr = \"x\"\n",
                "defined twice",
            ),
            ("[[dimensions]]\nname = \"b\"\nattr = \"\"\n", "attribute"),
            (
                "[[dimensions]]\nname = \"b\"\nattr = \"x\"\nmax_values = 0\n",
                "max_values",
            ),
            (
                "[metrics]\nbudget_group_by = [\"build\"]\n",
                "hub, room, move, type",
            ),
        ] {
            let err = ServeConfig::from_toml(text, "t").unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
