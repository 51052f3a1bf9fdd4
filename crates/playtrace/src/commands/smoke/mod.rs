//! `playtrace smoke`: prove a running collector works end to end — a probe event in, stored,
//! streamed back; a flagged check event coming back as a live alert; a missed event replayed
//! after a reconnect. No seeded fallback: a missing live alert is a failed check. `smoke
//! summary` (in `summary`) turns a watch log into a report.

mod summary;

use crate::args::Format;
use crate::client::{nonce, now_rfc3339, ClientError, Collector, SseMessage, Stream, StreamEnd};
use crate::output::{write_stdout, ExitStatus};
use anyhow::Context;
use clap::Args;
use playtrace_core::units::{format_duration_ms, Millis};
use playtrace_export::atomic::write_atomic;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const LONG_ABOUT: &str = "\
Prove a running collector works end to end.

Opens the stream, posts a probe event and a check event flagged `prohibited-capability` (each
with its own random checkId and `probe: true`, so moderators' views are not disturbed),
requires the probe back on the stream and the live alert for the flagged event, each with its
latency from the POST; checks stream ids strictly increase; disconnects, posts a second probe,
reconnects with Last-Event-ID and requires exactly the missed probe. There is no seeded
fallback: a missing live alert fails the run.

  playtrace smoke --url http://127.0.0.1:7070 --report smoke.json
  playtrace smoke --watch 5m --log smoke.ndjson          # until interrupted
  playtrace smoke summary smoke.ndjson --format markdown # pass rate, latencies, last failure

With --watch, every run is one line of the log, failed or not: a collector that is down or a
token that is refused is logged as a failed run (check `connection` or `auth`) and the watch
goes on.

Exit codes: 0 every check passed; 1 a check failed (the report names it and why);
2 usage, connection, 401 or 403.";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SmokeArgs {
    #[command(subcommand)]
    action: Option<SmokeAction>,

    /// Collector URL.
    #[arg(long, env = "PLAYTRACE_URL", default_value = "http://127.0.0.1:7070")]
    url: String,

    /// Token with the ingest scope (not needed against an open loopback collector).
    #[arg(long, env = "PLAYTRACE_INGEST_TOKEN", hide_env_values = true)]
    ingest_token: Option<String>,

    /// Token with the read scope.
    #[arg(long, env = "PLAYTRACE_READ_TOKEN", hide_env_values = true)]
    read_token: Option<String>,

    /// How long to wait for each thing to come back (durations: 500ms, 10s, 1m).
    #[arg(long, default_value = "10s")]
    timeout: Millis,

    /// Write the JSON report here (atomically). `--report` is the old name.
    #[arg(
        short = 'o',
        long = "output",
        visible_alias = "report",
        value_name = "FILE"
    )]
    report: Option<PathBuf>,

    /// Record the live alert observation here (what `playtrace alerts --observation` reads);
    /// a failed run never replaces a good observation.
    #[arg(long, value_name = "FILE")]
    observation: Option<PathBuf>,

    /// Repeat every INTERVAL until interrupted, printing one status line per run.
    #[arg(long, value_name = "INTERVAL", requires = "log")]
    watch: Option<Millis>,

    /// With --watch: append each run's report to FILE as one JSON line.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,

    /// Output format of the final result: text (a summary) or json (the report).
    #[arg(long, value_enum, ignore_case = true, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, clap::Subcommand)]
enum SmokeAction {
    /// Summarize a `--watch --log` file: pass rate, probe/alert/replay latency p50/p95/max, the
    /// first and last run, and the last failure with its check and message.
    Summary(summary::SummaryArgs),
}

/// A check that did not pass.
struct Failure {
    check: &'static str,
    message: String,
}

