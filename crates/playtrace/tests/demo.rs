//! `playtrace demo` as a newcomer runs it: within 30 seconds the budgets show contests, the
//! stream carries events and a live alert has fired; Ctrl-C stops it with exit 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server;

use std::time::{Duration, Instant};

#[test]
fn the_demo_shows_budgets_events_and_alerts_within_30_seconds() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_playtrace"))
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--duration",
            "60s",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its log, line by line as it comes.
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let agent = server::agent();
    let get = |path: &str| -> serde_json::Value {
        agent
            .get(format!("{url}{path}"))
            .call()
            .ok()
            .and_then(|r| r.into_body().read_to_string().ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    // The collector comes up.
    while get("/readyz")["status"] != "ready" {
        assert!(
            Instant::now() < deadline,
            "the demo's collector never became ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The console is served at `/`, with a strict CSP.
    let page = agent.get(format!("{url}/")).call().unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.into_body().read_to_string().unwrap();
    assert!(html.contains("/console/app.js"), "{html}");
    let stream = server::subscribe(&url, "/v1/stream?topics=events", &[]);
    let (mut contests, mut alerts) = (false, false);
    while !(contests && alerts) {
        assert!(
            Instant::now() < deadline,
            "after 30 s: contests in budgets {contests}, a live alert {alerts}"
        );
        std::thread::sleep(Duration::from_millis(250));
        contests = get("/v1/budgets")["windows"][0]["budgets"][0]["samples"]
            .as_u64()
            .unwrap_or(0)
            > 0;
        alerts = get("/v1/alerts?state=firing")["alerts"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
    }
    let event = stream
        .next(Duration::from_secs(5))
        .expect("no event on the stream");
    assert_eq!(event.event, "event");
    assert_eq!(event.data["game"], "demo");
    // The console's URL comes first; a status line names the alerts that just fired.
    let mut log = Vec::new();
    while !log.iter().any(|l: &String| l.contains("just fired: ")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => panic!("no status line named a fired alert:\n{}", log.join("\n")),
        }
    }
    assert_eq!(
        log[0],
        format!("playtrace demo: open {url}/ (the live-ops console)"),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains(&format!("{url}/alerts/al_"))),
        "{log:?}"
    );
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    log.extend(lines.try_iter());
    let log = log.join("\n");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("playtrace demo: stopped"), "{log}");
    assert!(started.elapsed() < Duration::from_secs(40));
}
