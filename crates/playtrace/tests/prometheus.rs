//! `/metrics` with the real Prometheus tools (Debian's `prometheus` package; `scripts/test`
//! installs it): `promtool check metrics` on a live collector's output, a real Prometheus
//! scraping it with a read token through the example config, and the example alerting rules
//! under `promtool check rules` / `promtool test rules`. Never skipped: without the tools the
//! tests fail and say how to get them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use common::fixture;
use serde_json::Value;
use server::{start, TOKENS};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `prometheus` or `promtool`: from `$PLAYTRACE_PROMETHEUS/` when set, else from PATH.
fn tool(name: &str) -> PathBuf {
    let path = match std::env::var_os("PLAYTRACE_PROMETHEUS") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => std::env::var_os("PATH")
            .and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(name))
                    .find(|p| p.exists())
            })
            .unwrap_or_else(|| PathBuf::from(name)),
    };
    assert!(
        path.exists(),
        "{name} is not installed: run scripts/test (it installs Debian's prometheus package), \
         or set PLAYTRACE_PROMETHEUS to the folder holding prometheus and promtool"
    );
    path
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn metrics_text(s: &server::Server) -> String {
    let mut r = server::agent()
        .get(format!("{}/metrics", s.url))
        .header("Authorization", "Bearer read-secret-1")
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.body_mut().read_to_string().unwrap()
}

/// A Prometheus child process, stopped on drop.
struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// One instant query's result vector; `None` while Prometheus is not answering yet.
    fn query(&self, promql: &str) -> Option<Vec<Value>> {
        let mut r = server::agent()
            .get(format!("{}/api/v1/query", self.url))
            .query("query", promql)
            .call()
            .ok()?;
        if r.status().as_u16() != 200 {
            return None;
        }
        let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(body["status"], "success", "{promql}: {body}");
        Some(
            body["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        )
    }

    /// Polls `promql` until it has a result (bounded).
    fn wait_for(&mut self, promql: &str, what: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.query(promql) {
                Some(result) if !result.is_empty() => return result,
                _ => {}
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Prometheus exited ({status}) before it saw {what}");
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never saw {what} ({promql})"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Prometheus with the example config, pointed at `target` with a 1 s scrape interval and
/// the read token in a file.
fn prometheus(dir: &Path, target: &str) -> Prometheus {
    let example =
        std::fs::read_to_string(repo().join("examples/prometheus/prometheus.yml")).unwrap();
    let token = dir.join("read-token");
    std::fs::write(&token, "read-secret-1").unwrap();
    let config = example
        .replace(
            "/etc/prometheus/playtrace-read-token",
            token.to_str().unwrap(),
        )
        .replace("127.0.0.1:7070", target)
        .replace("15s", "1s");
    assert!(config.contains(target) && config.contains("read-token"));
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    std::fs::copy(
        repo().join("examples/prometheus/playtrace-rules.yml"),
        dir.join("playtrace-rules.yml"),
    )
    .unwrap();
    run(Command::new(tool("promtool"))
        .arg("check")
        .arg("config")
        .arg(dir.join("prometheus.yml")));
    let port = free_port();
    let child = Command::new(tool("prometheus"))
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .unwrap();
    Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

#[test]
fn metrics_pass_promtool_and_a_real_prometheus_scrapes_the_per_room_budgets() {
    let dir = tempfile::tempdir().unwrap();
    // Three rooms get their own series; the fourth is folded into `other`.
    let config = format!(
        "{TOKENS}\n[metrics]\nbudget_group_by = [\"room\", \"hub\"]\nmax_group_values = 3\n"
    );
    let s = start(&dir.path().join("data"), &config);
    let ndjson = std::fs::read_to_string(fixture("contest-telemetry-load-breach.ndjson")).unwrap();
    let (status, _, _) = s.ingest(&ndjson, Some("ingest-secret-1"));
    assert_eq!(status, 200);
    // One refused request, so the counter is not only zeros.
    assert_eq!(s.get("/metrics", Some("wrong-secret-1")).0, 401);

    let text = metrics_text(&s);
    let mut check = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "playtrace_build_info{version=\"",
        "playtrace_requests_refused_total 1",
        "playtrace_store_queue_requests 0",
        "playtrace_budget_groups_folded{window=\"5m\",dimension=\"room\"} 1",
        "playtrace_budget_groups_folded{window=\"5m\",dimension=\"hub\"} 0",
        "process_open_fds ",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    // The folded room's samples are kept under `other`.
    assert!(text.contains(
        "playtrace_budget_group_samples{window=\"5m\",metric=\"arming\",percentile=\"95\",dimension=\"room\",group=\"other\"} 1"
    ), "{text}");

    let target = s.url.trim_start_matches("http://").to_string();
    let mut prom = prometheus(dir.path(), &target);
    let up = prom.wait_for("up{job=\"playtrace\"} == 1", "a successful scrape");
    assert_eq!(up[0]["value"][1], "1");

    // A per-room budget, as PromQL sees it, is the value /v1/budgets shows.
    let (_, _, budgets) = s.get("/v1/budgets?group_by=room&window=5m", Some("read-secret-1"));
    let group = budgets["windows"][0]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"]["room"] == "room-contest-b")
        .unwrap()
        .clone();
    let arming = group["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["metric"] == "arming")
        .unwrap();
    let expected_seconds = arming["value"].as_f64().unwrap() / 1000.0;
    let result = prom.wait_for(
        "playtrace_budget_group_value_seconds{dimension=\"room\",group=\"room-contest-b\",metric=\"arming\",window=\"5m\"}",
        "the per-room budget",
    );
    let scraped: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert_eq!(scraped, expected_seconds);
    assert_eq!(scraped, 7.2);
    // The example rule over it fires as pending (its `for` has not passed).
    let pending = prom.wait_for(
        "ALERTS{alertname=\"PlayTraceRoomBudgetOverLimit\",group=\"room-contest-b\"}",
        "the room budget rule",
    );
    assert_eq!(pending[0]["metric"]["alertstate"], "pending");
}

#[test]
fn the_example_rules_pass_promtool_check_and_their_tests() {
    let dir = repo().join("examples/prometheus");
    let out = run(Command::new(tool("promtool"))
        .args(["check", "rules"])
        .arg(dir.join("playtrace-rules.yml")));
    assert!(out.contains("SUCCESS: 6 rules found"), "{out}");
    let out = run(Command::new(tool("promtool")).current_dir(&dir).args([
        "test",
        "rules",
        "playtrace-rules.test.yml",
    ]));
    assert!(out.contains("SUCCESS"), "{out}");
}
