//! `[notify]`, `[[notify.receivers]]` and `[[notify.routes]]`: who is told about alerts and how
//! (webhooks with Alertmanager's payload, or a real Alertmanager), and the outbox's retry policy.

use super::{invalid, millis, ConfigError};
use playtrace_core::alert::{Category, Severity};
use playtrace_core::units::{Millis, Written};
use serde::Deserialize;
use std::collections::BTreeMap;

/// How a receiver is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverKind {
    /// `POST url` with Alertmanager's webhook payload (version 4).
    Webhook,
    /// A real Alertmanager: `POST url/api/v2/alerts`, re-sent while firing.
    Alertmanager,
}

/// One `[[notify.receivers]]`.
#[derive(Clone, PartialEq)]
pub struct Receiver {
    /// Unique name, used by routes, metrics and the API.
    pub name: String,
    /// Webhook or Alertmanager.
    pub kind: ReceiverKind,
    /// Where to send (an Alertmanager's base URL for `alertmanager`).
    pub url: String,
    /// Extra request headers (secrets already read from the environment).
    pub headers: Vec<(String, String)>,
    /// Per request.
    pub timeout: Millis,
    /// Whether resolved alerts are notified.
    pub send_resolved: bool,
    /// At most this many alerts per notification (0: all); the rest are counted in
    /// `truncatedAlerts`.
    pub max_alerts: usize,
    /// Notifications per minute at most (0: no limit), a token bucket of `rate_burst`.
    pub rate_limit: u32,
    /// Notifications sent at once above the rate (the bucket's size).
    pub rate_burst: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// `alertmanager`: firing alerts are sent again this often (below Alertmanager's
    /// `resolve_timeout`), with `endsAt` four intervals ahead.
    pub resend_interval: Millis,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are often secrets: never in logs.
        let headers: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Receiver")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("send_resolved", &self.send_resolved)
            .field("max_alerts", &self.max_alerts)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

/// One `[[notify.routes]]`: which alerts go to a receiver, and how they are grouped.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The receiver's name.
    pub receiver: String,
    /// Only this category.
    pub category: Option<Category>,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// Only this rule.
    pub rule: Option<String>,
    /// Only this game.
    pub game: Option<String>,
    /// Only this environment.
    pub env: Option<String>,
    /// Labels whose values make a group (`...`: all labels; none: one group per route).
    pub group_by: Vec<String>,
    /// A new group waits this long for more alerts before its first notification.
    pub group_wait: Millis,
    /// Changes to a group that notified wait this long after that notification.
    pub group_interval: Millis,
    /// Alerts still firing are notified again after this long.
    pub repeat_interval: Millis,
    /// Also try the routes after this one when it matched.
    pub continue_matching: bool,
}

/// `[notify]` with its receivers and routes.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    /// Where people reach this collector (`generatorURL` links and `externalURL`); default
    /// `http://` + the listen address.
    pub external_url: Option<String>,
    /// Attempts before a notification goes to the dead list.
    pub max_attempts: u32,
    /// Age after which a notification that still fails goes to the dead list.
    pub max_age: Millis,
    /// First retry delay; doubled per attempt (with jitter) up to `max_backoff`.
    pub backoff: Millis,
    /// Longest wait between attempts (a longer `Retry-After` is cut to this).
    pub max_backoff: Millis,
    /// Receivers.
    pub receivers: Vec<Receiver>,
    /// Routes, tried in order; with none, every receiver gets every alert.
    pub routes: Vec<Route>,
}

impl Default for Notify {
    fn default() -> Self {
        Notify {
            external_url: None,
            max_attempts: 10,
            max_age: Millis::from_secs_saturating(24 * 3600),
            backoff: Millis::from_secs_saturating(1),
            max_backoff: Millis::from_secs_saturating(300),
            receivers: Vec::new(),
            routes: Vec::new(),
        }
    }
}

/// The labels a route may group by.
pub(crate) const LABELS: &[&str] = &[
    "alertname",
    "category",
    "severity",
    "game",
    "env",
    "session",
    "hub",
    "room",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotifyFile {
    external_url: Option<String>,
    max_attempts: Option<u32>,
    max_age: Option<Written>,
    backoff: Option<Written>,
    max_backoff: Option<Written>,
    #[serde(default)]
    receivers: Vec<ReceiverFile>,
    #[serde(default)]
    routes: Vec<RouteFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiverFile {
    name: String,
    kind: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    timeout: Option<Written>,
    send_resolved: Option<bool>,
    max_alerts: Option<usize>,
    rate_limit: Option<u32>,
    rate_burst: Option<u32>,
    concurrency: Option<usize>,
    resend_interval: Option<Written>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    receiver: String,
    category: Option<String>,
    min_severity: Option<String>,
    rule: Option<String>,
    game: Option<String>,
    env: Option<String>,
    #[serde(default)]
    group_by: Vec<String>,
    group_wait: Option<Written>,
    group_interval: Option<Written>,
    repeat_interval: Option<Written>,
    #[serde(default, rename = "continue")]
    continue_matching: bool,
}

fn http_url(key: &str, url: &str) -> Result<String, ConfigError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() => Ok(url.trim_end_matches('/').to_string()),
        _ => Err(invalid(
            key,
            format!("`{url}` is not an http:// or https:// URL"),
        )),
    }
}

