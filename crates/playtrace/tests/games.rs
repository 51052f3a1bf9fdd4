//! Which game a line belongs to: a line's own `game`, else the request's (`?game=`,
//! `X-PlayTrace-Game`), else the token's; a token bound to a game sends only that game. With
//! the request's game, the collector counts the same contests as `playtrace monitor`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod server;

use common::playtrace;
use serde_json::Value;
use server::start;
use std::collections::HashSet;
use std::path::PathBuf;

fn contests_example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/telemetry/contests.ndjson")
}

const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");

#[test]
fn the_example_posted_with_its_game_equals_the_monitor() {
    let dir = tempfile::tempdir().unwrap();
    // A launched contest counts as unresolved at once, as in the monitor's whole-run view.
    let s = start(
        &dir.path().join("data"),
        "[contests]\nunresolved_after = \"1ms\"\n",
    );
    let body = std::fs::read(contests_example()).unwrap();
    let (status, _, answer) = s.post_with("/v1/events?game=glass-frontier", &[NDJSON], &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 99, "{answer}");

    let out = playtrace()
        .args(["monitor", "--format", "json"])
        .arg(contests_example())
        .output()
        .unwrap();
    let monitor: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(monitor["durations"]["arming"]["samples"], 23, "{monitor}");

    let (_, _, budgets) = s.get("/v1/budgets", None);
    for window in budgets["windows"].as_array().unwrap() {
        for metric in ["arming", "resolution"] {
            let live = window["budgets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["metric"] == metric)
                .unwrap();
            let offline = &monitor["durations"][metric];
            for key in ["samples", "p95"] {
                assert_eq!(
                    live[key], offline[key],
                    "{metric}.{key} in {}",
                    window["window"]
                );
            }
        }
    }

    // Each contest once, all of the request's game.
    let (_, _, listed) = s.get("/v1/contests?limit=1000", None);
    let contests = listed["contests"].as_array().unwrap();
    let ids: Vec<&str> = contests.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let unique: HashSet<&&str> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a contest is listed twice: {ids:?}"
    );
    // The monitor counts contests that launched apart from arming that expired.
    let totals = &monitor["totals"];
    assert_eq!(
        ids.len() as u64,
        totals["contestsObserved"].as_u64().unwrap() + totals["expiredContests"].as_u64().unwrap(),
        "{ids:?}"
    );
    assert!(
        contests.iter().all(|c| c["game"] == "glass-frontier"),
        "{listed}"
    );
    let want = monitor["totals"]["unresolvedContests"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let unresolved = loop {
        // `unresolved_after` is measured from the receive time: the next millisecond at most.
        let (_, _, unresolved) = s.get("/v1/contests?state=unresolved&limit=1000", None);
        if !unresolved["contests"].as_array().unwrap().is_empty()
            || std::time::Instant::now() > deadline
        {
            break unresolved;
        }
    };
    assert_eq!(
        unresolved["contests"].as_array().unwrap().len() as u64,
        want,
        "{unresolved}"
    );
}

#[test]
fn a_lines_own_game_wins_over_the_requests() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), "");
    let body = concat!(
        r#"{"event":"a","id":"1"}"#,
        "\n",
        r#"{"event":"b","id":"2","game":"other"}"#,
        "\n"
    );
    let (status, _, answer) = s.post_with("/v1/events?game=first", &[NDJSON], body.as_bytes());
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(2)));
    let (status, _, answer) = s.post_with(
        "/v1/events",
        &[NDJSON, ("X-PlayTrace-Game", "second")],
        br#"{"event":"c","id":"3"}"#,
    );
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)));
    let (_, _, answer) = s.post_with("/v1/events", &[NDJSON], br#"{"event":"d","id":"4"}"#);
    assert_eq!(answer["accepted"], 1);
    let (_, _, events) = s.get("/v1/events", None);
    let games: Vec<(&str, &Value)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), &e["game"]))
        .collect();
    assert_eq!(
        games,
        [
            ("a", &Value::from("first")),
            ("b", &Value::from("other")),
            ("c", &Value::from("second")),
            ("d", &Value::Null)
        ]
    );
}

const SCOPED: &str = r#"
[[tokens]]
name = "frontier"
secret = "frontier-secret-1"
scopes = ["ingest", "read"]
game = "glass-frontier"
[[tokens]]
name = "any"
secret = "any-game-secret-1"
scopes = ["ingest", "read"]
"#;

#[test]
fn a_token_bound_to_a_game_sends_only_that_game() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), SCOPED);
    let auth = ("Authorization", "Bearer frontier-secret-1");
    let body = concat!(
        r#"{"event":"a","id":"1"}"#,
        "\n",
        r#"{"event":"b","id":"2","game":"glass-frontier"}"#,
        "\n",
        r#"{"event":"c","id":"3","game":"other-game"}"#,
        "\n",
        r#"[{"event":"d","id":"4","game":"other-game"}]"#,
        "\n"
    );
    let (status, _, answer) = s.post_with("/v1/events", &[NDJSON, auth], body.as_bytes());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 2, "{answer}");
    let rejected = answer["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{answer}");
    for (r, line) in rejected.iter().zip([3, 4]) {
        assert_eq!(r["line"], line);
        assert_eq!(r["kind"], "schema");
        let message = r["message"].as_str().unwrap();
        assert!(
            message.contains("other-game") && message.contains("scoped to game `glass-frontier`"),
            "{message}"
        );
    }
    let (_, _, events) = s.get("/v1/events", Some("frontier-secret-1"));
    let games: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["game"])
        .collect();
    assert_eq!(games, [&Value::from("glass-frontier"); 2]);

    // Asking for another game with that token is refused outright.
    let (status, _, answer) = s.post_with(
        "/v1/events?game=other-game",
        &[NDJSON, auth],
        br#"{"event":"e","id":"5"}"#,
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("scoped to game `glass-frontier`"));

    // A token without a game takes the request's.
    let (status, _, answer) = s.post_with(
        "/v1/events?game=other-game",
        &[NDJSON, ("Authorization", "Bearer any-game-secret-1")],
        br#"{"event":"f","id":"6"}"#,
    );
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)));
    let (_, _, events) = s.get("/v1/events?game=other-game", Some("any-game-secret-1"));
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "{events}");
}

#[test]
fn admin_alerts_take_the_game_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), SCOPED);
    let alert = |game: Option<&str>| {
        let mut body = serde_json::json!({
            "id": "adm-1", "sessionId": "s-1", "severity": "high", "reason": "griefing",
            "data": {}, "createdAt": "2026-01-01T00:00:00Z"
        });
        if let Some(g) = game {
            body["game"] = g.into();
        }
        body.to_string()
    };
    let auth = ("Authorization", "Bearer frontier-secret-1");
    let json = ("Content-Type", "application/json");
    let (status, _, answer) = s.post_with("/v1/alerts", &[json, auth], alert(None).as_bytes());
    assert_eq!(status, 200, "{answer}");
    let (_, _, alerts) = s.get("/v1/alerts", Some("frontier-secret-1"));
    assert_eq!(alerts["alerts"][0]["game"], "glass-frontier", "{alerts}");
    let (status, _, answer) = s.post_with(
        "/v1/alerts",
        &[json, auth],
        alert(Some("other-game")).as_bytes(),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("scoped to game `glass-frontier`"));
}
