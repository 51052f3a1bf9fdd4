//! Running the real `playtrace serve` binary on a loopback port, and a small HTTP client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A collector process on 127.0.0.1 with its own data directory.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Starts `playtrace serve` on a free port with `config` (TOML) and waits until it is ready.
pub fn start(data_dir: &Path, config: &str) -> Server {
    ready(spawn(data_dir, config))
}

/// Like [`start`], with extra environment variables (a hash secret, for instance).
pub fn start_env(data_dir: &Path, config: &str, env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_playtrace"));
    command.envs(env.iter().copied());
    ready(spawn_in(command, data_dir, config))
}

/// Like [`start`], with the process's open-file limit lowered to `nofile` (`ulimit -n`).
pub fn start_limited(data_dir: &Path, config: &str, nofile: u32) -> Server {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_playtrace"));
    ready(spawn_in(sh, data_dir, config))
}

/// Waits until `/readyz` answers 200 (the collector binds before it rebuilds its live state).
fn ready(server: Server) -> Server {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.get("/readyz", None).0 != 200 {
        assert!(Instant::now() < deadline, "server never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// Starts `playtrace serve` and returns once it listens (it may not be ready yet).
pub fn spawn(data_dir: &Path, config: &str) -> Server {
    spawn_in(
        Command::new(env!("CARGO_BIN_EXE_playtrace")),
        data_dir,
        config,
    )
}

fn spawn_in(mut command: Command, data_dir: &Path, config: &str) -> Server {
    let config_path = data_dir.with_extension("toml");
    std::fs::write(&config_path, config).unwrap();
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--config")
        .arg(&config_path)
        .env_remove("PLAYTRACE_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on ").nth(1) {
                let url = rest.split_whitespace().next().unwrap().to_string();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url);
                }
            }
            log2.lock().unwrap().push_str(&line);
            log2.lock().unwrap().push('\n');
        }
    });
    let url = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => url,
        Err(_) => {
            let _ = child.kill();
            panic!("server did not start:\n{}", log.lock().unwrap());
        }
    };
    Server {
        child,
        url,
        data_dir: data_dir.to_path_buf(),
        stderr: log,
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A response: status, `Retry-After`, body as JSON (or a string value when not JSON).
pub type Answer = (u16, Option<String>, serde_json::Value);

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut r = r.unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.body_mut().read_to_string().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, retry, json)
}

impl Server {
    pub fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = agent().get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        answer(req.call())
    }

    /// POSTs raw bytes with headers.
    pub fn post_with(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut req = agent().post(format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        answer(req.send(body))
    }

    /// POSTs NDJSON to /v1/events.
    pub fn ingest(&self, body: &str, token: Option<&str>) -> Answer {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/x-ndjson")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        self.post_with("/v1/events", &headers, body.as_bytes())
    }

    /// The `host:port` it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.url.trim_start_matches("http://").parse().unwrap()
    }

    /// Sends `request` as written on a new connection and reads until the server closes it
    /// (the request should say `Connection: close`): the status and the body.
    pub fn raw(&self, request: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut socket = std::net::TcpStream::connect(self.addr()).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        socket.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// One sample of `/metrics` (no labels), 0 when absent.
    pub fn metric(&self, name: &str) -> f64 {
        let (_, _, text) = self.get("/metrics", None);
        let text = text.as_str().unwrap_or_default().to_string();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = self.child.wait().unwrap().code();
        std::thread::sleep(Duration::from_millis(50));
        let log = self.stderr.lock().unwrap().clone();
        (code, log)
    }

    /// SIGKILL, no goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The store's database file.
    pub fn db(&self) -> PathBuf {
        self.data_dir.join("playtrace.db")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One native event line.
pub fn event(name: &str, id: &str, attrs: &str) -> String {
    format!(r#"{{"event":"{name}","id":"{id}","game":"gf","env":"prod","attrs":{attrs}}}"#)
}

/// One SSE message.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub id: Option<String>,
    pub event: String,
    pub data: serde_json::Value,
    /// When the message was read.
    pub at: Instant,
}

/// A subscriber reading `GET /v1/stream` on its own thread.
pub struct Subscriber {
    pub rx: std::sync::mpsc::Receiver<Sse>,
    pub status: u16,
}

impl Subscriber {
    /// The next message, or `None` after `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Sse> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The next `n` messages (panics after `timeout` without one).
    pub fn take(&self, n: usize, timeout: Duration) -> Vec<Sse> {
        (0..n)
            .map(|i| {
                self.next(timeout)
                    .unwrap_or_else(|| panic!("only {i} of {n} messages arrived"))
            })
            .collect()
    }
}

/// Subscribes to `path` (e.g. `/v1/stream?topics=alerts`) with optional headers.
pub fn subscribe(url: &str, path: &str, headers: &[(&str, &str)]) -> Subscriber {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(format!("{url}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = req.call().unwrap();
    let status = response.status().as_u16();
    let (tx, rx) = std::sync::mpsc::channel();
    if status == 200 {
        let reader = response.into_body().into_reader();
        std::thread::spawn(move || {
            let mut id = None;
            let mut event = String::from("message");
            let mut data = String::new();
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { return };
                if line.is_empty() {
                    if !data.is_empty() {
                        let value = serde_json::from_str(&data)
                            .unwrap_or(serde_json::Value::String(data.clone()));
                        let msg = Sse {
                            id: id.take(),
                            event: std::mem::replace(&mut event, "message".into()),
                            data: value,
                            at: Instant::now(),
                        };
                        if tx.send(msg).is_err() {
                            return;
                        }
                    }
                    data.clear();
                    continue;
                }
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
        });
    }
    Subscriber { rx, status }
}

/// Three tokens, one per scope, for scope tests.
pub const TOKENS: &str = r#"
[[tokens]]
name = "game"
secret = "ingest-secret-1"
scopes = ["ingest"]
[[tokens]]
name = "dashboard"
secret = "read-secret-1"
scopes = ["read"]
[[tokens]]
name = "ops"
secret = "admin-secret-1"
scopes = ["admin"]
"#;
