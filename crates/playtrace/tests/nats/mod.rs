//! NATS servers for the cluster tests: a `nats-server` of 2.10.23 or later (scripts/test finds
//! or installs one with `scripts/nats-server`; `$PLAYTRACE_NATS_SERVER` names another binary),
//! three of them clustered with JetStream on loopback, each one killable and restartable with
//! its store.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::server::Server;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The nats-server the cluster tests run: `$PLAYTRACE_NATS_SERVER`, else the one
/// `scripts/nats-server` unpacked into `.cache/nats-server`, else `nats-server` on PATH. It must
/// be 2.10.23 or later: older servers can give two collectors different messages at the same
/// stream sequence after a server is killed (docs/CLUSTER.md), which these tests would report
/// as a PlayTrace bug now and then.
pub fn nats_binary() -> PathBuf {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FOUND.get_or_init(find_nats).clone()
}

fn find_nats() -> PathBuf {
    let cached = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/nats-server/nats-server");
    let found = std::env::var_os("PLAYTRACE_NATS_SERVER")
        .map(PathBuf::from)
        .or_else(|| cached.is_file().then_some(cached))
        .or_else(|| {
            std::env::var("PATH")
                .unwrap_or_default()
                .split(':')
                .chain(["/usr/sbin", "/usr/bin"])
                .map(|dir| Path::new(dir).join("nats-server"))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "nats-server is not installed: run scripts/nats-server (it installs 2.10.23 or \
                 later into .cache/nats-server), or set PLAYTRACE_NATS_SERVER to its binary"
            )
        });
    let out = Command::new(&found).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let version: Vec<u32> = text
        .trim()
        .rsplit(['v', ' '])
        .next()
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    assert!(
        version >= vec![2, 10, 23],
        "{} is {}: the cluster tests need nats-server 2.10.23 or later (docs/CLUSTER.md, \
         \"Which NATS server\"); run scripts/nats-server to install one into .cache/nats-server",
        found.display(),
        text.trim()
    );
    found
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A cluster test's directory, deleted when the test passes and kept when it fails (its path
/// printed), so the NATS servers' logs and the stores can be read afterwards.
pub struct TestDir(Option<tempfile::TempDir>);

impl TestDir {
    pub fn new() -> TestDir {
        TestDir(Some(tempfile::tempdir().unwrap()))
    }

    pub fn path(&self) -> &Path {
        self.0.as_ref().unwrap().path()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(dir) = self.0.take() {
                eprintln!("test directory kept: {}", dir.keep().display());
            }
        }
    }
}

/// One NATS server of the cluster (its config and store survive a restart).
pub struct Nats {
    child: Option<Child>,
    config: PathBuf,
    pub port: u16,
}

impl Nats {
    /// The server's log (every start appends to it), for a failing test to show.
    pub fn log_path(&self) -> PathBuf {
        self.config.with_extension("log")
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(nats_binary())
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three NATS servers with JetStream, clustered on loopback.
pub fn nats_cluster(dir: &Path) -> Vec<Nats> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let mut servers: Vec<Nats> = (0..3)
        .map(|i| {
            let routes: Vec<String> = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, c))| format!("nats-route://127.0.0.1:{c}"))
                .collect();
            let store = dir.join(format!("nats-{i}"));
            let config = dir.join(format!("nats-{i}.conf"));
            std::fs::write(
                &config,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:{}\njetstream {{ store_dir: \"{}\" }}\n\
                     cluster {{ name: playtrace-test\n listen: 127.0.0.1:{}\n no_advertise: true\n routes: [{}] }}\n",
                    ports[i].0,
                    store.display(),
                    ports[i].1,
                    routes.join(", ")
                ),
            )
            .unwrap();
            Nats {
                child: None,
                config,
                port: ports[i].0,
            }
        })
        .collect();
    for s in &mut servers {
        s.start();
    }
    servers
}

/// One NATS server with JetStream, alone (no cluster).
pub fn nats_single(dir: &Path) -> Nats {
    let port = free_port();
    let config = dir.join("nats-single.conf");
    std::fs::write(
        &config,
        format!(
            "server_name: single\nlisten: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n",
            dir.join("nats-single").display()
        ),
    )
    .unwrap();
    let mut nats = Nats {
        child: None,
        config,
        port,
    };
    nats.start();
    nats
}

/// One JetStream API request over the plain NATS protocol (`$JS.API.<api>` with a JSON body):
/// its JSON answer. Enough to create a stream with limits the collector does not set.
pub fn jetstream_request(port: u16, api: &str, body: &str) -> serde_json::Value {
    use std::io::{BufRead, BufReader, Read, Write};
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = String::new();
    reader.read_line(&mut line).unwrap(); // INFO
    write!(
        writer,
        "CONNECT {{\"verbose\":false}}\r\nSUB _INBOX.test 1\r\nPUB $JS.API.{api} _INBOX.test {}\r\n{body}\r\n",
        body.len()
    )
    .unwrap();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if let Some(rest) = line.strip_prefix("MSG ") {
            let size: usize = rest.split_whitespace().last().unwrap().parse().unwrap();
            let mut payload = vec![0; size + 2];
            reader.read_exact(&mut payload).unwrap();
            return serde_json::from_slice(&payload[..size]).unwrap();
        }
        if line.starts_with("PING") {
            writer.write_all(b"PONG\r\n").unwrap();
        }
        assert!(!line.starts_with("-ERR"), "nats-server: {line}");
    }
}

/// Waits until the collector is in the cluster and has applied everything the log holds: the
/// stream position it applied up to.
pub fn caught_up(s: &Server, deadline: Instant) -> u64 {
    loop {
        let (status, _, body) = s.get("/v1/cluster", None);
        if status == 200 && body["applied"] == body["streamLast"] {
            return body["applied"].as_u64().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "node never caught up: {status} {body}\n{}",
            s.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ingests `body` through `s`, again after each 503 as a client does (a new stream elects its
/// leader first; a killed server leaves the log unavailable for a while): the answer.
pub fn ingest_acked(s: &Server, body: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, answer) = s.ingest(body, None);
        if status == 200 {
            return answer;
        }
        assert_eq!(status, 503, "{answer}");
        assert!(Instant::now() < deadline, "never acknowledged: {answer}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