fn fail(check: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        check,
        message: message.into(),
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Waits for a message matching `wanted`, checking every message's id strictly increases.
fn wait_for(
    stream: &Stream,
    timeout: Duration,
    last_id: &mut i64,
    counts: &mut Value,
    wanted: impl Fn(&SseMessage) -> bool,
    check: &'static str,
) -> Result<SseMessage, Failure> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = match stream.next(left) {
            Ok(m) => m,
            Err(StreamEnd::Timeout) => {
                return Err(fail(
                    check,
                    format!("nothing arrived within {}", format_duration(timeout)),
                ))
            }
            Err(StreamEnd::Closed) => return Err(fail(check, "the collector closed the stream")),
        };
        // Counted by event name (as the old report did), alerts and budgets by kind.
        let key = match m.event.as_str() {
            "event" => m.data["event"].as_str().unwrap_or("event").to_string(),
            other => other.to_string(),
        };
        counts[&key] = json!(counts[&key].as_u64().unwrap_or(0) + 1);
        if let Some(id) = m.id.as_deref().and_then(|i| i.parse::<i64>().ok()) {
            if id <= *last_id {
                return Err(fail(
                    "streamOrder",
                    format!(
                        "stream id {id} came after {} (ids must strictly increase)",
                        last_id
                    ),
                ));
            }
            *last_id = id;
        }
        if wanted(&m) {
            return Ok(m);
        }
    }
}

fn format_duration(d: Duration) -> String {
    format_duration_ms(d.as_secs_f64() * 1000.0)
}

struct Run {
    report: Value,
    observation: Option<Value>,
}

/// One smoke run. `Err` only for connection/auth problems (exit 2).
fn run_once(c: &Collector, args: &SmokeArgs) -> Result<Run, ClientError> {
    let run_id = nonce();
    let started_at = now_rfc3339();
    let started = Instant::now();
    let session = format!("smoke-{run_id}");
    let mut metrics = json!({
        "probe": {"observed": false, "latencyMs": null},
        "adminAlert": {"observed": false, "latencyMs": null, "severity": null, "reason": null,
                        "seeded": false, "observedAt": null, "checkId": null},
        "replay": {"observed": false, "latencyMs": null},
    });
    let mut counts = json!({});
    let mut observation = None;
    // Posts one event; the time it was sent is where its latency starts.
    let post = |name: &str, id: String, attrs: Value| -> Result<Instant, Failure> {
        let sent = Instant::now();
        let line = json!({"event": name, "id": id, "session": session, "attrs": attrs});
        c.post_ndjson("/v1/events", &line.to_string())
            .map_err(client_failure)?;
        Ok(sent)
    };

    let result: Result<(), Failure> = (|| {
        let query = "topics=events,alerts&name=playtrace.smoke.";
        let stream = c.stream(query, None).map_err(client_failure)?;
        let mut last_id = 0i64;

        // 1. A probe event comes back on the stream.
        let probe_nonce = nonce();
        let sent = post(
            "playtrace.smoke.probe",
            format!("{run_id}-probe-1"),
            json!({"probe": true, "checkId": probe_nonce, "runId": run_id}),
        )?;
        let m = wait_for(
            &stream,
            args.timeout.to_duration(),
            &mut last_id,
            &mut counts,
            |m| m.event == "event" && m.data["attrs"]["checkId"] == probe_nonce.as_str(),
            "probe",
        )?;
        metrics["probe"] = json!({"observed": true, "latencyMs": ms(m.at - sent)});

        // 2. A flagged check event comes back as a live alert.
        let check_nonce = nonce();
        let sent = post(
            "playtrace.smoke.check",
            format!("{run_id}-check"),
            json!({"probe": true, "checkId": check_nonce, "runId": run_id,
                       "safetyFlags": ["prohibited-capability"]}),
        )?;
        let m = wait_for(
            &stream,
            args.timeout.to_duration(),
            &mut last_id,
            &mut counts,
            |m| m.event == "alert" && m.data["data"]["checkId"] == check_nonce.as_str(),
            "adminAlert",
        )
        .map_err(|f| {
            if f.check == "adminAlert" {
                fail(
                    "adminAlert",
                    format!(
                        "no live alert for the flagged check {check_nonce}: {} (are the \
                         moderation rules on? [alerts] default_rules)",
                        f.message
                    ),
                )
            } else {
                f
            }
        })?;
        let alert = &m.data;
        if alert["seeded"] == true {
            return Err(fail(
                "adminAlert",
                "the alert that came back is seeded, not live",
            ));
        }
        let observed_at = now_rfc3339();
        let latency = ms(m.at - sent);
        metrics["adminAlert"] = json!({
            "observed": true,
            "latencyMs": latency,
            "severity": alert["severity"],
            "reason": alert["reason"],
            "seeded": false,
            "observedAt": observed_at,
            "checkId": check_nonce,
        });
        observation = Some(json!({
            "observedAt": observed_at,
            "latencyMs": latency,
            "reason": alert["reason"],
            "severity": alert["severity"],
            "seeded": false,
            "runId": run_id,
            "sessionId": session,
            "recordedAt": now_rfc3339(),
        }));

        // 3. Disconnect, miss a probe, reconnect with Last-Event-ID: exactly that probe.
        drop(stream);
        let missed_nonce = nonce();
        let sent = post(
            "playtrace.smoke.probe",
            format!("{run_id}-probe-2"),
            json!({"probe": true, "checkId": missed_nonce, "runId": run_id}),
        )?;
        let resumed = c
            .stream(query, Some(&last_id.to_string()))
            .map_err(client_failure)?;
        let ours = |m: &SseMessage| {
            m.data["attrs"]["runId"] == run_id.as_str()
                || m.data["data"]["checkId"] == check_nonce.as_str()
        };
        let m = wait_for(
            &resumed,
            args.timeout.to_duration(),
            &mut last_id,
            &mut counts,
            ours,
            "replay",
        )?;
        if m.event != "event" || m.data["attrs"]["checkId"] != missed_nonce.as_str() {
            return Err(fail(
                "replay",
                format!(
                    "after reconnecting the first message of this run was {} {}, not the missed probe",
                    m.event, m.data
                ),
            ));
        }
        metrics["replay"] = json!({"observed": true, "latencyMs": ms(m.at - sent)});
        // Nothing of this run may follow: it was all before the Last-Event-ID.
        if let Ok(extra) = wait_for(
            &resumed,
            Duration::from_millis(200),
            &mut last_id,
            &mut counts,
            ours,
            "replay",
        ) {
            return Err(fail(
                "replay",
                format!("replayed more than the missed probe: also {}", extra.data),
            ));
        }
        Ok(())
    })();

    // Connection and auth problems are not check failures.
    if let Err(f) = &result {
        if f.check == "connection" {
            return Err(ClientError::Connect {
                url: c.base.clone(),
                message: f.message.clone(),
            });
        }
        if f.check == "auth" {
            return Err(ClientError::Status {
                what: "a request".into(),
                status: 401,
                message: f.message.clone(),
            });
        }
    }
    let success = result.is_ok();
    let report = Report {
        run_id: &run_id,
        started_at: &started_at,
        started,
        metrics,
        counts,
        failure: result.err(),
    }
    .json(c, args);
    Ok(Run {
        report,
        observation: success.then_some(observation).flatten(),
    })
}

