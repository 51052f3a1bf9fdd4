//! Many games on one collector (`[[games]]`, `[limits]`, `[[sampling]]`): a game over its rate
//! is refused 429 with `Retry-After` while the others are served; a flooding session keeps
//! exactly its daily cap and the rest is counted and alerted on; sampling keeps whole sessions
//! and never contest events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server;

use serde_json::Value;
use server::{start, Server};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");

fn lines(game: &str, session: &str, n: usize, attrs: &str) -> String {
    (0..n)
        .map(|_| {
            format!(
                r#"{{"event":"player.frame","game":"{game}","session":"{session}","attrs":{attrs}}}"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn post(s: &Server, body: &str) -> (u16, Option<String>, Value) {
    s.post_with("/v1/events", &[NDJSON], body.as_bytes())
}

/// A labelled sample of `/metrics`, 0 when absent.
fn labelled(s: &Server, series: &str) -> f64 {
    let (_, _, text) = s.get("/metrics", None);
    text.as_str()
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

#[test]
fn a_game_over_its_rate_gets_429_with_retry_after_and_another_game_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[[games]]\nname = \"flood\"\nevents_per_second = 5\nburst = 20\n",
    );
    let (status, _, answer) = post(&s, &lines("flood", "s", 20, "{}"));
    assert_eq!(
        (status, &answer["accepted"]),
        (200, &Value::from(20)),
        "{answer}"
    );
    let (status, retry, answer) = post(&s, &lines("flood", "s", 10, "{}"));
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error"]["code"], "rate_limited", "{answer}");
    let retry: u32 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");

    // While `flood` keeps sending, `calm` (no limit) is answered 200 with every event stored.
    let flooder = {
        let url = s.url.clone();
        std::thread::spawn(move || {
            let agent = server::agent();
            let body = lines("flood", "s", 50, "{}");
            let mut refused = 0;
            for _ in 0..200 {
                let r = agent
                    .post(format!("{url}/v1/events"))
                    .header("Content-Type", "application/x-ndjson")
                    .send(body.as_bytes())
                    .unwrap();
                refused += u32::from(r.status().as_u16() == 429);
            }
            refused
        })
    };
    for _ in 0..30 {
        let (status, _, answer) = post(&s, &lines("calm", "c", 50, "{}"));
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["accepted"], 50, "{answer}");
    }
    let refused = flooder.join().unwrap();
    assert!(
        refused >= 150,
        "only {refused} of 200 flood requests were refused"
    );
    let hits = labelled(
        &s,
        "playtrace_limit_hits_total{game=\"flood\",limit=\"events_per_second\"}",
    );
    assert!(hits >= 10.0 + 50.0 * 150.0, "{hits}");
}

#[test]
fn a_flooding_session_keeps_exactly_its_cap_the_rest_is_counted_and_alerted() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[limits]\nalert_hits = 50\n[[games]]\nname = \"gf\"\nsession_events_per_day = 40\n",
    );
    let mut accepted = 0;
    let mut dropped = 0;
    for _ in 0..4 {
        let (status, _, answer) = post(
            &s,
            &lines("gf", "flood", 25, r#"{"clientVersion":"1.4.0-bad"}"#),
        );
        assert_eq!(status, 200, "{answer}");
        accepted += answer["accepted"].as_u64().unwrap();
        dropped += answer["dropped"]["session_events_per_day"]
            .as_u64()
            .unwrap_or(0);
    }
    assert_eq!((accepted, dropped), (40, 60));
    // Another session of the same game is not touched.
    let (_, _, answer) = post(&s, &lines("gf", "quiet", 10, "{}"));
    assert_eq!(answer["accepted"], 10, "{answer}");
    assert!(answer.get("dropped").is_none(), "{answer}");
    let (_, _, page) = s.get("/v1/events?session=flood&limit=1000", None);
    assert_eq!(page["events"].as_array().unwrap().len(), 40, "{page}");
    let hits = labelled(
        &s,
        "playtrace_limit_hits_total{game=\"gf\",limit=\"session_events_per_day\"}",
    );
    assert_eq!(hits, 60.0);

    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let (_, _, list) = s.get("/v1/alerts?category=pipeline", None);
        let found = list["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["reason"] == "limit.session_events_per_day")
            .cloned();
        if let Some(a) = found {
            break a;
        }
        assert!(Instant::now() < deadline, "no limit alert: {list}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(alert["game"], "gf", "{alert}");
    assert_eq!(alert["data"]["limit"], "session_events_per_day", "{alert}");
    assert_eq!(
        alert["data"]["topSessions"][0]["session"], "flood",
        "{alert}"
    );
    assert_eq!(
        alert["data"]["topBuilds"][0]["build"], "1.4.0-bad",
        "{alert}"
    );
}

#[test]
fn sampling_keeps_a_tenth_of_sessions_whole_and_every_contest_event() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[[sampling]]\nevent = \"player.frame\"\nsample = 0.1\n",
    );
    let sessions = 10_000;
    // Each request holds one frame of every session, so a session's frames arrive apart.
    for k in 0..3 {
        let body: Vec<String> = (0..sessions)
            .map(|i| {
                format!(
                    r#"{{"event":"player.frame","game":"gf","session":"s{i}","attrs":{{"k":{k}}}}}"#
                )
            })
            .collect();
        let (status, _, answer) = post(&s, &body.join("\n"));
        assert_eq!(status, 200, "{answer}");
    }
    let contests: Vec<String> = (0..sessions)
        .map(|i| {
            format!(
                r#"{{"event":"telemetry.contest.resolved","game":"gf","session":"s{i}","attrs":{{"contestId":"c{i}","resolutionDurationMs":5}}}}"#
            )
        })
        .collect();
    let (_, _, answer) = post(&s, &contests.join("\n"));
    assert_eq!(
        answer["accepted"], sessions,
        "contest events are never sampled: {answer}"
    );

    let mut frames: BTreeMap<String, usize> = BTreeMap::new();
    let mut after = 0;
    loop {
        let (_, _, page) = s.get(
            &format!("/v1/events?name=player.frame&limit=1000&after={after}"),
            None,
        );
        let events = page["events"].as_array().unwrap();
        for e in events {
            *frames
                .entry(e["session"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        let next = page["next"].as_i64().unwrap();
        if events.is_empty() && !page["scanLimited"].as_bool().unwrap() || next == after {
            break;
        }
        after = next;
    }
    // 10% of 10,000 sessions: σ = 30, the bounds are 5σ.
    assert!(
        (850..=1150).contains(&frames.len()),
        "{} sessions kept",
        frames.len()
    );
    assert!(
        frames.values().all(|&n| n == 3),
        "a kept session lost frames"
    );
    let out = labelled(
        &s,
        "playtrace_sampled_out_total{game=\"gf\",event=\"player.frame\"}",
    );
    assert_eq!(out as usize, (sessions - frames.len()) * 3);
}

#[test]
fn a_retried_batch_takes_no_place_under_the_daily_caps() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[[games]]\nname = \"gf\"\nsession_events_per_day = 10\nplayer_events_per_day = 10\n",
    );
    let batch = |from: usize, n: usize| {
        (from..from + n)
            .map(|i| {
                format!(
                    r#"{{"event":"player.frame","id":"e{i}","game":"gf","session":"s","attrs":{{"playerId":"p"}}}}"#
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (status, _, answer) = post(&s, &batch(0, 4));
    assert_eq!(
        (status, &answer["accepted"]),
        (200, &Value::from(4)),
        "{answer}"
    );
    // The client did not see the answers and sends the same batch twice more: duplicates.
    for _ in 0..2 {
        let (status, _, answer) = post(&s, &batch(0, 4));
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["duplicates"], 4, "{answer}");
        assert!(answer.get("dropped").is_none(), "{answer}");
    }
    // The session and the player still have exactly 6 places left today.
    let (_, _, answer) = post(&s, &batch(4, 6));
    assert_eq!(answer["accepted"], 6, "{answer}");
    assert!(answer.get("dropped").is_none(), "{answer}");
    let (_, _, answer) = post(&s, &batch(10, 1));
    assert_eq!(answer["accepted"], 0, "{answer}");
    assert_eq!(answer["dropped"]["session_events_per_day"], 1, "{answer}");
    let (_, _, page) = s.get("/v1/events?session=s&limit=100", None);
    assert_eq!(page["events"].as_array().unwrap().len(), 10, "{page}");
}

#[test]
fn a_flooding_game_is_refused_while_another_keeps_its_latency() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("data"),
        "[[games]]\nname = \"flood\"\nevents_per_second = 100\nburst = 200\n",
    );
    let calm_p99 = |s: &Server, round: &str| {
        let mut took = Vec::new();
        for i in 0..60 {
            let body = (0..20)
                .map(|k| {
                    format!(r#"{{"event":"player.frame","id":"{round}{i}-{k}","game":"calm","session":"c"}}"#)
                })
                .collect::<Vec<_>>()
                .join("\n");
            let started = Instant::now();
            let (status, retry, answer) = post(s, &body);
            took.push(started.elapsed());
            assert_eq!((status, retry), (200, None), "{answer}");
            assert_eq!(answer["accepted"], 20, "{answer}");
        }
        took.sort();
        took[took.len() * 99 / 100]
    };
    let quiet = calm_p99(&s, "quiet");

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooders: Vec<_> = (0..2)
        .map(|t| {
            let (url, stop) = (s.url.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent = server::agent();
                let body = lines("flood", &format!("f{t}"), 100, "{}");
                let (mut ok, mut refused) = (0u32, 0u32);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = agent
                        .post(format!("{url}/v1/events"))
                        .header("Content-Type", "application/x-ndjson")
                        .send(body.as_bytes())
                        .unwrap();
                    match r.status().as_u16() {
                        200 => ok += 1,
                        429 => {
                            let retry = r.headers().get("retry-after").expect("Retry-After");
                            let secs: u32 = retry.to_str().unwrap().parse().unwrap();
                            assert!(secs >= 1, "Retry-After {secs}");
                            refused += 1;
                        }
                        other => panic!("flood answered {other}"),
                    }
                }
                (ok, refused)
            })
        })
        .collect();
    let flooded = calm_p99(&s, "flooded");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut refused) = (0, 0);
    for f in flooders {
        let (o, r) = f.join().unwrap();
        ok += o;
        refused += r;
    }
    assert!(
        refused > ok,
        "the flood was mostly let in: {ok} stored, {refused} refused"
    );
    // A generous absolute bound (the machine may be loaded): a flood of refused requests must
    // not make the other game wait for it.
    assert!(
        flooded < Duration::from_secs(5),
        "calm's p99 went from {quiet:?} to {flooded:?} under the flood"
    );
}
