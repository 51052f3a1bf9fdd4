//! The collector's configuration: a TOML file (every key documented in `docs/CONFIG.md`, every
//! key optional), overridden by `--listen`, `--data-dir` and `--config` on the command line.
//!
//! Each section is one options struct with one `Default` (the documented defaults, written
//! nowhere else); the file's values override it key by key. Durations and sizes are read by
//! `playtrace-core`'s one parser ([`Millis`], [`Bytes`]: `<number><unit>`, a bare number is
//! milliseconds or bytes). Errors name the key and the value.

use crate::auth::{Scope, Token, Tokens};
use playtrace_core::alert::{AlertsSpec, BudgetAlerting, RuleSet};
use playtrace_core::budget::{BudgetEntry, BudgetSet};
use playtrace_core::contest::LiveOptions;
use playtrace_core::summary::GroupDim;
use playtrace_core::units::{Bytes, Millis, Written};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

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

/// `[limits]`: what one request, one line and the commit queue may hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest request body, after decompression.
    pub max_body: Bytes,
    /// Largest line (or JSON array element).
    pub max_line: Bytes,
    /// Requests waiting for a commit at most.
    pub queue_requests: usize,
    /// Bytes waiting for a commit at most.
    pub queue_bytes: Bytes,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: Bytes::saturating(10 << 20),
            max_line: Bytes::saturating(1 << 20),
            queue_requests: 1024,
            queue_bytes: Bytes::saturating(64 << 20),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    max_body: Option<Written>,
    max_line: Option<Written>,
    queue_requests: Option<usize>,
    queue_bytes: Option<Written>,
}

impl LimitsFile {
    fn over(&self, mut l: Limits) -> Result<Limits, ConfigError> {
        if let Some(v) = &self.max_body {
            l.max_body = bytes(v, "limits.max_body")?;
        }
        if let Some(v) = &self.max_line {
            l.max_line = bytes(v, "limits.max_line")?;
        }
        if let Some(v) = self.queue_requests {
            l.queue_requests = positive(v, "limits.queue_requests")?;
        }
        if let Some(v) = &self.queue_bytes {
            l.queue_bytes = bytes(v, "limits.queue_bytes")?;
        }
        Ok(l)
    }
}

/// `[retention]`: what the store keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// Events older than this are removed.
    pub max_age: Millis,
    /// The store is kept under this size.
    pub max_bytes: Bytes,
    /// How often retention runs (at least 10 ms).
    pub interval: Millis,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Millis::from_secs_saturating(7 * 86_400),
            max_bytes: Bytes::saturating(10_000_000_000),
            interval: Millis::from_secs_saturating(30),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    max_age: Option<Written>,
    max_bytes: Option<Written>,
    interval: Option<Written>,
}

impl RetentionFile {
    fn over(&self, mut r: Retention) -> Result<Retention, ConfigError> {
        if let Some(v) = &self.max_age {
            r.max_age = millis(v, "retention.max_age")?;
        }
        if let Some(v) = &self.max_bytes {
            r.max_bytes = bytes(v, "retention.max_bytes")?;
        }
        if let Some(v) = &self.interval {
            r.interval = millis(v, "retention.interval")?.max(Millis::from_ms_saturating(10));
        }
        Ok(r)
    }
}

/// `[contests]` and `[budgets] windows` make the live correlation's options (defaults:
/// [`LiveOptions::default`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContestsFile {
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
struct BudgetsFile {
    windows: Option<Vec<Written>>,
    evaluate_every: Option<Written>,
}

/// `[stream]`: `GET /v1/stream` and slow clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// Keep-alive comment interval (at least 100 ms).
    pub keep_alive: Millis,
    /// Commits a subscriber may fall behind before it is disconnected.
    pub buffer: usize,
    /// A write to a client that stays blocked this long closes the connection (at least 10 ms).
    pub send_timeout: Millis,
    /// Bytes of committed messages one subscriber may have waiting (not yet written to its
    /// socket) before it is disconnected; it replays from the store when it reconnects.
    pub max_pending: Bytes,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            keep_alive: Millis::from_secs_saturating(15),
            buffer: 1024,
            send_timeout: Millis::from_secs_saturating(10),
            max_pending: Bytes::saturating(4 << 20),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamFile {
    keep_alive: Option<Written>,
    buffer: Option<usize>,
    send_timeout: Option<Written>,
    max_pending: Option<Written>,
}

impl StreamFile {
    fn over(&self, mut s: Stream) -> Result<Stream, ConfigError> {
        if let Some(v) = &self.keep_alive {
            s.keep_alive = millis(v, "stream.keep_alive")?.max(Millis::from_ms_saturating(100));
        }
        if let Some(v) = &self.send_timeout {
            s.send_timeout = millis(v, "stream.send_timeout")?.max(Millis::from_ms_saturating(10));
        }
        if let Some(n) = self.buffer {
            s.buffer = positive(n, "stream.buffer")?;
        }
        if let Some(v) = &self.max_pending {
            s.max_pending = bytes(v, "stream.max_pending")?;
        }
        Ok(s)
    }
}

