//! `playtrace demo`: the collector plus a simulated game feeding it through the SDK, so a
//! newcomer sees contests, budgets, alerts and streams live with one command.

use crate::output::ExitStatus;
use anyhow::Context;
use clap::Args;
use playtrace_core::units::Millis;
use playtrace_sdk::{Client, ClientConfig, Event};
use playtrace_server::config::{parse_listen, ServeConfig};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const LONG_ABOUT: &str = "\
Run the collector with a simulated game feeding it, to see PlayTrace working.

The game (built on playtrace-sdk, as a real one would be) runs PvP contests in three hubs —
one rarely used room is slow: the overall p95 hides it, its per-room budget alert does not —
players chat, a few messages get flagged by moderation, and offline publishing jobs complete
or fail. A status line every few seconds
shows what the collector sees; open another terminal to look around:

  curl -sS localhost:7070/v1/budgets?group_by=room
  curl -sSN 'localhost:7070/v1/stream?topics=alerts'
  curl -sS localhost:7070/v1/alerts

Stops on Ctrl-C (or after --duration) and exits 0. Data goes to a temporary directory unless
--data-dir is given.";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address of the collector.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    listen: String,

    /// Keep the store here (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<Millis>,

    /// Contests started per second.
    #[arg(long, default_value_t = 20)]
    contests_per_second: u32,
}

/// A tiny deterministic generator (xorshift), so a demo run looks the same every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly log-normal around `median` (ms).
    fn latency(&mut self, median: f64, spread: f64) -> f64 {
        let z = (self.unit() + self.unit() + self.unit() - 1.5) * 2.0;
        (median * (spread * z).exp()).round().max(1.0)
    }
}

const HUBS: [(&str, [&str; 2]); 3] = [
    ("hub-harbor", ["room-docks", "room-market"]),
    ("hub-frontier", ["room-canyon", "room-outpost"]),
    ("hub-citadel", ["room-keep", "room-gate"]),
];

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64)
}

/// One second of the simulated game.
fn play_second(client: &Client, rng: &mut Rng, second: u64, contests: u32) {
    let now = now_ms();
    for c in 0..contests {
        // The slow lane gets few contests: the overall p95 hides it, per-room budgets do not.
        let (hub, room) = if rng.unit() < 0.03 {
            ("hub-citadel", "room-slow-lane")
        } else {
            let (hub, rooms) = HUBS[(rng.next() % 3) as usize];
            (hub, rooms[(rng.next() % 2) as usize])
        };
        let key = format!("verb.duel:p{}::p{}", rng.next() % 500, rng.next() % 500);
        let id = format!("contest-{second}-{c}");
        let created = now - 3_000.0;
        let arming = rng.latency(1_800.0, 0.6);
        let slow = room == "room-slow-lane";
        let resolution = if slow {
            rng.latency(1_400.0, 0.3)
        } else {
            rng.latency(340.0, 0.35)
        };
        let base = |name: &'static str| {
            Event::new(name)
                .session(format!("s-{}", rng_session(second, c)))
                .attr("hubId", hub)
                .attr("roomId", room)
                .attr("contestKey", key.clone())
                .attr("move", "duel")
                .attr("type", "pvp")
        };
        client.emit(
            base("telemetry.contest.armed")
                .attr("createdAt", created)
                .attr("participantCapacity", 2),
        );
        if rng.unit() < 0.04 {
            client.emit(
                base("telemetry.contest.expired")
                    .attr("expiredAt", created + 10_000.0)
                    .attr("participantCount", 1),
            );
            continue;
        }
        client.emit(
            base("telemetry.contest.launched")
                .attr("contestId", id.clone())
                .attr("startedAt", created + arming)
                .attr("participantCount", 2),
        );
        if rng.unit() < 0.002 {
            client.emit(
                base("telemetry.contest.workflowFailed")
                    .attr("contestId", id)
                    .attr("error", "narrator_timeout"),
            );
            continue;
        }
        client.emit(
            base("telemetry.contest.resolved")
                .attr("contestId", id)
                .attr("resolvedAt", created + arming + resolution)
                .attr(
                    "outcomeTier",
                    if rng.unit() < 0.5 {
                        "success"
                    } else {
                        "partial-success"
                    },
                ),
        );
    }
    // Chat, a few messages flagged by moderation (one in the first seconds for sure).
    for m in 0..contests * 3 {
        let flagged = (second == 2 && m == 0) || rng.unit() < 0.002;
        let mut e = Event::new("chat.message")
            .session(format!("s-{}", rng.next() % 200))
            .attr("checkId", format!("chk-{second}-{m}"))
            .attr("length", rng.next() % 120)
            .attr("latencyMs", rng.latency(40.0, 0.3));
        if flagged {
            e = e
                .attr("safetyFlags", json!(["prohibited-capability"]))
                .attr("auditRef", format!("audit-{second}-{m}"));
        }
        client.emit(e);
    }
    // Offline publishing jobs.
    if second.is_multiple_of(3) {
        let failed = rng.unit() < 0.15;
        let name = if failed {
            "offline.sessionClosure.failed"
        } else {
            "offline.sessionClosure.completed"
        };
        client.emit(
            Event::new(name)
                .session(format!("s-{}", rng.next() % 200))
                .attr("jobId", format!("job-{second}"))
                .attr("durationMs", rng.latency(90_000.0, 0.5)),
        );
    }
}