fn receiver(i: usize, r: ReceiverFile) -> Result<Receiver, ConfigError> {
    let key = format!("notify.receivers[{i}]");
    if r.name.trim().is_empty() {
        return Err(invalid(&key, "`name` is empty; give the receiver a name"));
    }
    let key = format!("notify.receivers[{i}] ({})", r.name);
    let kind = match r.kind.as_str() {
        "webhook" => ReceiverKind::Webhook,
        "alertmanager" => ReceiverKind::Alertmanager,
        other => {
            return Err(invalid(
                &format!("{key}.kind"),
                format!("`{other}` is not a receiver kind; use webhook or alertmanager"),
            ))
        }
    };
    let url = http_url(&format!("{key}.url"), &r.url)?;
    let mut headers = Vec::new();
    for (name, value) in r.headers {
        let (name, value) = match name.strip_suffix("_env") {
            Some(header) => {
                let secret = std::env::var(&value).map_err(|_| {
                    invalid(
                        &format!("{key}.headers.{name}"),
                        format!("names ${value}, which is not set (or not UTF-8)"),
                    )
                })?;
                (header.to_string(), secret)
            }
            None => (name, value),
        };
        if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || axum::http::HeaderValue::from_str(&value).is_err()
        {
            return Err(invalid(
                &format!("{key}.headers"),
                format!("`{name}` is not a valid HTTP header name, or its value is not"),
            ));
        }
        headers.push((name, value));
    }
    let ms = |v: &Option<Written>, k: &str, default: Millis| match v {
        Some(v) => millis(v, &format!("{key}.{k}")),
        None => Ok(default),
    };
    let concurrency = r.concurrency.unwrap_or(16);
    if concurrency == 0 {
        return Err(invalid(
            &format!("{key}.concurrency"),
            "must be more than 0",
        ));
    }
    Ok(Receiver {
        name: r.name,
        kind,
        url,
        headers,
        timeout: ms(&r.timeout, "timeout", Millis::from_secs_saturating(10))?
            .max(Millis::from_ms_saturating(10)),
        send_resolved: r.send_resolved.unwrap_or(true),
        max_alerts: r.max_alerts.unwrap_or(0),
        rate_limit: r.rate_limit.unwrap_or(0),
        rate_burst: r.rate_burst.unwrap_or(1).max(1),
        concurrency,
        resend_interval: ms(
            &r.resend_interval,
            "resend_interval",
            Millis::from_secs_saturating(60),
        )?
        .max(Millis::from_ms_saturating(100)),
    })
}

fn route(i: usize, r: RouteFile, receivers: &[Receiver]) -> Result<Route, ConfigError> {
    let key = format!("notify.routes[{i}]");
    if !receivers.iter().any(|x| x.name == r.receiver) {
        let names: Vec<&str> = receivers.iter().map(|x| x.name.as_str()).collect();
        return Err(invalid(
            &format!("{key}.receiver"),
            format!(
                "no receiver is named `{}`; the [[notify.receivers]] are: {}",
                r.receiver,
                names.join(", ")
            ),
        ));
    }
    let category = match &r.category {
        Some(c) => Some(Category::parse(c).ok_or_else(|| {
            invalid(
                &format!("{key}.category"),
                format!("`{c}` is not a category; use moderation, budget or pipeline"),
            )
        })?),
        None => None,
    };
    let min_severity = match &r.min_severity {
        Some(s) => Some(Severity::parse(s).ok_or_else(|| {
            invalid(
                &format!("{key}.min_severity"),
                format!("`{s}` is not a severity; use info, low, medium, high or critical"),
            )
        })?),
        None => None,
    };
    for label in &r.group_by {
        if label != "..." && !LABELS.contains(&label.as_str()) {
            return Err(invalid(
                &format!("{key}.group_by"),
                format!(
                    "`{label}` is not a label; use {} or \"...\" (every label)",
                    LABELS.join(", ")
                ),
            ));
        }
    }
    let ms = |v: &Option<Written>, k: &str, default: u64| match v {
        Some(v) => millis(v, &format!("{key}.{k}")),
        None => Ok(Millis::from_secs_saturating(default)),
    };
    Ok(Route {
        receiver: r.receiver,
        category,
        min_severity,
        rule: r.rule,
        game: r.game,
        env: r.env,
        group_by: r.group_by,
        group_wait: ms(&r.group_wait, "group_wait", 30)?,
        group_interval: ms(&r.group_interval, "group_interval", 300)?,
        repeat_interval: ms(&r.repeat_interval, "repeat_interval", 4 * 3600)?
            .max(Millis::from_ms_saturating(100)),
        continue_matching: r.continue_matching,
    })
}

