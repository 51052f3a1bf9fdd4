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