fn rng_session(second: u64, c: u32) -> u64 {
    (second * 31 + u64::from(c)) % 200
}

fn get(agent: &ureq::Agent, url: &str) -> Value {
    agent
        .get(url)
        .call()
        .ok()
        .and_then(|r| r.into_body().read_to_string().ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// One status line from what the collector reports.
fn status(agent: &ureq::Agent, base: &str, sent: u64) -> String {
    let budgets = get(agent, &format!("{base}/v1/budgets?window=1m"));
    let mut parts = vec![format!("{sent} events sent")];
    for b in budgets["windows"][0]["budgets"]
        .as_array()
        .into_iter()
        .flatten()
    {
        parts.push(format!(
            "{} p95 {} ms ({}, {} samples)",
            b["metric"].as_str().unwrap_or("?"),
            b["value"],
            b["status"].as_str().unwrap_or("?"),
            b["samples"]
        ));
    }
    let alerts = get(agent, &format!("{base}/v1/alerts?state=firing&limit=1000"));
    let firing = alerts["alerts"].as_array().map_or(0, Vec::len);
    parts.push(format!("{firing} alerts firing"));
    parts.join(" · ")
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitStatus> {
    let listen = parse_listen("--listen", &args.listen)?;
    let temp = match &args.data_dir {
        Some(_) => None,
        None => Some(tempdir()?),
    };
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.0.clone()))
        .context("no data directory")?;
    let config_text = r#"
[budgets]
windows = ["1m", "5m"]
[alerts]
budget_for = "5s"
budget_keep_firing_for = "20s"
budget_group_by = ["room"]
"#;
    let mut config = ServeConfig::from_toml(config_text, "demo")?;
    config.listen = listen;
    config.data_dir = data_dir.clone();

    let stop = Arc::new(AtomicBool::new(false));
    let runtime = crate::args::runtime("playtrace-http")?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop_server = stop.clone();
    let server = std::thread::Builder::new()
        .name("playtrace-demo-server".into())
        .spawn(move || {
            runtime.block_on(playtrace_server::serve(
                config,
                async move {
                    tokio::select! {
                        () = playtrace_server::shutdown_signal() => {}
                        () = async {
                            while !stop_server.load(Ordering::Relaxed) {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        } => {}
                    }
                    stop_server.store(true, Ordering::Relaxed);
                },
                |running| {
                    let _ = ready_tx.send(running.local_addr());
                },
            ))
        })
        .context("cannot start the collector")?;
    let Ok(addr) = ready_rx.recv() else {
        // The server ended before listening: its error says why.
        return match server.join() {
            Ok(Err(e)) => Err(e.into()),
            _ => Err(anyhow::anyhow!("the collector did not start")),
        };
    };
    let base = format!("http://{addr}");
    eprintln!(
        "playtrace demo: collector on {base} (data in {}); a simulated game is playing.\n\
         Try:  curl -sS '{base}/v1/budgets?group_by=room'\n      \
         curl -sSN '{base}/v1/stream?topics=alerts'\n      \
         curl -sS '{base}/v1/alerts'\n\
         Ctrl-C stops.",
        data_dir.display()
    );

    let mut sdk = ClientConfig::new(&base);
    sdk.game = Some("demo".into());
    sdk.env = Some("demo".into());
    let client = Client::new(sdk).context("cannot start the SDK client")?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut second = 0u64;
    while !stop.load(Ordering::Relaxed)
        && args
            .duration
            .is_none_or(|d| started.elapsed() < d.to_duration())
    {
        let tick = Instant::now();
        play_second(&client, &mut rng, second, args.contests_per_second);
        if second % 3 == 2 {
            let _ = client.flush(Duration::from_secs(2));
            let sent = client.metrics().sent.load(Ordering::Relaxed);
            eprintln!(
                "[{:>4}s] {}",
                started.elapsed().as_secs(),
                status(&agent, &base, sent)
            );
        }
        second += 1;
        while tick.elapsed() < Duration::from_secs(1) && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = client.flush(Duration::from_secs(5));
    drop(client);
    stop.store(true, Ordering::Relaxed);
    match server.join() {
        Ok(result) => result?,
        Err(_) => anyhow::bail!("the collector thread panicked"),
    }
    eprintln!("playtrace demo: stopped");
    drop(temp);
    Ok(ExitStatus::Success)
}

/// A temporary directory removed on drop (no extra dependency for one directory).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> anyhow::Result<TempDir> {
    let dir = std::env::temp_dir().join(format!("playtrace-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(TempDir(dir))
}