/// `[http]`: browsers, and what one connection may hold (a client that connects and sends
/// nothing, or half a request, must not keep a file descriptor or the shutdown forever).
#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    /// Origins browsers may call from (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// A connection must send a whole request head within this (also the keep-alive idle time).
    pub header_timeout: Millis,
    /// A request body that sends nothing for this long is answered 408 and closed.
    pub body_idle_timeout: Millis,
    /// Open connections at most; 0 sizes it from the file-descriptor limit.
    pub max_connections: usize,
    /// After SIGTERM, in-flight requests get this long before they are abandoned.
    pub shutdown_deadline: Millis,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            cors_origins: Vec::new(),
            header_timeout: Millis::from_secs_saturating(5),
            body_idle_timeout: Millis::from_secs_saturating(10),
            max_connections: 0,
            shutdown_deadline: Millis::from_secs_saturating(10),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    cors_origins: Option<Vec<String>>,
    header_timeout: Option<Written>,
    body_idle_timeout: Option<Written>,
    max_connections: Option<usize>,
    shutdown_deadline: Option<Written>,
}

impl HttpFile {
    fn over(&self, mut h: Http) -> Result<Http, ConfigError> {
        let at_least = |v: &Written, key: &str| -> Result<Millis, ConfigError> {
            Ok(millis(v, key)?.max(Millis::from_ms_saturating(10)))
        };
        if let Some(origins) = &self.cors_origins {
            h.cors_origins = origins.clone();
        }
        if let Some(v) = &self.header_timeout {
            h.header_timeout = at_least(v, "http.header_timeout")?;
        }
        if let Some(v) = &self.body_idle_timeout {
            h.body_idle_timeout = at_least(v, "http.body_idle_timeout")?;
        }
        if let Some(n) = self.max_connections {
            h.max_connections = n;
        }
        if let Some(v) = &self.shutdown_deadline {
            h.shutdown_deadline = millis(v, "http.shutdown_deadline")?;
        }
        Ok(h)
    }
}

/// `[otlp]`: how OTLP/HTTP log records map to events (docs/API.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Otlp {
    /// The resource attribute naming the game (default `service.name`).
    pub game_attribute: String,
}

impl Default for Otlp {
    fn default() -> Self {
        Otlp {
            game_attribute: "service.name".into(),
        }
    }
}

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
struct MetricsFile {
    budget_group_by: Option<Vec<String>>,
    max_group_values: Option<usize>,
}

