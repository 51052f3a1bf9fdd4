//! A loopback webhook receiver for the notification tests: records every request (headers,
//! JSON body, arrival time) and answers what the test's script says.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
    pub at: Instant,
}

/// What to answer: status, extra headers, body.
pub type Reply = (u16, Vec<(String, String)>, String);

/// Decides the answer to the `n`th request (0-based).
pub type Script = dyn Fn(usize, &Request) -> Reply + Send + Sync;

#[derive(Default)]
struct Log {
    requests: Vec<Request>,
}

/// A receiver on 127.0.0.1.
pub struct Hook {
    pub url: String,
    pub port: u16,
    log: Arc<(Mutex<Log>, Condvar)>,
}

pub fn ok() -> Reply {
    (200, vec![], "{\"ok\":true}".into())
}

/// A receiver answering 200 to everything.
pub fn start() -> Hook {
    start_with(Arc::new(|_, _| ok()))
}

/// A receiver on `port` (0: any free one) answering by `script`.
pub fn start_on(port: u16, script: Arc<Script>) -> Hook {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Arc<(Mutex<Log>, Condvar)> = Arc::default();
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (log, script) = (log2.clone(), script.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut headers = HashMap::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let len: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let request = Request {
                    path,
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    at: Instant::now(),
                };
                let n = {
                    let (lock, cv) = &*log;
                    let mut l = lock.lock().unwrap();
                    l.requests.push(request.clone());
                    cv.notify_all();
                    l.requests.len() - 1
                };
                let (status, extra, text) = script(n, &request);
                let mut answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n",
                    text.len()
                );
                for (k, v) in extra {
                    answer.push_str(&format!("{k}: {v}\r\n"));
                }
                answer.push_str("\r\n");
                answer.push_str(&text);
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    Hook {
        url: format!("http://127.0.0.1:{port}"),
        port,
        log,
    }
}

/// A receiver on any free port answering by `script`.
pub fn start_with(script: Arc<Script>) -> Hook {
    start_on(0, script)
}

impl Hook {
    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.log.0.lock().unwrap().requests.clone()
    }

    /// Waits (at most `timeout`) until `n` requests arrived; returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.log;
        let mut l = lock.lock().unwrap();
        while l.requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {n} requests arrived: {:#?}",
                l.requests.len(),
                l.requests.iter().map(|r| &r.body).collect::<Vec<_>>()
            );
            l = cv.wait_timeout(l, left).unwrap().0;
        }
        l.requests.clone()
    }
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
