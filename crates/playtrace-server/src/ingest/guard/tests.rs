use super::*;
use crate::config::ServeConfig;
use crate::ingest::json::{parse_body, BodyFormat};
use crate::ingest::GameScope;

fn guard(toml: &str) -> (Guard, RuleSet) {
    let c = ServeConfig::from_toml(toml, "test").unwrap();
    (Guard::new(c.games), c.rules)
}

fn parsed(lines: &[String]) -> Parsed {
    let body = lines.join("\n");
    parse_body(
        Parsed::new(GameScope::default()),
        body.as_bytes(),
        BodyFormat::Ndjson,
        1 << 20,
    )
}

fn line(game: &str, name: &str, session: &str, attrs: &str) -> String {
    format!(r#"{{"event":"{name}","game":"{game}","session":"{session}","attrs":{attrs}}}"#)
}

#[test]
fn nothing_configured_changes_nothing() {
    let (g, rules) = guard("");
    let mut p = parsed(&[line("a", "x", "s", "{}")]);
    let a = g.admit(&mut p, &rules, 0.0).unwrap();
    assert!(a.dropped.is_empty() && a.flagged.is_empty());
    assert_eq!(p.events.len(), 1);
}

#[test]
fn a_game_over_its_rate_is_refused_whole_and_others_pass() {
    let (g, rules) = guard("[[games]]\nname = \"a\"\nevents_per_second = 2\nburst = 3\n");
    let three: Vec<String> = (0..3).map(|_| line("a", "x", "s", "{}")).collect();
    g.admit(&mut parsed(&three), &rules, 0.0).unwrap();
    let err = g.admit(&mut parsed(&three[..1]), &rules, 0.0).unwrap_err();
    assert_eq!((err.game.as_str(), err.retry_after), ("a", 1));
    // Game b has no limit; a mixed request is refused for a alone.
    let many: Vec<String> = (0..100).map(|_| line("b", "x", "s", "{}")).collect();
    g.admit(&mut parsed(&many), &rules, 0.0).unwrap();
    // 1.5 s later a's bucket holds 3 again.
    g.admit(&mut parsed(&three), &rules, 1500.0).unwrap();
    let mut text = String::new();
    g.render(&mut text);
    assert!(
        text.contains("playtrace_limit_hits_total{game=\"a\",limit=\"events_per_second\"} 1"),
        "{text}"
    );
}

#[test]
fn a_session_cap_keeps_exactly_n_then_drops_or_flags() {
    let (g, rules) = guard("[limits]\nsession_events_per_day = 3\n");
    let five: Vec<String> = (0..5)
        .map(|i| line("a", "x", "s1", &format!("{{\"i\":{i}}}")))
        .collect();
    let mut p = parsed(&five);
    let a = g.admit(&mut p, &rules, 0.0).unwrap();
    assert_eq!(p.events.len(), 3);
    assert!(p.events[2].body.contains("\"i\":2"));
    assert_eq!(a.dropped["session_events_per_day"], 2);
    let mut p = parsed(&five[..1]);
    g.admit(&mut p, &rules, 0.0).unwrap();
    assert!(p.events.is_empty());

    let (g, rules) = guard("[limits]\nplayer_events_per_day = 1\nover_daily_cap = \"flag\"\n");
    let two: Vec<String> = (0..2)
        .map(|i| line("a", "x", &format!("s{i}"), r#"{"playerId":"p1"}"#))
        .collect();
    let mut p = parsed(&two);
    let a = g.admit(&mut p, &rules, 0.0).unwrap();
    assert_eq!(p.events.len(), 2);
    assert_eq!(a.flagged["player_events_per_day"], 1);
    assert!(!p.events[0].body.contains("playtraceLimit"));
    assert!(
        p.events[1]
            .body
            .contains(r#""playtraceLimit":"player_events_per_day""#),
        "{}",
        p.events[1].body
    );
}

#[test]
fn sampling_keeps_whole_sessions_and_never_contests_and_renumbers_observations() {
    let (g, rules) = guard("[[sampling]]\nevent = \"player.*\"\nsample = 0.5\n");
    let mut lines = Vec::new();
    for s in 0..200 {
        for _ in 0..3 {
            lines.push(line("a", "player.frame", &format!("s{s}"), "{}"));
        }
        lines.push(line(
            "a",
            "telemetry.contest.resolved",
            &format!("s{s}"),
            &format!(r#"{{"contestId":"c{s}","resolutionDurationMs":5}}"#),
        ));
    }
    let mut p = parsed(&lines);
    let a = g.admit(&mut p, &rules, 0.0).unwrap();
    let mut frames: BTreeMap<String, usize> = BTreeMap::new();
    for e in p.events.iter().filter(|e| e.name == "player.frame") {
        *frames
            .entry(e.session.as_deref().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(frames.values().all(|&n| n == 3), "{frames:?}");
    assert!((60..=140).contains(&frames.len()), "{}", frames.len());
    assert_eq!(a.dropped["sampled"] as usize, (200 - frames.len()) * 3);
    let contests = p
        .events
        .iter()
        .filter(|e| e.name.starts_with("telemetry."))
        .count();
    assert_eq!(contests, 200);
    // Every observation still points at its own event.
    assert_eq!(p.observations.observations.len(), 200);
    for o in &p.observations.observations {
        assert_eq!(p.events[o.line as usize].name, "telemetry.contest.resolved");
    }
}

#[test]
fn sampling_never_drops_an_event_the_plan_marks_required() {
    let (g, rules) = guard("[[sampling]]\nevent = \"player.*\"\nsample = 0.0\n");
    let plan = playtrace_plan::Plan::from_files(vec![
        (
            "player.purchase.json".to_string(),
            r#"{"requiredEvent": true}"#.to_string(),
        ),
        ("player.frame.json".to_string(), "{}".to_string()),
    ])
    .unwrap();
    let config = crate::config::PlanConfig {
        plan: Some(std::sync::Arc::new(plan)),
        ..crate::config::PlanConfig::default()
    };
    let lines: Vec<String> = (0..50)
        .flat_map(|s| {
            [
                line("a", "player.frame", &format!("s{s}"), "{}"),
                line("a", "player.purchase", &format!("s{s}"), "{}"),
            ]
        })
        .collect();
    let mut p = Parsed::new(GameScope::default());
    p.plan = crate::ingest::plan::Gate::from_config(&config);
    let mut p = parse_body(p, lines.join("\n").as_bytes(), BodyFormat::Ndjson, 1 << 20);
    let a = g.admit(&mut p, &rules, 0.0).unwrap();
    assert_eq!(a.dropped["sampled"], 50, "every frame is sampled out");
    assert_eq!(p.events.len(), 50);
    assert!(p.events.iter().all(|e| e.name == "player.purchase"));
}
