//! `playtrace alerts`: is the newest moderation alert live (not seeded) and fresh? (the check,
//! here), and the verbs that work alerts from a terminal (list, watch, ack, resolve, silence,
//! silences, unsilence; in `work`).

mod work;

use crate::args::Format;
use crate::client::Collector;
use crate::output::{human_duration, write_stdout, ExitStatus};
use anyhow::{bail, Context};
use clap::Args;
use playtrace_core::num::Num;
use playtrace_core::time::parse_rfc3339_ms;
use playtrace_core::units::Millis;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

pub const LONG_ABOUT: &str = "\
Is the newest moderation alert live (not seeded) and inside the freshness window?

Asks the collector for its latest moderation alert, seeded ones included so a seeded alert can
be told apart from a live one, and measures its age from createdAt (whether or not it has since
resolved); or reads an observation file written by `playtrace smoke --observation` (age from
observedAt). A probe's alert (from `playtrace smoke`) went through the real pipeline, so it
counts as evidence of live alerting (alertSource `probe`); --exclude-probes judges real
moderation traffic only.

  playtrace alerts --url http://127.0.0.1:7070 --window 6h
  playtrace alerts --observation artifacts/admin-alert-observations.json --format json

Statuses: ready (live, within the window), stale, seeded (the newest is seeded), no-alerts,
missing (no observation file: a status, not an input error).
Exit codes: 0 ready; 1 any other status; 2 usage or connection error.

Verbs, for working alerts from a terminal (admin verbs need --admin-token):
  playtrace alerts list --state firing --min-severity high --format json
  playtrace alerts watch                       # one line per change; resumes after a reconnect
  playtrace alerts ack al_6c5b77f206547923 --comment 'on it'
  playtrace alerts resolve al_6c5b77f206547923
  playtrace alerts silence --match room=pier --for 2h --comment 'raid, handled in game'
  playtrace alerts silences
  playtrace alerts unsilence si_19a…
  playtrace alerts check --window 6h           # the check above, by name
Verbs exit 0 on success and 2 on an error (a refused or unknown id, a connection error).";

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// What to do; without one, the freshness check.
    #[command(subcommand)]
    verb: Option<work::Verb>,

    #[command(flatten)]
    collector: crate::args::CollectorArgs,

    /// Read this observation file instead of asking the collector.
    #[arg(long, global = true, value_name = "FILE")]
    observation: Option<PathBuf>,

    /// Freshness window (durations: 90s, 30m, 6h, 1.5d; a bare number is ms).
    #[arg(long, global = true, default_value = "6h")]
    window: Millis,

    /// Judge as of this moment (RFC 3339) instead of now.
    #[arg(long, global = true, value_name = "RFC3339", value_parser = rfc3339)]
    now: Option<f64>,

    /// Judge real moderation traffic only: alerts raised by verification probes (`playtrace
    /// smoke`) do not count. By default they do: a probe's alert is a live alert produced by
    /// the real pipeline.
    #[arg(long, global = true)]
    exclude_probes: bool,

    /// Output format.
    #[arg(long, global = true, value_enum, ignore_case = true, default_value_t = Format::Text)]
    format: Format,
}

fn rfc3339(text: &str) -> Result<f64, String> {
    parse_rfc3339_ms(text)
        .ok_or_else(|| format!("`{text}` is not an RFC 3339 time; write e.g. 2025-11-05T06:00:00Z"))
}

/// The verdict.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Verdict {
    status: &'static str,
    observed_at: Option<String>,
    age_ms: Option<Num>,
    window_ms: Num,
    latency_ms: Option<Num>,
    severity: Option<String>,
    reason: Option<String>,
    seeded: Option<bool>,
    /// What raised the alert: `live` (moderation traffic), `probe` (a verification probe
    /// through the real pipeline) or `seeded`.
    alert_source: Option<&'static str>,
    source: String,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_string)
}