impl NotifyFile {
    pub(super) fn over(self, mut n: Notify) -> Result<Notify, ConfigError> {
        if let Some(url) = &self.external_url {
            n.external_url = Some(http_url("notify.external_url", url)?);
        }
        if let Some(a) = self.max_attempts {
            if a == 0 {
                return Err(invalid("notify.max_attempts", "must be more than 0"));
            }
            n.max_attempts = a;
        }
        if let Some(v) = &self.max_age {
            n.max_age = millis(v, "notify.max_age")?;
        }
        if let Some(v) = &self.backoff {
            n.backoff = millis(v, "notify.backoff")?.max(Millis::from_ms_saturating(10));
        }
        if let Some(v) = &self.max_backoff {
            n.max_backoff = millis(v, "notify.max_backoff")?.max(n.backoff);
        }
        n.receivers = self
            .receivers
            .into_iter()
            .enumerate()
            .map(|(i, r)| receiver(i, r))
            .collect::<Result<_, _>>()?;
        for (i, r) in n.receivers.iter().enumerate() {
            if n.receivers[..i].iter().any(|x| x.name == r.name) {
                return Err(invalid(
                    &format!("notify.receivers[{i}]"),
                    format!("the name `{}` is used twice; names must be unique", r.name),
                ));
            }
        }
        n.routes = self
            .routes
            .into_iter()
            .enumerate()
            .map(|(i, r)| route(i, r, &n.receivers))
            .collect::<Result<_, _>>()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Notify, ConfigError> {
        let file: NotifyFile = toml::from_str(text).unwrap();
        file.over(Notify::default())
    }

    #[test]
    fn receivers_and_routes_with_alertmanagers_defaults() {
        std::env::set_var("PLAYTRACE_TEST_NOTIFY_SECRET", "s3cret");
        let n = parse(
            r#"
            external_url = "https://ops.example.com/"
            [[receivers]]
            name = "oncall"
            kind = "webhook"
            url = "http://127.0.0.1:9/hook"
            headers = { "X-Team" = "live", "Authorization_env" = "PLAYTRACE_TEST_NOTIFY_SECRET" }
            [[routes]]
            receiver = "oncall"
            category = "moderation"
            min_severity = "high"
            group_by = ["alertname", "game"]
            "#,
        )
        .unwrap();
        assert_eq!(n.external_url.as_deref(), Some("https://ops.example.com"));
        let r = &n.receivers[0];
        assert!(r.send_resolved);
        assert!(r
            .headers
            .contains(&("Authorization".to_string(), "s3cret".to_string())));
        assert!(
            !format!("{r:?}").contains("s3cret"),
            "secrets stay out of logs"
        );
        let route = &n.routes[0];
        assert_eq!(route.group_wait, Millis::from_secs_saturating(30));
        assert_eq!(route.group_interval, Millis::from_secs_saturating(300));
        assert_eq!(
            route.repeat_interval,
            Millis::from_secs_saturating(4 * 3600)
        );
    }

    #[test]
    fn the_documented_examples_are_valid() {
        let doc = include_str!("../../../../docs/CONFIG.md");
        std::env::set_var("ONCALL_WEBHOOK_AUTH", "Bearer a-secret");
        let section = &doc[doc.find("## Alert notifications").unwrap()..];
        let blocks: Vec<&str> = section
            .split("```toml\n")
            .skip(1)
            .take(2)
            .map(|b| &b[..b.find("```").unwrap()])
            .collect();
        assert_eq!(blocks.len(), 2);
        for text in blocks {
            let c = crate::config::ServeConfig::from_toml(text, "docs/CONFIG.md").unwrap();
            assert!(!c.notify.receivers.is_empty());
        }
    }

    #[test]
    fn mistakes_name_the_key_and_the_fix() {
        let unknown = parse("[[routes]]\nreceiver = \"nobody\"").unwrap_err();
        assert!(
            unknown.to_string().contains("notify.routes[0].receiver"),
            "{unknown}"
        );
        let kind =
            parse("[[receivers]]\nname = \"a\"\nkind = \"slack\"\nurl = \"http://x\"").unwrap_err();
        assert!(
            kind.to_string().contains("webhook or alertmanager"),
            "{kind}"
        );
        let secret = parse(
            "[[receivers]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\n\
             headers = { \"Authorization_env\" = \"PLAYTRACE_TEST_UNSET_VAR\" }",
        )
        .unwrap_err();
        assert!(
            secret.to_string().contains("PLAYTRACE_TEST_UNSET_VAR"),
            "{secret}"
        );
    }
}
