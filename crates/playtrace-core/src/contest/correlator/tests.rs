use super::*;
use crate::budget::{Budget, BudgetStatus};
use crate::summary::GroupDim;

fn summarize_with(lines: &[&str], options: CorrelatorOptions, budgets: &BudgetSet) -> Summary {
    let mut correlator = Correlator::new(options);
    let mut batch = ObservationBatch::default();
    batch.push_lines(lines.join("\n").as_bytes(), correlator.batch_options());
    assert!(
        batch.rejects.is_empty(),
        "unexpected rejects: {:?}",
        batch.rejects
    );
    correlator.apply(&batch);
    correlator.finish(budgets, RejectCounts::default())
}

fn summarize(lines: &[&str]) -> Summary {
    summarize_with(
        lines,
        CorrelatorOptions {
            include_raw: true,
            group_by: vec![],
        },
        &BudgetSet::default(),
    )
}

fn n(v: Option<Num>) -> Option<f64> {
    v.map(|n| n.0)
}

#[test]
fn spec_example_derives_durations_from_fields() {
    // SPEC §3: armed at createdAt 100 (expiresAt 900, capacity 4), launched at startedAt 340 with
    // 3 participants → arming 240; resolved at 920 → resolution 580.
    let s = summarize(&[
        r#"{"message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"k","createdAt":100,"participantCapacity":4}"#,
        r#"{"message":"telemetry.contest.launched","hubId":"h","roomId":"r","contestKey":"k","contestId":"c","startedAt":340,"participantCount":3}"#,
        r#"{"message":"telemetry.contest.resolved","hubId":"h","roomId":"r","contestKey":"k","contestId":"c","resolvedAt":920}"#,
    ]);
    let raw = &s.raw.as_ref().unwrap().contests[0];
    assert_eq!(n(raw.arming_duration_ms), Some(240.0));
    assert_eq!(n(raw.resolution_duration_ms), Some(580.0));
    assert_eq!(raw.participant_count, Some(3));
    assert_eq!(
        raw.participant_capacity,
        Some(4),
        "capacity carried forward from arming"
    );
    assert_eq!(s.participants.capacity_over_two, 1);
}

#[test]
fn spec_example_expired_arming_counts_to_the_expiry() {
    // Armed at createdAt 100 with expiresAt 700, expired at 900 → arming 800 (not the 600 window).
    let s = summarize(&[
        r#"{"message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"k","createdAt":100,"windowMs":600,"participantCount":2}"#,
        r#"{"message":"telemetry.contest.expired","hubId":"h","roomId":"r","contestKey":"k","expiredAt":900}"#,
    ]);
    assert_eq!(s.totals.expired_contests, 1);
    assert_eq!(s.durations.expired_arming.samples, 1);
    assert_eq!(n(s.durations.expired_arming.max), Some(800.0));
    assert_eq!(
        s.participants.timeouts.samples, 1,
        "participants carried from arming"
    );
    assert_eq!(s.totals.contests_observed, 0);
}

#[test]
fn derives_from_event_timestamps_when_fields_are_missing() {
    let s = summarize(&[
        r#"{"message":"telemetry.contest.armed","timestamp":"2025-01-01T00:00:00.000Z","hubId":"h","roomId":"r","contestKey":"k"}"#,
        r#"{"message":"telemetry.contest.launched","timestamp":"2025-01-01T00:00:01.500Z","hubId":"h","roomId":"r","contestKey":"k","contestId":"c"}"#,
        r#"{"message":"telemetry.contest.resolved","timestamp":"2025-01-01T00:00:02.000Z","contestId":"c"}"#,
    ]);
    assert_eq!(n(s.durations.arming.max), Some(1500.0));
    assert_eq!(n(s.durations.resolution.max), Some(500.0));
}