/// What one run found, before it becomes the report's JSON.
struct Report<'a> {
    run_id: &'a str,
    started_at: &'a str,
    started: Instant,
    metrics: Value,
    counts: Value,
    failure: Option<Failure>,
}

impl Report<'_> {
    /// The report, in the old smoke report's shape plus `error`.
    fn json(self, c: &Collector, args: &SmokeArgs) -> Value {
        let (success, error) = match &self.failure {
            None => (true, Value::Null),
            Some(f) => (false, json!({"check": f.check, "message": f.message})),
        };
        json!({
            "runId": self.run_id,
            "startedAt": self.started_at,
            "baseUrl": c.base,
            "config": {
                "timeoutMs": args.timeout.as_ms(),
                "reportPath": args.report,
                "observationPath": args.observation,
                "seededFallback": false,
            },
            "metrics": self.metrics,
            "eventCounts": self.counts,
            "success": success,
            "error": error,
            "completedAt": now_rfc3339(),
            "durationMs": ms(self.started.elapsed()),
        })
    }
}

/// The report of a watch run that could not reach the collector or was refused: a failed run
/// like any other in the log (check `connection` or `auth`), so a watch log has every run.
fn unreachable_report(
    c: &Collector,
    args: &SmokeArgs,
    error: &ClientError,
    started_at: &str,
    started: Instant,
) -> Value {
    let check = match error {
        ClientError::Connect { .. } => "connection",
        ClientError::Auth { .. } => "auth",
        ClientError::Status {
            status: 401 | 403, ..
        } => "auth",
        _ => "collector",
    };
    Report {
        run_id: &nonce(),
        started_at,
        started,
        metrics: json!({
            "probe": {"observed": false, "latencyMs": null},
            "adminAlert": {"observed": false, "latencyMs": null, "severity": null, "reason": null,
                            "seeded": false, "observedAt": null, "checkId": null},
            "replay": {"observed": false, "latencyMs": null},
        }),
        counts: json!({}),
        failure: Some(fail(check, error.to_string())),
    }
    .json(c, args)
}

