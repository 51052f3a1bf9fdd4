//! PlayTrace as an alert source for a real Alertmanager (Debian's `prometheus-alertmanager`;
//! `scripts/test` installs it; never skipped: without it the test fails and says how to get it).
//! A flagged event's alert appears in Alertmanager's `GET /api/v2/alerts` with PlayTrace's
//! labels, Alertmanager's own webhook receiver (a loopback server here) gets it, and resolving
//! it in PlayTrace ends it in Alertmanager and reaches that receiver as resolved.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hook;
mod server;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `prometheus-alertmanager` (Debian's name) or `alertmanager`: `$PLAYTRACE_ALERTMANAGER` when
/// set, else from PATH.
fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("PLAYTRACE_ALERTMANAGER") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("prometheus-alertmanager"), d.join("alertmanager")])
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "Alertmanager is not installed: run scripts/test (it installs Debian's \
                 prometheus-alertmanager package), or set PLAYTRACE_ALERTMANAGER to its binary"
            )
        })
}

struct Alertmanager {
    child: Child,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    /// Alertmanager's active alerts (`None` while it is not answering yet).
    fn alerts(&self) -> Option<Vec<Value>> {
        let mut r = server::agent()
            .get(format!("{}/api/v2/alerts", self.url))
            .call()
            .ok()?;
        if r.status().as_u16() != 200 {
            return None;
        }
        serde_json::from_str::<Value>(&r.body_mut().read_to_string().ok()?)
            .ok()?
            .as_array()
            .cloned()
    }
}

fn start_alertmanager(dir: &std::path::Path, webhook: &str) -> Alertmanager {
    let port = hook::free_port();
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: ['alertname']\n  group_wait: 1s\n  \
             group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    \
             webhook_configs:\n      - url: '{webhook}'\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let child = Command::new(binary())
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut am = Alertmanager {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while am.alerts().is_none() {
        if let Ok(Some(status)) = am.child.try_wait() {
            panic!("Alertmanager exited ({status}) at start");
        }
        assert!(Instant::now() < deadline, "Alertmanager never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    am
}

/// The Alertmanager side of "Send alerts to Slack/PagerDuty via Alertmanager" in
/// docs/CONFIG.md passes Alertmanager's own check.
#[test]
fn the_documented_alertmanager_config_is_valid() {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIG.md"),
    )
    .unwrap();
    let section = &doc[doc
        .find("## Send alerts to Slack/PagerDuty via Alertmanager")
        .unwrap()..];
    let yaml = section.split("```yaml\n").nth(1).unwrap();
    let yaml = &yaml[..yaml.find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alertmanager.yml");
    std::fs::write(&path, yaml).unwrap();
    let amtool = binary().with_file_name("amtool");
    let out = Command::new(&amtool)
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", amtool.display()));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2 receivers"), "{text}");
}

fn ours(alerts: &[Value]) -> Option<Value> {
    alerts
        .iter()
        .find(|a| a["labels"]["session"] == "am-1")
        .cloned()
}

#[test]
fn alerts_reach_a_real_alertmanager_and_end_there_when_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let hook = hook::start();
    let am = start_alertmanager(dir.path(), &format!("{}/from-am", hook.url));
    let config = format!(
        "[[notify.receivers]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"{}\"\n\
         resend_interval = \"10s\"\n",
        am.url
    );
    let s = server::start(&dir.path().join("data"), &config);
    let flagged = r#"{"event":"narrative.check","id":"f1","game":"gf","env":"prod","session":"am-1","attrs":{"checkId":"c1","roomId":"pier","safetyFlags":["prohibited-capability"]}}"#;
    let acknowledged = Instant::now();
    assert_eq!(s.ingest(flagged, None).0, 200);

    // In Alertmanager within its group_wait (1 s) + 2 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        if let Some(a) = am.alerts().as_deref().and_then(ours) {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "the alert never reached Alertmanager"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = acknowledged.elapsed();
    assert!(took <= Duration::from_secs(3), "took {took:?}");
    let labels = &alert["labels"];
    assert_eq!(labels["category"], "moderation");
    assert_eq!(labels["severity"], "high");
    assert_eq!(labels["game"], "gf");
    assert_eq!(labels["env"], "prod");
    let (_, _, list) = s.get("/v1/alerts", None);
    let ours_in_playtrace = &list["alerts"][0];
    assert_eq!(labels["alertname"], ours_in_playtrace["rule"]);
    assert_eq!(
        alert["generatorURL"],
        format!(
            "{}/alerts/{}",
            s.url,
            ours_in_playtrace["id"].as_str().unwrap()
        )
    );
    assert!(alert["annotations"]["summary"].is_string());
    assert_eq!(alert["status"]["state"], "active");

    // Alertmanager's own routing sends it to its webhook receiver: the chain works.
    let firing = hook.wait_for(1, Duration::from_secs(30));
    assert_eq!(firing[0].path, "/from-am");
    assert_eq!(firing[0].body["status"], "firing");
    assert_eq!(firing[0].body["alerts"][0]["labels"]["session"], "am-1");

    // Resolved in PlayTrace: it ends in Alertmanager, whose receiver hears so.
    let id = ours_in_playtrace["id"].as_str().unwrap();
    let (status, _, _) = s.post_with(&format!("/v1/alerts/{id}/resolve"), &[], b"");
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while am.alerts().as_deref().and_then(ours).is_some() {
        assert!(
            Instant::now() < deadline,
            "the alert never ended in Alertmanager"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resolved = hook.requests().iter().any(|r| {
            r.body["status"] == "resolved" && r.body["alerts"][0]["labels"]["session"] == "am-1"
        });
        if resolved {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Alertmanager never sent the resolution"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
