//! The parts of a `playtrace serve` config that mean the same offline: `[[dimensions]]` and
//! `[[budget]]`, for `playtrace monitor --config FILE`. The file is read by the collector's own
//! parser (the same `File` shape, unknown keys refused, the same errors), so a file `serve`
//! accepts gives the monitor the very dimensions and budgets the collector groups by; sections
//! that only a running collector uses (tokens and their secrets, the plan directory, privacy
//! keys, receivers) are checked for shape but not resolved, so no secret needs to be present.

use super::{dimensions, invalid, ConfigError, File};
use playtrace_core::budget::BudgetSet;
use playtrace_core::dims::Dimensions;
use std::path::Path;

/// What a collector's config file says that also applies to reading logs offline.
#[derive(Debug, Clone, Default)]
pub struct OfflineConfig {
    /// `[[dimensions]]`: the attributes budgets can be grouped by.
    pub dimensions: Dimensions,
    /// `[[budget]]`, when the file has any (else the monitor's own defaults apply).
    pub budgets: Option<BudgetSet>,
}

impl OfflineConfig {
    /// Reads the offline parts of the collector config at `path`.
    pub fn from_file(path: &Path) -> Result<OfflineConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Reads the offline parts of config text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<OfflineConfig, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Toml {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let budgets = if file.budget.is_empty() {
            None
        } else {
            Some(
                BudgetSet::from_entries(file.budget)
                    .map_err(|e| invalid("budget", e.to_string()))?,
            )
        };
        Ok(OfflineConfig {
            dimensions: dimensions::dimensions(file.dimensions)?,
            budgets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServeConfig;

    #[test]
    fn the_offline_parts_equal_the_collectors_without_resolving_secrets() {
        let text = "[[dimensions]]\nname = \"variant\"\nattr = \"variant\"\nmax_values = 7\n\
                    [[budget]]\nmetric = \"arming\"\nlimit_ms = \"2s\"\n\
                    [[tokens]]\nname = \"t\"\nsecret_env = \"PLAYTRACE_UNSET_FOR_THIS_TEST\"\n\
                    scopes = [\"read\"]\n";
        let offline = OfflineConfig::from_toml(text, "t").unwrap();
        assert_eq!(offline.dimensions.list()[0].name, "variant");
        assert_eq!(offline.dimensions.list()[0].max_values, 7);
        assert!(offline.budgets.is_some());
        // The collector refuses the file (its token's secret is missing), the monitor need not.
        assert!(ServeConfig::from_toml(text, "t").is_err());
        let served = ServeConfig::from_toml(
            "[[dimensions]]\nname = \"variant\"\nattr = \"variant\"\nmax_values = 7\n",
            "t",
        )
        .unwrap();
        assert_eq!(served.dimensions, offline.dimensions);

        let err = OfflineConfig::from_toml("[[dimensions]]\nname = \"v\"\nattrs = \"v\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("attrs"), "{err}");
    }
}