/// Carries a connection/auth error through the check closure.
fn client_failure(e: ClientError) -> Failure {
    match e {
        ClientError::Auth { .. } => fail("auth", e.to_string()),
        ClientError::Connect { message, .. } => fail("connection", message),
        other => fail("collector", other.to_string()),
    }
}

fn status_line(report: &Value) -> String {
    let m = &report["metrics"];
    let lat = |k: &str| {
        m[k]["latencyMs"]
            .as_f64()
            .map_or("-".to_string(), |v| format!("{v:.1} ms"))
    };
    if report["success"] == true {
        format!(
            "{}  PASS  probe {}  alert {}  replay {}",
            report["completedAt"].as_str().unwrap_or(""),
            lat("probe"),
            lat("adminAlert"),
            lat("replay")
        )
    } else {
        format!(
            "{}  FAIL  {}: {}",
            report["completedAt"].as_str().unwrap_or(""),
            report["error"]["check"].as_str().unwrap_or("?"),
            report["error"]["message"].as_str().unwrap_or("")
        )
    }
}

fn record(args: &SmokeArgs, run: &Run) -> anyhow::Result<()> {
    let pretty = serde_json::to_vec_pretty(&run.report)?;
    if let Some(path) = &args.report {
        write_atomic(path, &pretty)
            .with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    if let (Some(path), Some(obs)) = (&args.observation, &run.observation) {
        write_atomic(path, &serde_json::to_vec_pretty(obs)?)
            .with_context(|| format!("cannot write the observation {}", path.display()))?;
    }
    if let Some(path) = &args.log {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the log {}", path.display()))?;
        let mut line = serde_json::to_vec(&run.report)?;
        line.push(b'\n');
        f.write_all(&line)?;
        f.sync_data()?;
    }
    Ok(())
}

pub fn run(args: SmokeArgs) -> anyhow::Result<ExitStatus> {
    if let Some(SmokeAction::Summary(summary)) = &args.action {
        return summary::run(summary);
    }
    let c = Collector::new(
        &args.url,
        args.ingest_token.clone(),
        args.read_token.clone(),
        args.timeout.to_duration(),
    );
    let Some(interval) = args.watch.map(Millis::to_duration) else {
        let run = run_once(&c, &args)?;
        record(&args, &run)?;
        match args.format {
            Format::Json => {
                let mut out = serde_json::to_vec_pretty(&run.report)?;
                out.push(b'\n');
                write_stdout(&out)?;
            }
            Format::Text => write_stdout(format!("{}\n", status_line(&run.report)).as_bytes())?,
        }
        return Ok(if run.report["success"] == true {
            ExitStatus::Success
        } else {
            ExitStatus::CheckFailed
        });
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    crate::signal::flag_on_signal(flag)?;
    let mut last = ExitStatus::Success;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let started_at = now_rfc3339();
        let run = match run_once(&c, &args) {
            Ok(run) => run,
            // A collector that is down (or a refused token) is what a watch exists to notice:
            // log it as a failed run and go on.
            Err(e) => Run {
                report: unreachable_report(&c, &args, &e, &started_at, started),
                observation: None,
            },
        };
        record(&args, &run)?;
        last = if run.report["success"] == true {
            ExitStatus::Success
        } else {
            ExitStatus::CheckFailed
        };
        let line = status_line(&run.report);
        write_stdout(format!("{line}\n").as_bytes())?;
        while !stop.load(Ordering::Relaxed) && started.elapsed() < interval {
            std::thread::sleep(Duration::from_millis(50).min(interval));
        }
    }
    Ok(last)
}
