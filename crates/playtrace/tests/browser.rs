//! A real browser's `EventSource` (Debian's Chromium, headless) on the alerts stream: it receives
//! alerts cross-origin, and when the collector restarts on the same port and data directory it
//! reconnects by itself with `Last-Event-ID` and resumes: nothing missed, nothing repeated.
//!
//! The test serves a page (tests/browser/page.html) from its own loopback server; the page opens
//! the stream on the collector and reports every `open`, `error` and `alert` back to that server,
//! in order. Chromium is found through `PLAYTRACE_CHROMIUM` or `chromium`/`chromium-browser` on
//! `PATH`; scripts/test installs it when missing. Without it the test fails: it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server;

use serde_json::Value;
use server::Server;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest any one step may take (browser start-up on a loaded machine included).
const WAIT: Duration = Duration::from_secs(30);
/// The longest a graceful stop may take.
const STOP_WAIT: Duration = Duration::from_secs(15);

const PAGE: &str = include_str!("browser/page.html");

/// The Chromium binary, or a failure saying how to get one.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("PLAYTRACE_CHROMIUM").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "PLAYTRACE_CHROMIUM={} is not a file",
            path.display()
        );
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "Chromium is not installed: this test needs a real browser. Run scripts/test (it installs \
         Debian's `chromium`), or `apt-get install chromium`, or set PLAYTRACE_CHROMIUM to a \
         Chromium binary"
    );
}