#[test]
fn fields_outrank_timestamps_and_explicit_durations_outrank_both() {
    let s = summarize(&[
        r#"{"message":"telemetry.contest.armed","timestamp":"1970-01-01T00:00:00.000Z","hubId":"h","roomId":"r","contestKey":"k","createdAt":50}"#,
        r#"{"message":"telemetry.contest.launched","timestamp":"1970-01-01T00:00:10.000Z","hubId":"h","roomId":"r","contestKey":"k","contestId":"c","startedAt":250}"#,
        r#"{"message":"telemetry.contest.resolved","timestamp":"1970-01-01T00:00:20.000Z","contestId":"c","resolutionDurationMs":77}"#,
    ]);
    let raw = &s.raw.as_ref().unwrap().contests[0];
    assert_eq!(
        n(raw.arming_duration_ms),
        Some(200.0),
        "createdAt/startedAt beat the log timestamps"
    );
    assert_eq!(
        n(raw.resolution_duration_ms),
        Some(77.0),
        "an explicit duration beats derivation"
    );
}

#[test]
fn a_later_event_wins_and_derived_durations_clamp_at_zero() {
    let s = summarize(&[
        r#"{"message":"telemetry.contest.launched","contestId":"a","armingDurationMs":100}"#,
        r#"{"message":"telemetry.contest.resolved","contestId":"a","armingDurationMs":300,"resolutionDurationMs":5}"#,
        r#"{"message":"telemetry.contest.resolved","contestId":"a","resolutionDurationMs":9}"#,
        r#"{"message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"k","createdAt":1000}"#,
        r#"{"message":"telemetry.contest.launched","hubId":"h","roomId":"r","contestKey":"k","contestId":"b","startedAt":400}"#,
    ]);
    let raw = &s.raw.as_ref().unwrap().contests;
    assert_eq!(n(raw[0].arming_duration_ms), Some(300.0));
    assert_eq!(n(raw[0].resolution_duration_ms), Some(9.0));
    assert_eq!(
        n(raw[1].arming_duration_ms),
        Some(0.0),
        "clock skew never gives a negative duration"
    );
}

#[test]
fn unresolved_contests_are_reported_not_forgotten() {
    let s = summarize(&[
        r#"{"message":"telemetry.contest.launched","contestId":"open"}"#,
        r#"{"message":"telemetry.contest.launched","contestId":"failed"}"#,
        r#"{"level":"error","message":"telemetry.contest.workflowFailed","contestId":"failed","error":"boom"}"#,
        r#"{"level":"error","message":"telemetry.contest.workflowFailed","contestId":"early"}"#,
        r#"{"message":"telemetry.contest.workflowStarted","contestId":"early"}"#,
        r#"{"message":"telemetry.contest.launched","contestId":"done"}"#,
        r#"{"message":"telemetry.contest.resolved","contestId":"done","resolutionDurationMs":1}"#,
    ]);
    assert_eq!(s.totals.contests_observed, 4);
    assert_eq!(s.totals.resolved_contests, 1);
    assert_eq!(s.totals.workflow_failures, 2);
    assert_eq!(
        s.totals.unresolved_contests, 1,
        "only `open` neither resolved nor failed"
    );
    assert_eq!(s.durations.arming.missing, 4);
    assert_eq!(s.durations.resolution.missing, 0);
    let failures = &s.raw.as_ref().unwrap().workflow_failures;
    assert_eq!(failures[0].error, "boom");
    assert_eq!(failures[1].error, "workflow_failed");
}

#[test]
fn groups_report_every_budget_per_group() {
    let lines = [
        r#"{"message":"telemetry.contest.launched","roomId":"a","contestId":"1","armingDurationMs":100}"#,
        r#"{"message":"telemetry.contest.resolved","roomId":"a","contestId":"1","resolutionDurationMs":100}"#,
        r#"{"message":"telemetry.contest.launched","roomId":"b","contestId":"2","armingDurationMs":100}"#,
        r#"{"message":"telemetry.contest.resolved","roomId":"b","contestId":"2","resolutionDurationMs":5000}"#,
        r#"{"message":"telemetry.contest.launched","contestId":"3","armingDurationMs":100}"#,
    ];
    let s = summarize_with(
        &lines,
        CorrelatorOptions {
            include_raw: false,
            group_by: vec![GroupDim::Room],
        },
        &BudgetSet::default(),
    );
    let groups = s.groups.as_ref().unwrap();
    let keys: Vec<_> = groups
        .entries
        .iter()
        .map(|e| e.key[&GroupDim::Room].clone())
        .collect();
    assert_eq!(keys, [None, Some("a".to_string()), Some("b".to_string())]);
    let statuses: Vec<Vec<BudgetStatus>> = groups
        .entries
        .iter()
        .map(|e| e.budgets.iter().map(|b| b.status).collect())
        .collect();
    assert_eq!(
        statuses,
        [
            vec![BudgetStatus::Pass, BudgetStatus::InsufficientData],
            vec![BudgetStatus::Pass, BudgetStatus::Pass],
            vec![BudgetStatus::Pass, BudgetStatus::Breach],
        ]
    );
    // Overall p95 over [100, 5000] is 5000: also breached.
    assert!(s.breached());
    assert!(s.raw.is_none());
}

