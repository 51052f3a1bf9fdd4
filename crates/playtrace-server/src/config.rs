//! The collector's configuration: a TOML file (every key documented in `docs/CONFIG.md`, every
//! key optional), overridden by `--listen`, `--data-dir` and `--config` on the command line.
//!
//! Durations are `<number><unit>` (`ms|s|m|h|d`) or a bare number of milliseconds; sizes are
//! bytes with an optional unit (`64KiB`, `10MiB`, `10GB`). Errors name the key and the value.

use crate::auth::{Scope, Token, Tokens};
use playtrace_core::alert::{AlertsSpec, BudgetAlerting, RuleSet};
use playtrace_core::budget::{BudgetEntry, BudgetSet};
use playtrace_core::duration::parse_duration_ms;
use playtrace_core::size::parse_size_bytes;
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

/// A duration or size written as text (`"5m"`) or a bare number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Amount {
    Number(f64),
    Text(String),
}

impl Amount {
    fn duration_ms(&self, key: &str) -> Result<f64, ConfigError> {
        match self {
            Amount::Number(n) if n.is_finite() && *n >= 0.0 => Ok(*n),
            Amount::Number(n) => Err(invalid(key, format!("{n} is not a duration"))),
            Amount::Text(t) => parse_duration_ms(t).map_err(|e| invalid(key, e.to_string())),
        }
    }

