use super::*;
use crate::budget::BudgetSet;
use crate::contest::{Correlator, CorrelatorOptions};
use crate::reject::RejectCounts;
use crate::scan::BatchOptions;

const ALL: BatchOptions = BatchOptions {
    keep_raw: true,
    keep_hub_room: true,
    keep_move_type: true,
};

const DAY: f64 = 86_400_000.0;

fn batch(lines: &[&str]) -> ObservationBatch {
    let mut b = ObservationBatch::default();
    for (i, line) in lines.iter().enumerate() {
        b.push_line(i as u32, line, ALL);
    }
    assert!(b.rejects.is_empty(), "{:?}", b.rejects);
    b
}

fn apply_at(l: &mut LiveContests, lines: &[&str], recv: f64) {
    l.apply(&batch(lines), |_| {
        Some(EventMeta {
            game: Some("gf"),
            env: Some("prod"),
            recv_ms: recv,
        })
    });
}

fn line(reports: &[WindowReport], metric: Metric) -> &BudgetLine {
    reports[0]
        .budgets
        .iter()
        .find(|b| b.metric == metric)
        .expect("budget line")
}

/// Folds a whole log through both correlators and compares every duration statistic.
fn assert_parity(text: &str) {
    let mut monitor = Correlator::new(CorrelatorOptions::default());
    let mut b = ObservationBatch::default();
    b.push_lines(text.as_bytes(), ALL);
    monitor.apply(&b);
    let summary = monitor.finish(&BudgetSet::default(), RejectCounts::default());

    let mut l = LiveContests::new(LiveOptions {
        windows_ms: vec![DAY],
        ..LiveOptions::default()
    });
    // Spread over receive times in 7 batches, as a collector would see them.
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for (n, chunk) in lines.chunks(lines.len().div_ceil(7).max(1)).enumerate() {
        let mut b = ObservationBatch::default();
        for (i, line) in chunk.iter().enumerate() {
            b.push_line(i as u32, line, ALL);
        }
        l.apply(&b, |_| {
            Some(EventMeta {
                game: None,
                env: None,
                recv_ms: 1_000.0 + n as f64,
            })
        });
    }
    let reports = l.budgets(&BudgetQuery::default(), &BudgetSet::default(), 2_000.0);
    for (metric, stats) in [
        (Metric::Arming, &summary.durations.arming),
        (Metric::Resolution, &summary.durations.resolution),
    ] {
        let got = line(&reports, metric);
        assert_eq!(got.samples, stats.samples, "{metric} samples");
        assert_eq!(got.p50, stats.p50, "{metric} p50");
        assert_eq!(got.p95, stats.p95, "{metric} p95");
        assert_eq!(got.p99, stats.p99, "{metric} p99");
        assert_eq!(got.max, stats.max, "{metric} max");
        assert_eq!(got.breached, stats.breached, "{metric} breached");
    }
}

#[test]
fn live_durations_equal_the_monitors_on_the_fixture() {
    assert_parity(include_str!(
        "../../../../../testdata/fixtures/glass-frontier/contest-telemetry-load-breach.ndjson"
    ));
}

#[test]
fn live_durations_equal_the_monitors_on_the_example_log() {
    assert_parity(include_str!(
        "../../../../../examples/telemetry/contests.ndjson"
    ));
}

const ARMED: &str = r#"{"message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"k","createdAt":100,"participantCapacity":4}"#;
const LAUNCHED: &str = r#"{"message":"telemetry.contest.launched","hubId":"h","roomId":"r","contestKey":"k","contestId":"c","startedAt":340,"participantCount":3}"#;
const RESOLVED: &str = r#"{"message":"telemetry.contest.resolved","hubId":"h","roomId":"r","contestKey":"k","contestId":"c","resolvedAt":920,"outcomeTier":"win"}"#;

#[test]
fn a_contest_moves_through_its_states() {
    let mut l = LiveContests::new(LiveOptions::default());
    apply_at(&mut l, &[ARMED], 0.0);
    let v = l.contest("h:r:k", None, 0.0);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].state, ContestState::Arming);

    apply_at(&mut l, &[LAUNCHED], 1_000.0);
    assert!(
        l.contest("h:r:k", None, 1_000.0).is_empty(),
        "arming entry moved"
    );
    let v = l.contest("c", None, 1_000.0);
    assert_eq!(v[0].state, ContestState::Resolving);
    assert_eq!(v[0].arming_duration_ms, Some(Num(240.0)));
    assert_eq!(v[0].participant_capacity, Some(4));
    assert_eq!(v[0].events, 2);

    // Five minutes after launch, with no resolution: unresolved.
    let later = 1_000.0 + 300_001.0;
    assert_eq!(
        l.contest("c", None, later)[0].state,
        ContestState::Unresolved
    );
    assert_eq!(
        l.list(Some(ContestState::Unresolved), None, None, 10, later)
            .len(),
        1
    );

    apply_at(&mut l, &[RESOLVED], later);
    let v = l.contest("c", Some("gf"), later);
    assert_eq!(v[0].state, ContestState::Resolved);
    assert_eq!(v[0].resolution_duration_ms, Some(Num(580.0)));
    assert_eq!(v[0].outcomes, vec!["win".to_string()]);
    assert!(l.contest("c", Some("other-game"), later).is_empty());
}

