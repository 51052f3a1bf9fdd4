//! The client against a real collector (`playtrace-server` in this process, or gone), a spool
//! that survives SIGKILL, and a collector answering 503 with Retry-After.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use playtrace_sdk::{Client, ClientConfig, Event};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A collector running in this process on a fixed address, stopped on drop.
struct Collector {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn start_collector(addr: SocketAddr, data: &Path) -> Collector {
    let config = playtrace_server::config::ServeConfig {
        listen: addr,
        data_dir: data.to_path_buf(),
        ..Default::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            playtrace_server::serve(
                config,
                async move {
                    let _ = stop_rx.await;
                },
                |_| {
                    let _ = ready_tx.send(());
                },
            )
            .await
            .unwrap();
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    Collector {
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Events the collector accepted, from its metrics.
fn accepted(addr: SocketAddr) -> u64 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let text = agent
        .get(format!("http://{addr}/metrics"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("playtrace_events_total{outcome=\"accepted\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn wait_for_accepted(addr: SocketAddr, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = accepted(addr);
        if got == want {
            return;
        }
        assert!(
            got < want,
            "stored {got} events, more than the {want} emitted"
        );
        assert!(
            Instant::now() < deadline,
            "only {got} of {want} events arrived"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn event(i: u64) -> Event {
    Event::new("telemetry.sdk.test")
        .session("s-1")
        .attr("n", i)
        .attr("hubId", "hub-a")
}

#[test]
fn events_reach_the_collector_and_flush_waits_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let _collector = start_collector(addr, &dir.path().join("data"));
    let mut config = ClientConfig::new(format!("http://{addr}"));
    config.game = Some("sdk-test".into());
    let client = Client::new(config).unwrap();
    for i in 0..25_000 {
        assert!(client.emit(event(i)));
    }
    client.flush(Duration::from_secs(30)).unwrap();
    // Acknowledged means stored: no waiting after flush.
    assert_eq!(accepted(addr), 25_000);
    assert_eq!(client.metrics().sent.load(Ordering::Relaxed), 25_000);
    assert_eq!(client.metrics().spooled.load(Ordering::Relaxed), 0);
}

#[test]
fn a_down_collector_fills_the_spool_and_it_drains_when_the_collector_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut config = ClientConfig::new(format!("http://{addr}"));
    config.spool_dir = Some(dir.path().join("spool"));
    config.max_backoff = Duration::from_millis(200);
    let client = Client::new(config).unwrap();
    for i in 0..5_000 {
        client.emit(event(i));
    }
    // Nothing listens: flush returns once the events are spooled.
    client.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(client.metrics().spooled.load(Ordering::Relaxed), 5_000);
    assert_eq!(client.metrics().sent.load(Ordering::Relaxed), 0);
    let _collector = start_collector(addr, &dir.path().join("data"));
    for i in 5_000..6_000 {
        client.emit(event(i));
    }
    wait_for_accepted(addr, 6_000);
}

#[test]
fn memory_is_bounded_when_nothing_can_be_sent_or_spooled() {
    let addr = free_addr();
    let mut config = ClientConfig::new(format!("http://{addr}"));
    config.memory_bound = 64 << 10;
    config.linger = Duration::from_secs(3600);
    config.batch_events = 1_000_000;
    let client = Client::new(config).unwrap();
    let mut dropped = 0;
    for i in 0..10_000 {
        if !client.emit(event(i)) {
            dropped += 1;
        }
    }
    assert!(dropped > 9_000, "only {dropped} dropped");
    assert!(client.queued() < 1_000);
    assert_eq!(
        client.metrics().dropped_memory.load(Ordering::Relaxed),
        dropped
    );
}

/// A stand-in collector that answers 503 with `Retry-After: 1` twice, then 200, recording when
/// each request came.
fn overloaded_collector() -> (SocketAddr, Arc<Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let log = log.clone();
            std::thread::spawn(move || loop {
                // Read one request: headers, then Content-Length bytes.
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(Instant::now());
                    log.len()
                };
                let answer = if n <= 2 {
                    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}"
                } else {
                    "HTTP/1.1 200 OK\r\nContent-Length: 44\r\n\r\n{\"accepted\":1,\"duplicates\":0,\"rejected\":[]}"
                };
                stream.write_all(answer.as_bytes()).unwrap();
            });
        }
    });
    (addr, seen)
}

#[test]
fn retry_after_is_waited_for_not_hammered() {
    let (addr, seen) = overloaded_collector();
    let mut config = ClientConfig::new(format!("http://{addr}"));
    config.gzip = false;
    let client = Client::new(config).unwrap();
    client.emit(event(1));
    client.flush(Duration::from_secs(20)).unwrap();
    let times = seen.lock().unwrap().clone();
    assert_eq!(times.len(), 3, "two 503s, then success: no extra requests");
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    }
    assert_eq!(client.metrics().sent.load(Ordering::Relaxed), 1);
    assert_eq!(client.metrics().retried.load(Ordering::Relaxed), 2);
}

/// Run as a child process by the SIGKILL test: emit, flush, say so, then wait to be killed.
#[test]
fn child_emitter() {
    let Ok(spec) = std::env::var("PLAYTRACE_SDK_CHILD") else {
        return;
    };
    let (url, spool) = spec.split_once('|').unwrap();
    let mut config = ClientConfig::new(url);
    config.spool_dir = Some(spool.into());
    config.memory_bound = 256 << 20;
    let client = Client::new(config).unwrap();
    for i in 0..100_000 {
        assert!(client.emit(event(i)));
    }
    client.flush(Duration::from_secs(60)).unwrap();
    println!("FLUSHED");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn events_flushed_before_a_sigkill_are_all_stored_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let spool = dir.path().join("spool");
    // The collector is down while the child emits 100,000 events and flushes.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_emitter",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(
            "PLAYTRACE_SDK_CHILD",
            format!("http://{addr}|{}", spool.display()),
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if line.map(|l| l.contains("FLUSHED")).unwrap_or(false) {
                let _ = tx.send(());
                return;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(90))
        .expect("the child never flushed");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // A new process (here: a new client) with the same spool, and the collector back.
    let _collector = start_collector(addr, &dir.path().join("data"));
    let mut config = ClientConfig::new(format!("http://{addr}"));
    config.spool_dir = Some(spool);
    let client = Client::new(config).unwrap();
    wait_for_accepted(addr, 100_000);
    drop(client);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(accepted(addr), 100_000, "exactly once");
}