/// A free loopback port below the kernel's ephemeral range, so that while the collector is down
/// between the two runs no port the kernel hands out (`:0` binds, outgoing connections of
/// tests running in parallel) can take it.
fn free_port() -> u16 {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = 10_000u16;
    if ephemeral_start > low + 1000 {
        let span = u64::from(ephemeral_start - low);
        let mut seed = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
        for _ in 0..100 {
            // xorshift: enough to spread tries over the range.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let port = low + (seed % span) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `playtrace serve` on `127.0.0.1:port` and waits until `/readyz` answers 200.
fn start_at(port: u16, data_dir: &Path, config: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_playtrace"))
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--config")
        .arg(config)
        .env_remove("PLAYTRACE_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let mut log = log2.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let mut server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        data_dir: data_dir.to_path_buf(),
        stderr: log,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(r) = agent.get(format!("{}/readyz", server.url)).call() {
            if r.status() == 200 {
                return server;
            }
        }
        if let Some(status) = server.child.try_wait().unwrap() {
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "the collector on port {port} exited ({status}) before it was ready:\n{}",
                server.stderr.lock().unwrap()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the collector on port {port} was not ready within {WAIT:?}:\n{}",
            server.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, then the exit code; fails instead of waiting forever (a graceful stop takes well under
/// a second).
fn stop(mut server: Server) -> Option<i32> {
    let sent = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + STOP_WAIT;
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            Instant::now() < deadline,
            "the collector did not stop within {STOP_WAIT:?} of SIGTERM:\n{}",
            server.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Serves the page on its own thread and forwards the page's reports (JSON) to the returned
/// receiver.
fn serve_page(listener: TcpListener, collector: &str) -> Receiver<Value> {
    let page = Arc::new(PAGE.replace("COLLECTOR", collector));
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (page, tx) = (page.clone(), tx.clone());
            std::thread::spawn(move || {
                let _ = answer(conn, &page, &tx);
            });
        }
    });
    rx
}

/// One request on `conn`: `GET /` is the page, `POST /report` a report; nothing else exists.
fn answer(conn: TcpStream, page: &str, reports: &Sender<Value>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(WAIT))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let response = match (method, path) {
        ("GET", "/") => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: \
             no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        ),
        ("POST", "/report") => {
            let report = serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
            let _ = reports.send(report);
            "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_string()
        }
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
    };
    let mut conn = conn;
    conn.write_all(response.as_bytes())?;
    conn.flush()
}

/// Headless Chromium showing one page; killed (with every process it started) when dropped, so
/// a failing assertion never leaves it running.
struct Browser {
    child: Child,
    log: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn open(binary: &Path, url: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().with_extension("log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--no-proxy-server",
                "--mute-audio",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            // Its own process group: the renderer, GPU and utility processes go with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Browser {
            child,
            log,
            _profile: profile,
        }
    }

    /// The end of what Chromium printed, for failure messages.
    fn log(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// What the page reported so far, in the page's order.
struct Reports {
    rx: Receiver<Value>,
    seen: Vec<Value>,
}

impl Reports {
    /// Waits for a report matching `wanted` and returns its index in `seen`.
    fn wait_for(
        &mut self,
        browser: &Browser,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(report) => {
                    let matched = wanted(&report);
                    self.seen.push(report);
                    if matched {
                        return self.seen.len() - 1;
                    }
                }
                Err(_) => panic!(
                    "the browser did not report {what} within {WAIT:?}; it reported:\n{}\n\
                     Chromium's log ends with:\n{}",
                    self.dump(),
                    browser.log()
                ),
            }
        }
    }

    /// Collects whatever arrives within `quiet`.
    fn drain(&mut self, quiet: Duration) {
        while let Ok(report) = self.rx.recv_timeout(quiet) {
            self.seen.push(report);
        }
    }

    fn dump(&self) -> String {
        self.seen
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn is(kind: &str) -> impl Fn(&Value) -> bool + '_ {
    move |r| r["type"] == kind
}

fn alert_for(check: &str) -> impl Fn(&Value) -> bool + '_ {
    move |r| r["type"] == "alert" && r["data"]["data"]["checkId"] == check
}

fn flagged(id: &str, check: &str) -> String {
    format!(
        r#"{{"event":"narrative.check","id":"{id}","game":"gf","env":"prod","session":"s-1","attrs":{{"checkId":"{check}","safetyFlags":["prohibited-capability"]}}}}"#
    )
}

#[test]
fn a_browser_event_source_gets_alerts_and_resumes_after_a_restart() {
    let started = Instant::now();
    let chromium = chromium();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let page_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let page_url = format!("http://{}", page_listener.local_addr().unwrap());
    let port = free_port();
    let collector_url = format!("http://127.0.0.1:{port}");
    // The page is on another port, so its EventSource is cross-origin: allow exactly its origin.
    let config = dir.path().join("playtrace.toml");
    std::fs::write(
        &config,
        format!("[http]\ncors_origins = [\"{page_url}\"]\n"),
    )
    .unwrap();
    let collector = start_at(port, &data_dir, &config);
    let mut reports = Reports {
        rx: serve_page(page_listener, &collector_url),
        seen: Vec::new(),
    };
    let browser = Browser::open(&chromium, &format!("{page_url}/"));
    reports.wait_for(&browser, "the stream opening", is("open"));
    let opened = started.elapsed();

    // Live: an alert raised now reaches the browser.
    let (status, _, body) = collector.ingest(&flagged("e-a", "chk-A"), None);
    assert_eq!(status, 200, "{body}");
    reports.wait_for(&browser, "alert chk-A", alert_for("chk-A"));

    // The collector goes away; the browser notices and keeps retrying the same address.
    assert_eq!(stop(collector), Some(0), "SIGTERM is a graceful stop");
    let lost = reports.wait_for(&browser, "losing the stream", is("error"));
    assert_eq!(
        reports.seen[lost]["readyState"], 0,
        "the EventSource gave up instead of reconnecting: {}",
        reports.seen[lost]
    );

    // Meanwhile the store gets B, which the browser cannot see: the same data directory served
    // on another port, stopped again.
    let aside = start_at(free_port(), &data_dir, &config);
    let (status, _, body) = aside.ingest(&flagged("e-b", "chk-B"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(stop(aside), Some(0));

    // Back on the same port and data directory: the browser reconnects by itself (`retry:
    // 1000`) with Last-Event-ID and gets B, which it missed, from the store; then C live.
    let collector = start_at(port, &data_dir, &config);
    reports.wait_for(&browser, "the stream opening again", is("open"));
    reports.wait_for(
        &browser,
        "alert chk-B, missed while away",
        alert_for("chk-B"),
    );
    let (status, _, body) = collector.ingest(&flagged("e-c", "chk-C"), None);
    assert_eq!(status, 200, "{body}");
    reports.wait_for(&browser, "alert chk-C", alert_for("chk-C"));
    reports.drain(Duration::from_millis(500));

    // Each alert exactly once, in stream order, and no other message.
    let alerts: Vec<&Value> = reports
        .seen
        .iter()
        .filter(|r| r["type"] == "alert")
        .collect();
    let checks: Vec<&str> = alerts
        .iter()
        .map(|r| r["data"]["data"]["checkId"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(checks, ["chk-A", "chk-B", "chk-C"], "{}", reports.dump());
    let ids: Vec<i64> = alerts
        .iter()
        .map(|r| r["lastEventId"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for alert in &alerts {
        assert_eq!(alert["data"]["reason"], "prohibited-capability");
        assert_eq!(alert["data"]["category"], "moderation");
        assert_eq!(alert["data"]["sessionId"], "s-1");
    }
    let kinds: Vec<&str> = reports
        .seen
        .iter()
        .map(|r| r["type"].as_str().unwrap_or("?"))
        .filter(|k| *k != "error")
        .collect();
    assert_eq!(
        kinds,
        ["open", "alert", "open", "alert", "alert"],
        "one reconnection, no reset or untyped message: {}",
        reports.dump()
    );
    // The page's own numbering has no gap: no report was lost on the way to the test.
    for (i, r) in reports.seen.iter().enumerate() {
        assert_eq!(r["n"], i, "{}", reports.dump());
    }

    drop(browser);
    assert_eq!(stop(collector), Some(0));
    eprintln!(
        "browser open after {opened:?}, whole test {:?}",
        started.elapsed()
    );
}