#[test]
fn a_slow_group_fails_the_run_even_when_overall_passes() {
    let mut lines = Vec::new();
    for i in 0..40 {
        lines.push(format!(r#"{{"message":"telemetry.contest.resolved","roomId":"fast","contestId":"f{i}","resolutionDurationMs":100}}"#));
    }
    lines.push(r#"{"message":"telemetry.contest.resolved","roomId":"slow","contestId":"s","resolutionDurationMs":900}"#.to_string());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let overall = summarize_with(&lines, CorrelatorOptions::default(), &BudgetSet::default());
    assert!(
        !overall.breached(),
        "p95 over everything hides the slow room"
    );
    let grouped = summarize_with(
        &lines,
        CorrelatorOptions {
            include_raw: false,
            group_by: vec![GroupDim::Room],
        },
        &BudgetSet::default(),
    );
    assert!(grouped.breached());
}

#[test]
fn budgets_files_choose_what_is_checked() {
    let budgets = BudgetSet {
        budgets: vec![Budget {
            metric: Metric::Resolution,
            percentile: 50.0,
            limit_ms: 10.0,
            min_samples: 3,
        }],
    };
    let s = summarize_with(
        &[r#"{"message":"telemetry.contest.resolved","contestId":"1","resolutionDurationMs":500}"#],
        CorrelatorOptions::default(),
        &budgets,
    );
    assert_eq!(s.budgets.len(), 1);
    assert_eq!(s.budgets[0].status, BudgetStatus::InsufficientData);
    assert!(!s.breached());
    // The legacy `durations.*.budget` keeps the default when no p95 budget is configured.
    assert_eq!(s.durations.resolution.budget, Num(800.0));
}

#[test]
fn sentiment_matches_the_old_monitor() {
    let s = summarize(&[
        r#"{"message":"telemetry.contest.sentiment","hubId":"h","roomId":"r1","sentiment":"Negative","phase":"Cooldown","remainingCooldownMs":500,"issuedAt":"2025-01-01T00:00:02.000Z"}"#,
        r#"{"message":"telemetry.contest.sentiment","hubId":"h","roomId":"r2","sentiment":"positive","phase":"post-cooldown","issuedAt":3000}"#,
        r#"{"message":"telemetry.contest.sentiment","hubId":"h","roomId":"r2","sentiment":"meh","remainingCooldownMs":900}"#,
        r#"{"message":"telemetry.contest.sentiment","hubId":"h","roomId":"r2"}"#,
    ]);
    let st = &s.sentiment;
    assert_eq!(st.samples, 4);
    assert_eq!(
        (
            st.totals.positive,
            st.totals.negative,
            st.totals.other,
            st.totals.total
        ),
        (1, 1, 2, 4)
    );
    assert_eq!(st.phase_counts.get("cooldown"), Some(&1));
    assert_eq!(st.cooldown.active_samples, 2);
    assert_eq!(st.cooldown.negative_during_cooldown, 1);
    assert_eq!(st.cooldown.max_remaining_cooldown_ms, Some(Num(900.0)));
    assert_eq!(
        st.hotspots[0].room_id.as_deref(),
        Some("r1"),
        "most negative first"
    );
    assert_eq!(st.hotspots[1].totals.total, 3);
    let order: Vec<_> = st
        .latest
        .iter()
        .map(|l| (l.room_id.as_deref(), n(l.issued_at)))
        .collect();
    assert_eq!(
        order,
        [
            (Some("r1"), Some(1_735_689_602_000.0)),
            (Some("r2"), Some(3000.0)),
            (Some("r2"), None),
            (Some("r2"), None)
        ]
    );
    assert_eq!(
        st.latest[0].issued_at_iso.as_deref(),
        Some("2025-01-01T00:00:02.000Z")
    );
    assert_eq!(st.latest[3].sentiment.as_deref(), Some("unknown"));
}

#[test]
fn latest_sentiment_keeps_the_25_newest() {
    let lines: Vec<String> = (0..60)
        .map(|i| {
            format!(
                r#"{{"message":"telemetry.contest.sentiment","actorId":"a{i}","issuedAt":{}}}"#,
                (i * 37) % 60
            )
        })
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let s = summarize(&lines);
    let issued: Vec<f64> = s
        .sentiment
        .latest
        .iter()
        .map(|l| l.issued_at.unwrap().0)
        .collect();
    let expected: Vec<f64> = (35..60).rev().map(f64::from).collect();
    assert_eq!(issued, expected);
}

#[test]
fn groups_are_carried_from_the_armed_event() {
    let s = summarize_with(
        &[
            r#"{"message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"k","move":"duel"}"#,
            r#"{"message":"telemetry.contest.launched","hubId":"h","roomId":"r","contestKey":"k","contestId":"c","armingDurationMs":5}"#,
            r#"{"message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"x","move":"brawl"}"#,
            r#"{"message":"telemetry.contest.expired","hubId":"h","roomId":"r","contestKey":"x","armingDurationMs":9}"#,
        ],
        CorrelatorOptions {
            include_raw: false,
            group_by: vec![GroupDim::Move],
        },
        &BudgetSet::default(),
    );
    let entries = &s.groups.as_ref().unwrap().entries;
    let keys: Vec<_> = entries
        .iter()
        .map(|e| (e.key[&GroupDim::Move].clone(), e.contests, e.expired))
        .collect();
    assert_eq!(
        keys,
        [
            (Some("brawl".to_string()), 0, 1),
            (Some("duel".to_string()), 1, 0)
        ]
    );
}

#[test]
fn a_records_own_timestamps_win_over_event_times() {
    // The log was written an hour after the game's clock: the armed line's `timestamp` is
    // unrelated to the contest's createdAt/startedAt, which the launched line carries.
    let s = summarize(&[
        r#"{"timestamp":"2026-03-01T13:00:00.000Z","message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"k"}"#,
        r#"{"timestamp":"2026-03-01T13:00:05.000Z","message":"telemetry.contest.launched","hubId":"h","roomId":"r","contestKey":"k","contestId":"c","createdAt":1772366400000,"startedAt":1772366400240}"#,
    ]);
    let raw = &s.raw.as_ref().unwrap().contests[0];
    assert_eq!(
        n(raw.arming_duration_ms),
        Some(240.0),
        "startedAt − createdAt"
    );

    // Whichever event carries the field: here the resolved record names createdAt.
    let s = summarize(&[
        r#"{"timestamp":"2026-03-01T13:00:00.000Z","message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"k"}"#,
        r#"{"timestamp":"2026-03-01T13:00:05.000Z","message":"telemetry.contest.launched","hubId":"h","roomId":"r","contestKey":"k","contestId":"c","startedAt":1772366400240}"#,
        r#"{"timestamp":"2026-03-01T13:00:06.000Z","message":"telemetry.contest.resolved","hubId":"h","roomId":"r","contestKey":"k","contestId":"c","createdAt":1772366400000,"resolvedAt":1772366400900}"#,
    ]);
    let raw = &s.raw.as_ref().unwrap().contests[0];
    assert_eq!(n(raw.arming_duration_ms), Some(240.0));
    assert_eq!(n(raw.resolution_duration_ms), Some(660.0));

    // An expiry's createdAt outranks the armed line's time as well.
    let s = summarize(&[
        r#"{"timestamp":"2026-03-01T13:00:00.000Z","message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"x"}"#,
        r#"{"timestamp":"2026-03-01T13:00:09.000Z","message":"telemetry.contest.expired","hubId":"h","roomId":"r","contestKey":"x","createdAt":1772366400000,"expiredAt":1772366410000}"#,
    ]);
    assert_eq!(
        s.raw
            .as_ref()
            .unwrap()
            .expired
            .as_ref()
            .unwrap()
            .arming_durations,
        vec![Num(10_000.0)]
    );
}
