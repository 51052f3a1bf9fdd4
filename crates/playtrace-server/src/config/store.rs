//! `[store]`: how the store refuses duplicate events (restart to change).

use super::{invalid, ConfigError};
use playtrace_store::DedupMode;
use serde::Deserialize;

/// `[store]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreConfig {
    /// `dedup`: `auto` (default), `index` or `memory` (docs/CONFIG.md `[store]`).
    pub dedup: DedupMode,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoreFile {
    dedup: Option<String>,
}

impl StoreFile {
    pub(super) fn over(&self, mut c: StoreConfig) -> Result<StoreConfig, ConfigError> {
        if let Some(v) = &self.dedup {
            c.dedup = DedupMode::parse(v).ok_or_else(|| {
                invalid(
                    "store.dedup",
                    format!(
                        "{v:?} is not a duplicate check: write \"auto\" (the default: the \
                         index, moving to memory if the ids are random), \"index\" (a unique \
                         index on disk) or \"memory\" (a key table in memory, for random ids)"
                    ),
                )
            })?;
        }
        Ok(c)
    }
}
