//! The collector's configuration: a TOML file (every key documented in `docs/CONFIG.md`, every
//! key optional), overridden by `--listen`, `--data-dir` and `--config` on the command line.
//!
//! Each section is one options struct with one `Default` (the documented defaults, written
//! nowhere else); the file's values override it key by key. Durations and sizes are read by
//! `playtrace-core`'s one parser ([`Millis`], [`Bytes`]: `<number><unit>`, a bare number is
//! milliseconds or bytes). Errors name the key and the value.

use crate::auth::Tokens;
use playtrace_core::alert::{AlertsSpec, BudgetAlerting, RuleSet};
use playtrace_core::budget::{BudgetEntry, BudgetSet};
use playtrace_core::contest::LiveOptions;
use playtrace_core::units::{Bytes, Millis, Written};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

mod cluster;
mod dimensions;
mod games;
mod http;
mod limits;
mod live;
mod mask;
mod metrics;
mod notify;
mod offline;
mod otlp;
mod plan;
mod privacy;
mod retention;
mod store;
mod stream;
#[cfg(test)]
mod tests;
mod tokens;

pub use cluster::Cluster;
pub use games::{GameLimits, Games, OverCap, SampleRule};
pub use http::Http;
pub use limits::Limits;
pub use live::Budgets;
pub use mask::Mask;
pub use metrics::MetricsConfig;
pub use notify::{Notify, Receiver, ReceiverKind, Route};
pub use offline::OfflineConfig;
pub use otlp::Otlp;
pub use plan::{PlanConfig, PlanMode, PlanOverride, UnknownEvents};
pub use privacy::{HashSecret, Privacy, RedactRule};
pub use retention::Retention;
pub use store::StoreConfig;
pub use stream::Stream;

use games::{GameFile, SampleFile};
use http::HttpFile;
use limits::LimitsFile;
use live::{live_options, BudgetsFile, ContestsFile};
pub(crate) use mask::{MaskBytes, Needs};
use metrics::MetricsFile;
use notify::NotifyFile;
use otlp::OtlpFile;
use plan::PlanFile;
use privacy::PrivacyFile;
pub(crate) use privacy::{KeyRules, SESSION_ATTR};
use retention::RetentionFile;
use store::StoreFile;
use stream::StreamFile;
use tokens::{token, TokenFile};

/// The configuration could not be used (the collector exits 2 with this message).
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not valid TOML or not the expected shape (the message has line and column).
    #[error("config file {path}: {message}")]
    Toml {
        /// The file.
        path: String,
        /// What the TOML reader said.
        message: String,
    },
    /// A value that does not make sense.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// The key, dotted (`retention.max_age`).
        key: String,
        /// What is wrong and what to write.
        message: String,
    },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

fn millis(v: &Written, key: &str) -> Result<Millis, ConfigError> {
    v.millis().map_err(|e| invalid(key, e.to_string()))
}

fn bytes(v: &Written, key: &str) -> Result<Bytes, ConfigError> {
    let b = v.bytes().map_err(|e| invalid(key, e.to_string()))?;
    if b.as_u64() == 0 {
        return Err(invalid(key, "must be more than 0"));
    }
    Ok(b)
}

fn positive(v: usize, key: &str) -> Result<usize, ConfigError> {
    if v == 0 {
        return Err(invalid(key, "must be more than 0"));
    }
    Ok(v)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    retention: RetentionFile,
    #[serde(default)]
    store: StoreFile,
    #[serde(default)]
    contests: ContestsFile,
    #[serde(default)]
    budgets: BudgetsFile,
    #[serde(default)]
    budget: Vec<BudgetEntry>,
    #[serde(default)]
    tokens: Vec<TokenFile>,
    #[serde(default)]
    alerts: AlertsSpec,
    #[serde(default)]
    stream: StreamFile,
    #[serde(default)]
    http: HttpFile,
    #[serde(default)]
    otlp: OtlpFile,
    #[serde(default)]
    metrics: MetricsFile,
    #[serde(default)]
    plan: PlanFile,
    #[serde(default)]
    notify: NotifyFile,
    #[serde(default)]
    privacy: Option<PrivacyFile>,
    #[serde(default)]
    games: Vec<GameFile>,
    #[serde(default)]
    sampling: Vec<SampleFile>,
    #[serde(default)]
    dimensions: Vec<dimensions::DimensionFile>,
    cluster: Option<cluster::ClusterFile>,
}