fn judge(alert: &Value, time_key: &str, now: f64, window_ms: f64, source: String) -> Verdict {
    let observed_at = text(alert, time_key);
    let at = observed_at.as_deref().and_then(parse_rfc3339_ms);
    let age_ms = at.map(|t| (now - t).max(0.0));
    let seeded = alert["seeded"].as_bool().unwrap_or(false);
    let alert_source = if seeded {
        "seeded"
    } else if alert["probe"].as_bool().unwrap_or(false) {
        "probe"
    } else {
        "live"
    };
    let status = if seeded {
        "seeded"
    } else if age_ms.is_some_and(|a| a <= window_ms) {
        "ready"
    } else {
        "stale"
    };
    Verdict {
        status,
        observed_at,
        age_ms: age_ms.map(Num),
        window_ms: Num(window_ms),
        latency_ms: alert["latencyMs"]
            .as_f64()
            .or_else(|| alert["data"]["latencyMs"].as_f64())
            .map(Num),
        severity: text(alert, "severity"),
        reason: text(alert, "reason"),
        seeded: Some(seeded),
        alert_source: Some(alert_source),
        source,
    }
}

fn empty(status: &'static str, window_ms: f64, source: String) -> Verdict {
    Verdict {
        status,
        observed_at: None,
        age_ms: None,
        window_ms: Num(window_ms),
        latency_ms: None,
        severity: None,
        reason: None,
        seeded: None,
        alert_source: None,
        source,
    }
}

pub fn run(args: AlertsArgs) -> anyhow::Result<ExitStatus> {
    match &args.verb {
        None | Some(work::Verb::Check) => check(&args),
        Some(verb) => {
            let c = Collector::new(
                &args.collector.url,
                None,
                args.collector.read_token.clone(),
                Duration::from_secs(10),
            );
            work::run(verb, &c, args.collector.admin_token.as_deref(), args.format)
        }
    }
}

fn check(args: &AlertsArgs) -> anyhow::Result<ExitStatus> {
    let window_ms = args.window.as_ms_f64();
    let now = args.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64)
    });
    let verdict = match &args.observation {
        Some(path) => {
            let source = path.display().to_string();
            match std::fs::read(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    empty("missing", window_ms, source)
                }
                Err(e) => return Err(e).with_context(|| format!("cannot read {source}")),
                Ok(bytes) => {
                    let v: Value = serde_json::from_slice(&bytes).with_context(|| {
                        format!("{source} is not JSON (an observation file from `playtrace smoke --observation`)")
                    })?;
                    if !v.is_object() || v.get("observedAt").is_none() {
                        bail!("{source}: not an alert observation (no `observedAt`)");
                    }
                    judge(&v, "observedAt", now, window_ms, source)
                }
            }
        }
        None => {
            let c = Collector::new(
                &args.collector.url,
                None,
                args.collector.read_token.clone(),
                Duration::from_secs(10),
            );
            let probes = if args.exclude_probes { "false" } else { "true" };
            let answer = c.get(&format!(
                "/v1/alerts/latest?category=moderation&include_seeded=true&include_probes={probes}"
            ))?;
            let source = c.base.clone();
            match answer.status {
                200 => judge(&answer.body, "createdAt", now, window_ms, source),
                404 => empty("no-alerts", window_ms, source),
                status => bail!(
                    "the collector at {} answered {status}: {}",
                    c.base,
                    answer.body
                ),
            }
        }
    };
    match args.format {
        Format::Json => {
            let mut out = serde_json::to_vec_pretty(&verdict)?;
            out.push(b'\n');
            write_stdout(&out)?;
        }
        Format::Text => {
            let window = human_duration(window_ms);
            let line = match verdict.status {
                "missing" => format!("missing: no observation file at {}", verdict.source),
                "no-alerts" => format!("no-alerts: {} has no moderation alert", verdict.source),
                status => format!(
                    "{status}: newest moderation alert {} ({} ago, window {window}){}{}",
                    verdict.reason.as_deref().unwrap_or("?"),
                    verdict
                        .age_ms
                        .map_or("unknown".to_string(), |a| human_duration(a.0)),
                    match verdict.alert_source {
                        Some("seeded") => ", seeded",
                        Some("probe") => ", from a verification probe",
                        _ => "",
                    },
                    verdict
                        .observed_at
                        .as_deref()
                        .map_or(String::new(), |t| format!(", at {t}"))
                ),
            };
            write_stdout(format!("{line}\n").as_bytes())?;
        }
    }
    Ok(if verdict.status == "ready" {
        ExitStatus::Success
    } else {
        ExitStatus::CheckFailed
    })
}
