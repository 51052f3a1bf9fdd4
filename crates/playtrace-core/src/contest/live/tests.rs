use super::*;
use crate::budget::BudgetSet;
use crate::budget::{BudgetStatus, Metric};
use crate::contest::{Correlator, CorrelatorOptions};
use crate::num::Num;
use crate::reject::RejectCounts;
use crate::scan::BatchOptions;
use crate::scan::ObservationBatch;
use crate::summary::GroupDim;

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

/// Folds a whole log through both correlators and compares every duration statistic, with full
/// records for every closed contest and with none (all reduced as soon as they close).
fn assert_parity(text: &str) {
    assert_parity_keeping(text, DEFAULT_RECENT_CLOSED);
    assert_parity_keeping(text, 0);
}

fn assert_parity_keeping(text: &str, recent_closed: usize) {
    let mut monitor = Correlator::new(CorrelatorOptions::default());
    let mut b = ObservationBatch::default();
    b.push_lines(text.as_bytes(), ALL);
    monitor.apply(&b);
    let summary = monitor.finish(&BudgetSet::default(), RejectCounts::default());

    let mut l = LiveContests::new(LiveOptions {
        windows_ms: vec![DAY],
        ..LiveOptions::default()
    })
    .with_recent_closed(recent_closed);
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
        assert_eq!(
            got.samples, stats.samples,
            "{metric} samples ({recent_closed})"
        );
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

fn resolved(id: &str, ms: f64, room: &str) -> String {
    format!(
        r#"{{"event":"telemetry.contest.resolved","attrs":{{"contestId":"{id}","roomId":"{room}","resolutionDurationMs":{ms}}}}}"#
    )
}

/// The resolution line of each window, overall.
fn resolution(l: &LiveContests, query: &BudgetQuery, now: f64) -> Vec<(u64, Option<Num>)> {
    l.budgets(query, &BudgetSet::default(), now)
        .iter()
        .map(|r| {
            let b = r
                .budgets
                .iter()
                .find(|b| b.metric == Metric::Resolution)
                .expect("resolution line");
            (b.samples, b.max)
        })
        .collect()
}

#[test]
fn windows_slide_across_slice_edges() {
    // A 1-minute window: slices of 2 s. The sample at 10 s sits in the slice [10 s, 12 s).
    let mut l = LiveContests::new(LiveOptions {
        windows_ms: vec![60_000.0],
        ..LiveOptions::default()
    });
    apply_at(&mut l, &[&resolved("a", 5.0, "r")], 10_000.0);
    let q = BudgetQuery::default();
    assert_eq!(resolution(&l, &q, 10_000.0), vec![(1, Some(Num(5.0)))]);
    // The window's start moves in whole slices: counted while the start is in the sample's
    // slice or before it, never dropped early.
    assert_eq!(resolution(&l, &q, 70_000.0)[0].0, 1, "start 10 s");
    assert_eq!(resolution(&l, &q, 71_999.0)[0].0, 1, "start 11.999 s");
    assert_eq!(resolution(&l, &q, 72_000.0)[0].0, 0, "start 12 s");
    // Not counted before it was received.
    assert_eq!(resolution(&l, &q, 9_999.0)[0].0, 0);
    // Moving the running sums (evict) gives the same figures as reading ahead of them.
    l.evict(71_999.0);
    assert_eq!(l.samples(), 1);
    assert_eq!(resolution(&l, &q, 71_999.0)[0].0, 1);
    l.evict(72_000.0);
    assert_eq!(l.samples(), 0);
    assert!(l.is_empty());
    // A window asked for that is not configured is merged from the slices on read.
    let mut l = LiveContests::new(LiveOptions {
        windows_ms: vec![60_000.0],
        ..LiveOptions::default()
    });
    apply_at(&mut l, &[&resolved("a", 5.0, "r")], 10_000.0);
    apply_at(&mut l, &[&resolved("b", 7.0, "r")], 40_000.0);
    let twenty = BudgetQuery {
        windows_ms: vec![20_000.0],
        ..BudgetQuery::default()
    };
    assert_eq!(resolution(&l, &twenty, 41_000.0), vec![(1, Some(Num(7.0)))]);
}

#[test]
fn a_later_event_for_a_reduced_contest_replaces_its_sample() {
    // No closed contest keeps its full record: each is reduced as soon as it closes.
    let mut l = LiveContests::new(LiveOptions::default()).with_recent_closed(0);
    apply_at(&mut l, &[ARMED, LAUNCHED, RESOLVED], 1_000.0);
    assert_eq!(l.full_records(), 0);
    assert_eq!(l.len(), 1);
    assert_eq!(l.state_counts(1_000.0)[&ContestState::Resolved], 1);
    let q = BudgetQuery::default();
    assert_eq!(resolution(&l, &q, 1_000.0)[0], (1, Some(Num(580.0))));
    // A later resolution record moves `resolvedAt`: the derived duration changes in place
    // (from the launch time kept in the reduced record), no second sample.
    let later = RESOLVED.replace("920", "1340");
    apply_at(&mut l, &[&later], 2_000.0);
    assert_eq!(resolution(&l, &q, 2_000.0)[0], (1, Some(Num(1_000.0))));
    let arming = line(
        &l.budgets(&q, &BudgetSet::default(), 2_000.0),
        Metric::Arming,
    )
    .clone();
    assert_eq!((arming.samples, arming.max), (1, Some(Num(240.0))));
    assert_eq!(l.state_counts(2_000.0)[&ContestState::Resolved], 1);
    assert_eq!(l.len(), 1);
}

#[test]
fn restart_rebuilds_the_same_figures() {
    let text = include_str!("../../../../../examples/telemetry/contests.ndjson");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let fold = || {
        let mut l = LiveContests::new(LiveOptions::default()).with_recent_closed(3);
        for (n, chunk) in lines.chunks(5).enumerate() {
            let mut b = ObservationBatch::default();
            for (i, line) in chunk.iter().enumerate() {
                b.push_line(i as u32, line, ALL);
            }
            l.apply(&b, |_| {
                Some(EventMeta {
                    game: Some("glass-frontier"),
                    env: None,
                    recv_ms: 1_000_000.0 + 4_000.0 * n as f64,
                })
            });
        }
        l
    };
    let (first, replayed) = (fold(), fold());
    let query = BudgetQuery {
        group_by: vec![GroupDim::Hub, GroupDim::Room],
        ..BudgetQuery::default()
    };
    let now = 1_000_000.0 + 4_000.0 * lines.len().div_ceil(5) as f64;
    let figures = |l: &LiveContests| {
        (
            l.budgets(&query, &BudgetSet::default(), now),
            l.state_counts(now),
        )
    };
    let (budgets, states) = figures(&first);
    assert!(budgets[0].budgets.iter().any(|b| b.samples > 0));
    assert_eq!((budgets, states), figures(&replayed));
}

mod random {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    const SLICE: f64 = 2_000.0;

    /// The sample-by-sample reference: each contest's resolution counted at the receive time of
    /// its first resolution, valued by its latest; a window covers the slices from the one
    /// holding `now - w` to the one holding `now`.
    fn expected(
        samples: &HashMap<usize, (f64, f64, usize)>,
        w: f64,
        now: f64,
        room: Option<usize>,
    ) -> (u64, Option<Num>, Option<Num>, Option<Num>) {
        let slice = |t: f64| (t / SLICE).floor().max(0.0);
        let mut v: Vec<f64> = samples
            .values()
            .filter(|(recv, _, r)| {
                slice(*recv) >= slice(now - w)
                    && slice(*recv) <= slice(now)
                    && room.is_none_or(|want| want == *r)
            })
            .map(|&(_, value, _)| value)
            .collect();
        crate::quantile::sort_samples(&mut v);
        let rank = |p| crate::quantile::nearest_rank(&v, p).map(Num);
        (
            v.len() as u64,
            rank(50.0),
            rank(95.0),
            v.last().copied().map(Num),
        )
    }

    fn events() -> impl Strategy<Value = Vec<(usize, f64, f64)>> {
        // (contest, value, receive-time step): few ids so later events replace earlier ones,
        // few values so they repeat, decimals among them.
        prop::collection::vec(
            (
                0usize..25,
                prop_oneof![
                    (0u32..6).prop_map(f64::from),
                    (0u32..400).prop_map(|v| f64::from(v) / 8.0)
                ],
                prop_oneof![Just(0.0), 0.0f64..3_000.0, Just(20_000.0)],
            ),
            0..60,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn counted_windows_equal_sorted_samples(
            events in events(),
            recent_closed in 0usize..4,
            ahead in prop::collection::vec(0.0f64..200_000.0, 1..4),
        ) {
            let windows = vec![60_000.0, 3_600_000.0];
            let mut l = LiveContests::new(LiveOptions {
                windows_ms: windows.clone(),
                ..LiveOptions::default()
            })
            .with_recent_closed(recent_closed);
            let mut reference: HashMap<usize, (f64, f64, usize)> = HashMap::new();
            let mut recv = 1_000_000.0;
            for &(contest, value, step) in &events {
                recv += step;
                let room = contest % 3;
                let line = resolved(&format!("c{contest}"), value, &format!("r{room}"));
                apply_at(&mut l, &[&line], recv);
                reference
                    .entry(contest)
                    .and_modify(|s| s.1 = value)
                    .or_insert((recv, value, room));
            }
            // Everything stays inside the longest window (at most 60 × 20 s after the first), so
            // nothing is evicted.
            let by_room = BudgetQuery {
                group_by: vec![GroupDim::Room],
                windows_ms: vec![60_000.0, 3_600_000.0, 90_000.0],
                ..BudgetQuery::default()
            };
            for now in ahead.iter().map(|a| recv + a).chain([recv, recv - 30_000.0]) {
                let reports = l.budgets(&by_room, &BudgetSet::default(), now);
                for r in &reports {
                    let got = r.budgets.iter().find(|b| b.metric == Metric::Resolution)
                        .map(|b| (b.samples, b.p50, b.p95, b.max));
                    prop_assert_eq!(got, Some(expected(&reference, r.window_ms.0, now, None)),
                        "window {} at {}", r.window, now);
                    for g in r.groups.iter().flatten() {
                        let room: usize = g.key[&GroupDim::Room].as_deref()
                            .and_then(|r| r.trim_start_matches('r').parse().ok())
                            .unwrap_or(usize::MAX);
                        let got = g.budgets.iter().find(|b| b.metric == Metric::Resolution)
                            .map(|b| (b.samples, b.p50, b.p95, b.max));
                        prop_assert_eq!(got, Some(expected(&reference, r.window_ms.0, now, Some(room))));
                    }
                }
            }
            prop_assert_eq!(l.samples(), reference.len());
        }
    }
}

/// The history journal: what it hands out, added up per series, equals the window's counts,
/// with a later event's replacement as −1/+1 and nothing while journaling is paused.
#[test]
fn the_history_journal_adds_up_to_the_window_and_pauses_on_request() {
    use crate::rollup::add;
    let mut l = LiveContests::new(LiveOptions::default())
        .with_recent_closed(0)
        .with_history();
    let t = 1_000.0 * DAY;
    let resolved = |id: &str, ms: f64| {
        format!(
            r#"{{"event":"telemetry.contest.resolved","attrs":{{"contestId":"{id}","roomId":"r","resolutionDurationMs":{ms}}}}}"#
        )
    };
    apply_at(&mut l, &[&resolved("a", 100.0), &resolved("b", 250.5)], t);
    l.note_applied(2, t as i64);
    let first = l.take_history();
    assert_eq!(l.history_mark(), Some((2, t as i64)));
    assert_eq!(first.series.len(), 1, "{first:?}");
    let s = &first.series[0];
    assert_eq!(s.key.metric, Metric::Resolution);
    assert_eq!(s.key.game.as_deref(), Some("gf"));
    assert_eq!(s.key.group[1].as_deref(), Some("r"));
    assert_eq!(s.minutes.len(), 1);
    assert_eq!(s.minutes[0].0 % 60_000, 0, "minutes start on the minute");
    assert!(l.take_history().is_empty(), "taken once");

    // A later event moves a's sample (reduced already: recent_closed is 0) from 100 to 900.
    apply_at(&mut l, &[&resolved("a", 900.0)], t + 5_000.0);
    let second = l.take_history();
    let mut counts: Vec<(u64, u64)> = Vec::new();
    for d in [&first, &second] {
        for (_, deltas) in &d.series[0].minutes {
            counts = add(&counts, deltas);
        }
    }
    let values: Vec<(f64, u64)> = counts
        .iter()
        .map(|&(k, n)| (crate::quantile::from_order_key(k), n))
        .collect();
    assert_eq!(values, vec![(250.5, 1), (900.0, 1)]);

    // Changes that could not be stored come back with the next ones.
    l.restore_history(&second);
    assert_eq!(l.take_history(), second);

    // Paused (a rebuild replaying what the rows already count): nothing is journaled.
    l.set_journaling(false);
    apply_at(&mut l, &[&resolved("c", 300.0)], t + 6_000.0);
    assert!(l.take_history().is_empty());
    l.set_journaling(true);
    apply_at(&mut l, &[&resolved("c", 310.0)], t + 7_000.0);
    let moved = l.take_history();
    let deltas: Vec<i64> = moved.series[0].minutes[0].1.iter().map(|d| d.1).collect();
    assert_eq!(deltas, vec![-1, 1], "{moved:?}");
}