/// Everything `playtrace serve` needs, with defaults filled in: one field per section of the
/// file.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen (default `127.0.0.1:7070`).
    pub listen: SocketAddr,
    /// Data directory (default `./playtrace-data`).
    pub data_dir: PathBuf,
    /// `[limits]`.
    pub limits: Limits,
    /// `[retention]`.
    pub retention: Retention,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[contests]` and `[budgets] windows`: the live correlation.
    pub live: LiveOptions,
    /// `[budgets]` and `[[budget]]`.
    pub budgets: Budgets,
    /// `[[tokens]]`; none means open access, allowed on loopback only.
    pub tokens: Tokens,
    /// `[alerts]` rules (defaults plus the config's own).
    pub rules: RuleSet,
    /// `[alerts]`: when budget breaches become alerts.
    pub budget_alerting: BudgetAlerting,
    /// `alerts.resolve_after`: quiet moderation alerts resolve themselves after this.
    pub alerts_resolve_after: Millis,
    /// `[stream]`.
    pub stream: Stream,
    /// `[http]`.
    pub http: Http,
    /// The file this was read from (reloaded on SIGHUP and `POST /v1/admin/reload`).
    pub source: Option<PathBuf>,
    /// `[otlp]`.
    pub otlp: Otlp,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
    /// `[plan]`: the tracking plan checked at ingest.
    pub plan: PlanConfig,
    /// `[notify]`: alert notifications.
    pub notify: Notify,
    /// `[privacy]` and `[[privacy.rules]]`.
    pub privacy: Privacy,
    /// `[[games]]`, `[limits]`' per-game keys and `[[sampling]]`.
    pub games: Games,
    /// `[[dimensions]]`: attributes budgets can be grouped by, with their caps.
    pub dimensions: playtrace_core::dims::Dimensions,
    /// `[cluster]`: JetStream as the log (`None`: the single-node collector).
    pub cluster: Option<Cluster>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        let alerts = AlertsSpec::default();
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            data_dir: PathBuf::from("./playtrace-data"),
            limits: Limits::default(),
            retention: Retention::default(),
            store: StoreConfig::default(),
            live: LiveOptions::default(),
            budgets: Budgets::default(),
            tokens: Tokens::default(),
            // The defaults are valid by construction; an error here would be a core bug, and
            // then no alerting beats no collector.
            budget_alerting: alerts.budget_alerting().unwrap_or(BudgetAlerting {
                enabled: false,
                for_ms: 0.0,
                keep_firing_for_ms: 0.0,
                group_by: Vec::new(),
                severity: playtrace_core::alert::Severity::High,
            }),
            alerts_resolve_after: playtrace_core::alert::DEFAULT_RESOLVE_AFTER,
            rules: RuleSet::from_spec(alerts).unwrap_or_default(),
            stream: Stream::default(),
            http: Http::default(),
            source: None,
            otlp: Otlp::default(),
            metrics: MetricsConfig::default(),
            plan: PlanConfig::default(),
            notify: Notify::default(),
            privacy: Privacy::default(),
            games: Games::default(),
            dimensions: playtrace_core::dims::Dimensions::default(),
            cluster: None,
        }
    }
}

/// Parses a listen address (`127.0.0.1:7070`, `[::1]:7070`, `localhost:7070`).
pub fn parse_listen(key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }
    Err(invalid(
        key,
        format!("`{text}` is not an address; write IP:PORT, e.g. 127.0.0.1:7070 or 0.0.0.0:7070"),
    ))
}

impl ServeConfig {
    /// Reads a config file over the defaults.
    pub fn from_file(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::from_toml(&text, &path.display().to_string())?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Reads config text over the defaults; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<ServeConfig, ConfigError> {
        Self::from_toml_env(text, origin, &|var| std::env::var(var).ok())
    }

    /// [`ServeConfig::from_toml`] reading environment variables (the hash secret) with `env`.
    pub(crate) fn from_toml_env(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ServeConfig, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Toml {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut c = ServeConfig::default();
        if let Some(listen) = &file.listen {
            c.listen = parse_listen("listen", listen)?;
        }
        if let Some(dir) = file.data_dir {
            c.data_dir = dir;
        }
        c.limits = file.limits.over(c.limits)?;
        c.games = games::games(&file.limits, file.games, file.sampling)?;
        c.dimensions = dimensions::dimensions(file.dimensions)?;
        c.retention = file.retention.over(c.retention)?;
        c.store = file.store.over(c.store)?;
        c.live = live_options(&file.contests, &file.budgets, c.live)?;
        if let Some(v) = &file.budgets.evaluate_every {
            c.budgets.evaluate_every =
                millis(v, "budgets.evaluate_every")?.max(Millis::from_ms_saturating(50));
        }
        if !file.budget.is_empty() {
            c.budgets.set = BudgetSet::from_entries(file.budget)
                .map_err(|e| invalid("budget", e.to_string()))?;
        }
        c.tokens = Tokens::new(
            file.tokens
                .into_iter()
                .enumerate()
                .map(|(i, t)| token(i, t))
                .collect::<Result<_, _>>()?,
        );
        c.budget_alerting = file
            .alerts
            .budget_alerting_with(&c.dimensions)
            .map_err(|e| invalid("alerts", e.to_string()))?;
        c.alerts_resolve_after = file
            .alerts
            .resolve_after()
            .map_err(|e| invalid("alerts", e.to_string()))?;
        c.rules = RuleSet::from_spec(file.alerts).map_err(|e| invalid("alerts", e.to_string()))?;
        c.stream = file.stream.over(c.stream)?;
        c.http = file.http.over(c.http)?;
        c.otlp = file.otlp.over(c.otlp);
        c.metrics = file.metrics.over(c.metrics, &c.dimensions)?;
        c.plan = file.plan.over(c.plan)?;
        c.notify = file.notify.over(c.notify)?;
        if let Some(privacy) = file.privacy {
            c.privacy = privacy.over(c.privacy, env)?;
            c.privacy.index_subjects = true;
        }
        c.cluster = file.cluster.map(|f| f.cluster(c.listen)).transpose()?;
        Ok(c)
    }

    /// Refuses settings that would be unsafe: listening beyond loopback with no tokens.
    pub fn check_exposure(&self) -> Result<(), ConfigError> {
        if !self.listen.ip().is_loopback() && self.tokens.is_empty() {
            return Err(invalid(
                "listen",
                format!(
                    "refusing to listen on {} without tokens: anyone who can reach it could send \
                     and read telemetry. Add [[tokens]] to the config (see docs/CONFIG.md) or \
                     listen on 127.0.0.1",
                    self.listen
                ),
            ));
        }
        Ok(())
    }
}