    fn bytes(&self, key: &str) -> Result<u64, ConfigError> {
        match self {
            Amount::Number(n) if n.is_finite() && *n >= 0.0 => Ok(*n as u64),
            Amount::Number(n) => Err(invalid(key, format!("{n} is not a size"))),
            Amount::Text(t) => parse_size_bytes(t).map_err(|e| invalid(key, e.to_string())),
        }
    }
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    cors_origins: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamFile {
    keep_alive: Option<Amount>,
    buffer: Option<usize>,
    send_timeout: Option<Amount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    max_body: Option<Amount>,
    max_line: Option<Amount>,
    queue_requests: Option<usize>,
    queue_bytes: Option<Amount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    max_age: Option<Amount>,
    max_bytes: Option<Amount>,
    interval: Option<Amount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContestsFile {
    unresolved_after: Option<Amount>,
    forget_after: Option<Amount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetsFile {
    windows: Option<Vec<Amount>>,
    evaluate_every: Option<Amount>,
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

/// Everything `playtrace serve` needs, with defaults filled in.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen (default `127.0.0.1:7070`).
    pub listen: SocketAddr,
    /// Data directory (default `./playtrace-data`).
    pub data_dir: PathBuf,
    /// Largest request body, after decompression (default 10 MiB).
    pub max_body: u64,
    /// Largest line (default 1 MiB).
    pub max_line: u64,
    /// Requests waiting for a commit at most (default 1024).
    pub queue_requests: usize,
    /// Bytes waiting for a commit at most (default 64 MiB).
    pub queue_bytes: u64,
    /// Events older than this are removed (default 7 days), ms.
    pub retention_max_age_ms: f64,
    /// The store is kept under this size (default 10 GB).
    pub retention_max_bytes: u64,
    /// How often retention runs (default 30 s).
    pub retention_interval_ms: f64,
    /// Launched and not closed within this → `unresolved` (default 5m), ms.
    pub unresolved_after_ms: f64,
    /// Open contests silent this long leave memory (default 1h), ms.
    pub forget_after_ms: f64,
    /// Rolling budget windows (default 5m and 1h), ms.
    pub windows_ms: Vec<f64>,
    /// Budgets checked over each window (default arming p95 ≤ 8 s, resolution p95 ≤ 800 ms).
    pub budgets: BudgetSet,
    /// Tokens; none means open access, allowed on loopback only.
    pub tokens: Tokens,
    /// Alert rules (defaults plus the config's own).
    pub rules: RuleSet,
    /// When budget breaches become alerts.
    pub budget_alerting: BudgetAlerting,
    /// How often budgets are checked for alerts and status changes (default 1 s), ms.
    pub budget_interval_ms: f64,
    /// Keep-alive comment interval on streams (default 15 s), ms.
    pub keep_alive_ms: f64,
    /// Commits a stream subscriber may fall behind before it is disconnected (default 1024).
    pub stream_buffer: usize,
    /// A write to a client that stays blocked this long closes the connection (default 10 s).
    pub send_timeout_ms: f64,
    /// Origins browsers may call from (CORS); none by default.
    pub cors_origins: Vec<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            data_dir: PathBuf::from("./playtrace-data"),
            max_body: 10 << 20,
            max_line: 1 << 20,
            queue_requests: 1024,
            queue_bytes: 64 << 20,
            retention_max_age_ms: 7.0 * 86_400_000.0,
            retention_max_bytes: 10_000_000_000,
            retention_interval_ms: 30_000.0,
            unresolved_after_ms: 5.0 * 60_000.0,
            forget_after_ms: 60.0 * 60_000.0,
            windows_ms: vec![5.0 * 60_000.0, 60.0 * 60_000.0],
            budgets: BudgetSet::default(),
            tokens: Tokens::default(),
            rules: RuleSet::from_spec(AlertsSpec::default()).unwrap_or_default(),
            budget_alerting: BudgetAlerting {
                enabled: true,
                for_ms: 60_000.0,
                keep_firing_for_ms: 300_000.0,
                group_by: Vec::new(),
                severity: playtrace_core::alert::Severity::High,
            },
            budget_interval_ms: 1_000.0,
            keep_alive_ms: 15_000.0,
            stream_buffer: 1024,
            send_timeout_ms: 10_000.0,
            cors_origins: Vec::new(),
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
        Self::from_toml(&text, &path.display().to_string())
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
        let l = &file.limits;
        if let Some(v) = &l.max_body {
            c.max_body = positive(v.bytes("limits.max_body")?, "limits.max_body")?;
        }
        if let Some(v) = &l.max_line {
            c.max_line = positive(v.bytes("limits.max_line")?, "limits.max_line")?;
        }
        if let Some(v) = l.queue_requests {
            c.queue_requests = positive(v as u64, "limits.queue_requests")? as usize;
        }
        if let Some(v) = &l.queue_bytes {
            c.queue_bytes = positive(v.bytes("limits.queue_bytes")?, "limits.queue_bytes")?;
        }
        let r = &file.retention;
        if let Some(v) = &r.max_age {
            c.retention_max_age_ms = v.duration_ms("retention.max_age")?;
        }
        if let Some(v) = &r.max_bytes {
            c.retention_max_bytes =
                positive(v.bytes("retention.max_bytes")?, "retention.max_bytes")?;
        }
        if let Some(v) = &r.interval {
            c.retention_interval_ms = v.duration_ms("retention.interval")?.max(10.0);
        }
        if let Some(v) = &file.contests.unresolved_after {
            c.unresolved_after_ms = v.duration_ms("contests.unresolved_after")?;
        }
        if let Some(v) = &file.contests.forget_after {
            c.forget_after_ms = v.duration_ms("contests.forget_after")?;
        }
        if let Some(windows) = &file.budgets.windows {
            if windows.is_empty() {
                return Err(invalid(
                    "budgets.windows",
                    "needs at least one window, e.g. [\"5m\", \"1h\"]",
                ));
            }
            c.windows_ms = windows
                .iter()
                .map(|w| {
                    let ms = w.duration_ms("budgets.windows")?;
                    if ms <= 0.0 {
                        return Err(invalid("budgets.windows", "a window must be longer than 0"));
                    }
                    Ok(ms)
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = &file.budgets.evaluate_every {
            c.budget_interval_ms = v.duration_ms("budgets.evaluate_every")?.max(50.0);
        }
        if !file.budget.is_empty() {
            c.budgets = BudgetSet::from_entries(file.budget)
                .map_err(|e| invalid("budget", e.to_string()))?;
        }
        let mut tokens = Vec::new();
        for (i, t) in file.tokens.into_iter().enumerate() {
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
            tokens.push(Token {
                name: t.name,
                secret,
                scopes,
                game: t.game,
            });
        }
        c.tokens = Tokens::new(tokens);
        c.budget_alerting = file
            .alerts
            .budget_alerting()
            .map_err(|e| invalid("alerts", e.to_string()))?;
        c.rules = RuleSet::from_spec(file.alerts).map_err(|e| invalid("alerts", e.to_string()))?;
        if let Some(v) = &file.stream.keep_alive {
            c.keep_alive_ms = v.duration_ms("stream.keep_alive")?.max(100.0);
        }
        if let Some(origins) = file.http.cors_origins {
            c.cors_origins = origins;
        }
        if let Some(v) = &file.stream.send_timeout {
            c.send_timeout_ms = v.duration_ms("stream.send_timeout")?.max(10.0);
        }
        if let Some(n) = file.stream.buffer {
            c.stream_buffer = positive(n as u64, "stream.buffer")? as usize;
        }
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

fn positive(v: u64, key: &str) -> Result<u64, ConfigError> {
    if v == 0 {
        return Err(invalid(key, "must be more than 0"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_defaults() {
        let c = ServeConfig::from_toml("", "test").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7070");
        assert_eq!(c.windows_ms, vec![300_000.0, 3_600_000.0]);
        assert_eq!(c.max_body, 10 << 20);
        assert!(c.tokens.is_empty());
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
        assert_eq!((c.max_body, c.max_line), (1 << 20, 4096));
        assert_eq!(c.retention_max_bytes, 1_000_000_000);
        assert_eq!(c.unresolved_after_ms, 90_000.0);
        assert_eq!(c.windows_ms, vec![60_000.0, 600_000.0]);
        assert_eq!(c.budgets.budgets.len(), 1);
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
        assert_eq!(
            (c.max_body, c.max_line),
            (defaults.max_body, defaults.max_line)
        );
        assert_eq!(c.queue_bytes, defaults.queue_bytes);
        assert_eq!(c.retention_max_age_ms, defaults.retention_max_age_ms);
        assert_eq!(c.retention_max_bytes, defaults.retention_max_bytes);
        assert_eq!(c.windows_ms, defaults.windows_ms);
        assert_eq!(c.unresolved_after_ms, defaults.unresolved_after_ms);
        assert_eq!(c.budgets, defaults.budgets);
        assert!(!c.tokens.is_empty());
    }

    #[test]
    fn open_access_beyond_loopback_is_refused() {
        let c = ServeConfig::from_toml("listen = \"0.0.0.0:7070\"", "t").unwrap();
        let err = c.check_exposure().unwrap_err().to_string();
        assert!(err.contains("without tokens"), "{err}");
    }
}