impl MetricsFile {
    fn over(self, mut m: MetricsConfig) -> Result<MetricsConfig, ConfigError> {
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpFile {
    game_attribute: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    name: String,
    secret: Option<String>,
    secret_env: Option<String>,
    scopes: Vec<String>,
    game: Option<String>,
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
}

impl Default for ServeConfig {
    fn default() -> Self {
        let alerts = AlertsSpec::default();
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            data_dir: PathBuf::from("./playtrace-data"),
            limits: Limits::default(),
            retention: Retention::default(),
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

fn live_options(
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

fn token(i: usize, t: TokenFile) -> Result<Token, ConfigError> {
    let key = format!("tokens[{i}] ({})", t.name);
    let secret = match (t.secret, t.secret_env) {
        (Some(s), None) => s,
        (None, Some(var)) => std::env::var(&var).map_err(|_| {
            invalid(
                &key,
                format!("secret_env names ${var}, which is not set (or not UTF-8)"),
            )
        })?,
        _ => return Err(invalid(&key, "set exactly one of `secret` or `secret_env`")),
    };
    if secret.len() < 8 {
        return Err(invalid(
            &key,
            "the secret is shorter than 8 characters; use a long random string",
        ));
    }
    let scopes = t
        .scopes
        .iter()
        .map(|s| {
            Scope::parse(s).ok_or_else(|| {
                invalid(
                    &key,
                    format!("unknown scope `{s}`; scopes are ingest, read and admin"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if scopes.is_empty() {
        return Err(invalid(&key, "give the token at least one scope"));
    }
    if t.game.as_deref().is_some_and(str::is_empty) {
        return Err(invalid(
            &key,
            "`game` is empty; name the game or leave it out",
        ));
    }
    Ok(Token {
        name: t.name,
        secret,
        scopes,
        game: t.game,
    })
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
        c.retention = file.retention.over(c.retention)?;
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
            .budget_alerting()
            .map_err(|e| invalid("alerts", e.to_string()))?;
        c.alerts_resolve_after = file
            .alerts
            .resolve_after()
            .map_err(|e| invalid("alerts", e.to_string()))?;
        c.rules = RuleSet::from_spec(file.alerts).map_err(|e| invalid("alerts", e.to_string()))?;
        c.stream = file.stream.over(c.stream)?;
        c.http = file.http.over(c.http)?;
        if let Some(attribute) = file.otlp.game_attribute.filter(|a| !a.trim().is_empty()) {
            c.otlp.game_attribute = attribute;
        }
        c.metrics = file.metrics.over(c.metrics)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_defaults() {
        let c = ServeConfig::from_toml("", "test").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7070");
        assert_eq!(c.live.windows_ms, vec![300_000.0, 3_600_000.0]);
        assert_eq!(c.limits.max_body.as_u64(), 10 << 20);
        assert!(c.tokens.is_empty());
    }

    #[test]
    fn otlp_and_metrics_sections_read_and_check_their_dimensions() {
        let c = ServeConfig::from_toml("", "test").unwrap();
        assert_eq!(c.otlp.game_attribute, "service.name");
        assert_eq!(c.metrics, MetricsConfig::default());
        let c = ServeConfig::from_toml(
            "[otlp]\ngame_attribute = \"game.id\"\n[metrics]\nbudget_group_by = [\"hub\", \"type\"]\nmax_group_values = 5\n",
            "test",
        )
        .unwrap();
        assert_eq!(c.otlp.game_attribute, "game.id");
        assert_eq!(c.metrics.budget_group_by, [GroupDim::Hub, GroupDim::Type]);
        assert_eq!(c.metrics.max_group_values, 5);
        let err = ServeConfig::from_toml("[metrics]\nbudget_group_by = [\"planet\"]\n", "test")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("metrics.budget_group_by") && err.contains("planet"),
            "{err}"
        );
    }

    #[test]
    fn every_section_reads() {
        let c = ServeConfig::from_toml(
            r#"
listen = "0.0.0.0:9000"
data_dir = "/tmp/pt"
[limits]
max_body = "1MiB"
max_line = 4096
[retention]
max_age = "1d"
max_bytes = "1GB"
interval = "5s"
[contests]
unresolved_after = "90s"
[budgets]
windows = ["1m", 600000]
[[budget]]
metric = "resolution"
percentile = 99
limit_ms = "1s"
[[tokens]]
name = "ci"
secret = "0123456789"
scopes = ["ingest", "read"]
"#,
            "test",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(
            (c.limits.max_body.as_u64(), c.limits.max_line.as_u64()),
            (1 << 20, 4096)
        );
        assert_eq!(c.retention.max_bytes.as_u64(), 1_000_000_000);
        assert_eq!(c.live.unresolved_after_ms, 90_000.0);
        assert_eq!(c.live.windows_ms, vec![60_000.0, 600_000.0]);
        assert_eq!(c.budgets.set.budgets.len(), 1);
        assert!(c.check_exposure().is_ok());
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                "[retention]\nmax_age = \"7 fortnights\"",
                "retention.max_age",
            ),
            ("[limits]\nmax_body = \"lots\"", "limits.max_body"),
            ("listen = \"nowhere\"", "listen"),
            (
                "[[tokens]]\nname = \"x\"\nsecret = \"0123456789\"\nscopes = [\"write\"]",
                "unknown scope `write`",
            ),
            ("[limits]\nmax_bodyy = 1", "unknown field `max_bodyy`"),
        ];
        for (text, want) in cases {
            let err = ServeConfig::from_toml(text, "cfg.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err:?} should mention {want:?}");
        }
    }

    #[test]
    fn the_documented_example_is_valid() {
        let doc = include_str!("../../../docs/CONFIG.md");
        let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + doc[start..].find("```").unwrap();
        std::env::set_var("PLAYTRACE_GAME_TOKEN", "a-long-game-secret");
        let c = ServeConfig::from_toml(&doc[start..end], "docs/CONFIG.md").unwrap();
        let defaults = ServeConfig::default();
        // The example shows the defaults (tokens aside).
        assert_eq!(c.listen, defaults.listen);
        assert_eq!(c.data_dir, defaults.data_dir);
        assert_eq!(c.limits, defaults.limits);
        assert_eq!(c.retention, defaults.retention);
        assert_eq!(c.live.windows_ms, defaults.live.windows_ms);
        assert_eq!(
            c.live.unresolved_after_ms,
            defaults.live.unresolved_after_ms
        );
        assert_eq!(c.live.forget_after_ms, defaults.live.forget_after_ms);
        assert_eq!(c.budgets, defaults.budgets);
        assert_eq!(c.budget_alerting, defaults.budget_alerting);
        assert_eq!(c.stream, defaults.stream);
        assert_eq!(c.http, defaults.http);
        assert!(!c.tokens.is_empty());
    }

    #[test]
    fn open_access_beyond_loopback_is_refused() {
        let c = ServeConfig::from_toml("listen = \"0.0.0.0:7070\"", "t").unwrap();
        let err = c.check_exposure().unwrap_err().to_string();
        assert!(err.contains("without tokens"), "{err}");
    }
}
