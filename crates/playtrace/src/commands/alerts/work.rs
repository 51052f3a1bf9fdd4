//! The verbs of `playtrace alerts` that work alerts (docs/API.md): list, watch the stream,
//! acknowledge, resolve, silence by matchers, list silences, unsilence. Each prints a line per
//! item for people, or the collector's JSON with `--format json`.

use crate::args::Format;
use crate::client::{encode, query};
use crate::client::{Collector, StreamEnd};
use crate::output::{human_duration, write_stdout, ExitStatus};
use anyhow::{bail, Context};
use clap::Subcommand;
use playtrace_core::time::parse_rfc3339_ms;
use playtrace_core::units::Millis;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// The freshness check (the same as `playtrace alerts` without a verb).
    Check,
    /// Alerts, newest change first.
    List {
        /// firing, resolved or silenced.
        #[arg(long)]
        state: Option<String>,
        /// moderation, budget or pipeline.
        #[arg(long)]
        category: Option<String>,
        /// info, low, medium, high or critical.
        #[arg(long)]
        min_severity: Option<String>,
        #[arg(long)]
        game: Option<String>,
        #[arg(long)]
        env: Option<String>,
        /// Include alerts raised by verification probes and seeded data.
        #[arg(long)]
        all: bool,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Follows the alert stream: one line per change, resuming with Last-Event-ID after a
    /// reconnect. Ends on Ctrl-C (or after --count changes).
    Watch {
        /// Only alerts at least this severe.
        #[arg(long)]
        min_severity: Option<String>,
        /// Start after this stream id (replays what came after it).
        #[arg(long)]
        after: Option<String>,
        /// Stop after this many changes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Acknowledge: someone is on it (the alert keeps firing).
    Ack {
        /// The alert id (al_…).
        id: String,
        #[arg(long, default_value = "")]
        comment: String,
        /// Who (default: the token's name).
        #[arg(long)]
        by: Option<String>,
    },
    /// Resolve by hand (refused for a budget alert whose budget is still breached).
    Resolve {
        /// The alert id (al_…).
        id: String,
    },
    /// Silence every alert matching all --match pairs, now and later, for a while.
    Silence {
        /// KEY=VALUE, repeatable: category, rule, severity, game, env, hub, room, session.
        #[arg(long = "match", value_name = "KEY=VALUE", required = true)]
        matchers: Vec<String>,
        /// How long (2h, 30m, 1d).
        #[arg(long = "for", default_value = "1h")]
        duration: Millis,
        #[arg(long, default_value = "")]
        comment: String,
        /// Who (default: the token's name).
        #[arg(long)]
        author: Option<String>,
    },
    /// Silences, newest first.
    Silences {
        /// active or expired (default: both).
        #[arg(long)]
        state: Option<String>,
    },
    /// Ends a silence now; its alerts fire again unless another silence covers them.
    Unsilence {
        /// The silence id (si_…).
        id: String,
    },
}

fn ago(iso: &Value) -> String {
    let now = playtrace_store_now();
    iso.as_str()
        .and_then(parse_rfc3339_ms)
        .map_or("?".into(), |t| human_duration((now - t).max(0.0)))
}

fn playtrace_store_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64)
}

/// One alert as a line: id, state, severity, group, reason, age, acknowledgement.
fn alert_line(a: &Value) -> String {
    let s = |k: &str| a[k].as_str().unwrap_or("-").to_string();
    let mut line = format!(
        "{}  {:<8} {:<8} {:<10} {}  {} ({} ago)",
        s("id"),
        s("state"),
        s("severity"),
        s("category"),
        a["group"]
            .as_str()
            .unwrap_or_else(|| a["rule"].as_str().unwrap_or("-")),
        s("reason"),
        ago(&a["createdAt"]),
    );
    if let Some(by) = a["acknowledgedBy"].as_str() {
        line.push_str(&format!(", acked by {by}"));
    }
    if let Some(until) = a["silencedUntil"].as_str() {
        line.push_str(&format!(", silenced until {until}"));
    }
    line
}

fn silence_line(s: &Value) -> String {
    let matchers = s["matchers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    format!(
        "{}  {:<7} {matchers}  until {} by {}{}",
        s["id"].as_str().unwrap_or("-"),
        s["state"].as_str().unwrap_or("-"),
        s["endsAt"].as_str().unwrap_or("-"),
        s["author"].as_str().unwrap_or("-"),
        s["comment"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map_or(String::new(), |c| format!(": {c}")),
    )
}

fn print(
    format: Format,
    json: &Value,
    lines: impl IntoIterator<Item = String>,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let mut out = serde_json::to_vec_pretty(json)?;
            out.push(b'\n');
            write_stdout(&out)?;
        }
        Format::Text => {
            let mut text = String::new();
            for l in lines {
                text.push_str(&l);
                text.push('\n');
            }
            write_stdout(text.as_bytes())?;
        }
    }
    Ok(())
}