#[test]
fn failed_and_expired_contests_close() {
    let mut l = LiveContests::new(LiveOptions::default());
    apply_at(
        &mut l,
        &[
            LAUNCHED,
            r#"{"message":"telemetry.contest.workflowFailed","contestId":"c","error":"boom"}"#,
            r#"{"message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"x","createdAt":0}"#,
            r#"{"message":"telemetry.contest.expired","hubId":"h","roomId":"r","contestKey":"x","expiredAt":10000}"#,
        ],
        5.0,
    );
    assert_eq!(l.contest("c", None, 5.0)[0].state, ContestState::Failed);
    let expired = l.contest("h:r:x", None, 5.0);
    assert_eq!(expired[0].state, ContestState::Expired);
    assert_eq!(expired[0].arming_duration_ms, Some(Num(10_000.0)));
    let reports = l.budgets(&BudgetQuery::default(), &BudgetSet::default(), 5.0);
    assert_eq!(reports.len(), 2, "5m and 1h");
    assert_eq!(reports[0].window, "5m");
    // The failed contest's arming (launched without an armed event) has no sample; the expired
    // contest's arming is an expired-arming sample, not an arming one.
    assert_eq!(line(&reports, Metric::Arming).samples, 0);
}

#[test]
fn windows_count_only_samples_received_inside_them() {
    let mut l = LiveContests::new(LiveOptions::default());
    let resolved = |id: &str, ms: u32| {
        format!(
            r#"{{"event":"telemetry.contest.resolved","attrs":{{"contestId":"{id}","resolutionDurationMs":{ms}}}}}"#
        )
    };
    let (a, b) = (resolved("a", 900), resolved("b", 100));
    apply_at(&mut l, &[&a], 0.0);
    apply_at(&mut l, &[&b], 400_000.0);
    let reports = l.budgets(&BudgetQuery::default(), &BudgetSet::default(), 400_000.0);
    let five = line(&reports, Metric::Resolution);
    assert_eq!((five.samples, five.max), (1, Some(Num(100.0))));
    assert_eq!(five.status, BudgetStatus::Pass);
    let hour = reports[1]
        .budgets
        .iter()
        .find(|b| b.metric == Metric::Resolution)
        .expect("resolution");
    assert_eq!((hour.samples, hour.max), (2, Some(Num(900.0))));
    assert!(hour.breached);

    // Two hours later everything has left the longest window and is evicted.
    l.evict(400_000.0 + 2.0 * 3_600_000.0);
    assert_eq!(l.samples(), 0);
    assert!(l.is_empty());
}

#[test]
fn duplicates_are_skipped_and_scopes_filter() {
    let mut l = LiveContests::new(LiveOptions::default());
    let b = batch(&[
        r#"{"event":"telemetry.contest.resolved","game":"g1","attrs":{"contestId":"a","resolutionDurationMs":10,"hubId":"h1"}}"#,
        r#"{"event":"telemetry.contest.resolved","game":"g2","attrs":{"contestId":"a","resolutionDurationMs":20,"hubId":"h2"}}"#,
        r#"{"event":"telemetry.contest.resolved","game":"g2","attrs":{"contestId":"z","resolutionDurationMs":30}}"#,
    ]);
    let games = ["g1", "g2", "g2"];
    l.apply(&b, |i| {
        (i != 2).then(|| EventMeta {
            game: Some(games[i as usize]),
            env: None,
            recv_ms: 1.0,
        })
    });
    assert_eq!(l.contest("a", None, 1.0).len(), 2, "same id in two games");
    assert!(
        l.contest("z", None, 1.0).is_empty(),
        "skipped as a duplicate"
    );
    let query = BudgetQuery {
        game: Some("g2".into()),
        group_by: vec![GroupDim::Hub],
        ..BudgetQuery::default()
    };
    let r = l.budgets(&query, &BudgetSet::default(), 1.0);
    let res = line(&r, Metric::Resolution);
    assert_eq!((res.samples, res.max), (1, Some(Num(20.0))));
    let groups = r[0].groups.as_ref().expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].key[&GroupDim::Hub].as_deref(), Some("h2"));
    let unknown = BudgetQuery {
        game: Some("never-seen".into()),
        ..BudgetQuery::default()
    };
    assert_eq!(
        line(
            &l.budgets(&unknown, &BudgetSet::default(), 1.0),
            Metric::Resolution
        )
        .samples,
        0
    );
}

#[test]
fn a_records_own_timestamps_win_over_event_times() {
    // As in the correlator's test: the armed line's `timestamp` is an hour after the game's
    // clock; the launched line carries createdAt and startedAt.
    let mut l = LiveContests::new(LiveOptions::default());
    apply_at(
        &mut l,
        &[
            r#"{"timestamp":"2026-03-01T13:00:00.000Z","message":"telemetry.contest.armed","hubId":"h","roomId":"r","contestKey":"k"}"#,
            r#"{"timestamp":"2026-03-01T13:00:05.000Z","message":"telemetry.contest.launched","hubId":"h","roomId":"r","contestKey":"k","contestId":"c","createdAt":1772366400000,"startedAt":1772366400240}"#,
        ],
        5.0,
    );
    let v = l.contest("c", None, 5.0);
    assert_eq!(v[0].arming_duration_ms, Some(Num(240.0)));
    assert_eq!(v[0].created_at, Some(Num(1_772_366_400_000.0)));
    let reports = l.budgets(&BudgetQuery::default(), &BudgetSet::default(), 5.0);
    assert_eq!(line(&reports, Metric::Arming).max, Some(Num(240.0)));
}