fn get(c: &Collector, path: &str) -> anyhow::Result<Value> {
    let answer = c.get(path)?;
    if answer.status != 200 {
        bail!(
            "GET {path} answered {}: {}",
            answer.status,
            answer.body["error"]["message"]
                .as_str()
                .map_or_else(|| answer.body.to_string(), str::to_string)
        );
    }
    Ok(answer.body)
}

/// Runs a verb (not `check`).
pub fn run(
    verb: &Verb,
    c: &Collector,
    admin: Option<&str>,
    format: Format,
) -> anyhow::Result<ExitStatus> {
    match verb {
        Verb::Check => bail!("the check is run by the caller"),
        Verb::List {
            state,
            category,
            min_severity,
            game,
            env,
            all,
            limit,
        } => {
            let all = all.then(|| "true".to_string());
            let q = query(&[
                ("state", state.clone()),
                ("category", category.clone()),
                ("min_severity", min_severity.clone()),
                ("game", game.clone()),
                ("env", env.clone()),
                ("include_probes", all.clone()),
                ("include_seeded", all),
                ("limit", Some(limit.to_string())),
            ]);
            let body = get(c, &format!("/v1/alerts?{q}"))?;
            let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
            print(format, &body, alerts.iter().map(alert_line))?;
        }
        Verb::Watch {
            min_severity,
            after,
            count,
        } => watch(c, min_severity.clone(), after.clone(), *count, format)?,
        Verb::Ack { id, comment, by } => {
            let body = json!({"comment": comment, "by": by});
            let a = c.send(
                "POST",
                &format!("/v1/alerts/{}/ack", encode(id)),
                Some(&body),
                admin,
            )?;
            print(format, &a.body, [alert_line(&a.body)])?;
        }
        Verb::Resolve { id } => {
            let a = c.send(
                "POST",
                &format!("/v1/alerts/{}/resolve", encode(id)),
                None,
                admin,
            )?;
            print(format, &a.body, [alert_line(&a.body)])?;
        }
        Verb::Silence {
            matchers,
            duration,
            comment,
            author,
        } => {
            let mut m = Map::new();
            for pair in matchers {
                let (k, v) = pair.split_once('=').with_context(|| {
                    format!("--match {pair}: write KEY=VALUE, e.g. --match room=pier")
                })?;
                m.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
            }
            let body = json!({"matchers": m, "for": format!("{}ms", duration.as_ms_f64()),
                              "comment": comment, "author": author});
            let s = c.send("POST", "/v1/silences", Some(&body), admin)?;
            print(format, &s.body, [silence_line(&s.body)])?;
        }
        Verb::Silences { state } => {
            let q = query(&[("state", state.clone())]);
            let body = get(c, &format!("/v1/silences?{q}"))?;
            let list = body["silences"].as_array().cloned().unwrap_or_default();
            print(format, &body, list.iter().map(silence_line))?;
        }
        Verb::Unsilence { id } => {
            let s = c.send(
                "DELETE",
                &format!("/v1/silences/{}", encode(id)),
                None,
                admin,
            )?;
            print(format, &s.body, [silence_line(&s.body)])?;
        }
    }
    Ok(ExitStatus::Success)
}

/// Follows `topics=alerts`, printing each change; after the collector closes the stream (a
/// restart), reconnects with the last id seen, so nothing is missed or printed twice.
fn watch(
    c: &Collector,
    min_severity: Option<String>,
    mut last: Option<String>,
    count: Option<u64>,
    format: Format,
) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    crate::signal::flag_on_signal(stop.clone())?;
    let q = format!("topics=alerts&{}", query(&[("min_severity", min_severity)]));
    let mut printed = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let stream = match c.stream(q.trim_end_matches('&'), last.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("stream: {e}; retrying in 1 s");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            match stream.next(Duration::from_millis(250)) {
                Ok(m) => {
                    if m.id.is_some() {
                        last.clone_from(&m.id);
                    }
                    if m.event != "alert" {
                        continue;
                    }
                    let line = match format {
                        Format::Json => m.data.to_string(),
                        Format::Text => {
                            format!(
                                "#{} {}",
                                m.id.as_deref().unwrap_or("-"),
                                alert_line(&m.data)
                            )
                        }
                    };
                    write_stdout(format!("{line}\n").as_bytes())?;
                    printed += 1;
                    if count.is_some_and(|n| printed >= n) {
                        return Ok(());
                    }
                }
                Err(StreamEnd::Timeout) => {}
                Err(StreamEnd::Closed) => break,
            }
        }
    }
    Ok(())
}
