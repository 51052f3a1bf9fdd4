#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use playtrace_core::budget::BudgetSet;
use playtrace_core::contest::{Correlator, CorrelatorOptions};
use playtrace_core::reject::Reject;
use std::io::Write;

fn contest(i: u64) -> String {
    format!(
        "{{\"message\":\"telemetry.contest.armed\",\"contestId\":\"c{i}\",\"createdAt\":{}}}\n\
         {{\"message\":\"telemetry.contest.resolved\",\"contestId\":\"c{i}\",\"resolutionDurationMs\":{}}}\n",
        1_000_000 + i,
        i % 977
    )
}

/// Reads `bytes` as one input; the summary as JSON and the rejects.
fn read_all(
    bytes: Vec<u8>,
    workers: usize,
    limits: ReadLimits,
) -> (String, Vec<Reject>, ReadStats) {
    let input = Input::from_reader("mem", std::io::Cursor::new(bytes)).unwrap();
    let mut correlator = Correlator::new(CorrelatorOptions {
        include_raw: true,
        group_by: Vec::new(),
    });
    let mut rejects = Vec::new();
    let mut on_reject = |r: Reject| -> Result<(), SinkError> {
        rejects.push(r);
        Ok(())
    };
    let options = ReadOptions { limits, workers };
    let stats = read(vec![input], options, &mut correlator, &mut on_reject).unwrap();
    let summary = correlator.finish(&BudgetSet::default(), stats.rejects);
    (serde_json::to_string(&summary).unwrap(), rejects, stats)
}

#[test]
fn results_and_reject_lines_do_not_depend_on_the_number_of_threads() {
    let mut text = String::new();
    for i in 0..40_000 {
        text.push_str(&contest(i));
        if i == 30_000 {
            text.push_str("{broken\n");
        }
    }
    assert!(text.len() > 4 * chunks::BLOCK_BYTES);
    let one = read_all(text.clone().into_bytes(), 1, ReadLimits::default());
    let four = read_all(text.into_bytes(), 4, ReadLimits::default());
    assert_eq!(one.0, four.0);
    assert_eq!(one.1, four.1);
    assert_eq!(one.1.len(), 1);
    assert_eq!(one.1[0].line, 60_003);
    assert_eq!(one.2.lines, four.2.lines);
}

#[test]
fn gzip_is_known_by_its_bytes_and_a_long_line_is_one_size_reject() {
    let mut plain = contest(1).into_bytes();
    plain.extend(vec![b'x'; 3 << 20]);
    plain.push(b'\n');
    plain.extend(contest(2).into_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    assert!(Input::from_reader("x", std::io::Cursor::new(gz.clone()))
        .unwrap()
        .is_gzip());
    let limits = ReadLimits {
        max_line: 1 << 20,
        max_document: 1 << 20,
    };
    let (summary, rejects, stats) = read_all(gz, 2, limits);
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].kind, playtrace_core::reject::RejectKind::Size);
    assert_eq!(rejects[0].line, 3);
    assert_eq!(stats.lines, 5);
    assert!(summary.contains("\"contestsObserved\":2"), "{summary}");
}

#[test]
fn open_errors_name_the_input() {
    let counter = ByteCounter::default();
    let err = open_all(&["/no/such/file.ndjson".into()], &counter)
        .err()
        .unwrap();
    assert!(err.to_string().contains("`/no/such/file.ndjson`"), "{err}");
    let err = open_all(&["-".into(), "-".into()], &counter).err().unwrap();
    assert!(matches!(err, ReadError::StdinTwice { count: 2 }));
}

/// A deterministic generator (no dependency): 64-bit LCG.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// A log where "a later event wins" matters across blocks: contests whose events arrive out of
/// order and far apart (a resolution before its launch, a failure before the contest is seen),
/// repeated resolutions with new values, arming keys re-used by later contests, expiries,
/// sentiment with equal times, derived durations, attribute dimensions past their cap, and
/// broken lines. Several MiB, so many 1 MiB blocks.
fn shuffled_log(seed: u64, contests: u64) -> String {
    let mut rng = Lcg(seed);
    let mut events: Vec<(u64, String)> = Vec::new();
    for i in 0..contests {
        let base = i * 10;
        let at = |rng: &mut Lcg, step: u64| {
            // Most events follow their contest closely; a few land far later or earlier.
            match rng.next(50) {
                0 => base + step + rng.next(60_000),
                1 => (base + step).saturating_sub(rng.next(60_000)),
                _ => base + step + rng.next(40),
            }
        };
        let (hub, room, key) = (i % 5, i % 11, i % 1_500);
        let build = rng.next(9);
        let created = 1_000_000 + i * 7;
        let ids = format!(
            r#""hubId":"h{hub}","roomId":"r{room}","contestKey":"k{key}","clientVersion":"v{build}""#
        );
        let created_field = if rng.next(4) == 0 {
            String::new()
        } else {
            format!(r#","createdAt":{created}"#)
        };
        let armed = format!(
            r#"{{"message":"telemetry.contest.armed","timestamp":{created},{ids},"participantCount":{}{created_field}}}"#,
            2 + rng.next(3)
        );
        events.push((at(&mut rng, 0), armed));
        if rng.next(30) == 0 {
            let expired = format!(
                r#"{{"message":"telemetry.contest.expired","timestamp":{},{ids},"expiredAt":{}}}"#,
                created + 900,
                created + 800 + rng.next(300)
            );
            events.push((at(&mut rng, 3), expired));
            continue;
        }
        let arming = if rng.next(3) == 0 {
            String::new()
        } else {
            format!(r#","armingDurationMs":{}"#, rng.next(5_000))
        };
        let started = created + rng.next(4_000);
        let launched = format!(
            r#"{{"message":"telemetry.contest.launched","timestamp":{started},{ids},"contestId":"c{i}","startedAt":{started}{arming}}}"#
        );
        events.push((at(&mut rng, 2), launched));
        for repeat in 0..1 + u64::from(rng.next(8) == 0) {
            let resolution = if rng.next(3) == 0 {
                String::new()
            } else {
                format!(
                    r#","resolutionDurationMs":{}.{}"#,
                    rng.next(900),
                    rng.next(10)
                )
            };
            let resolved = format!(
                r#"{{"message":"telemetry.contest.resolved","timestamp":{},{ids},"contestId":"c{i}","outcomeTier":"t{repeat}","resolvedAt":{}{resolution}}}"#,
                started + 500,
                started + rng.next(1_500)
            );
            events.push((at(&mut rng, 4 + repeat), resolved));
        }
        if rng.next(40) == 0 {
            let failed = format!(
                r#"{{"message":"telemetry.contest.workflowFailed","timestamp":{},{ids},"contestId":"c{i}","error":"e{i}"}}"#,
                started + 1
            );
            events.push((at(&mut rng, 1), failed));
        }
        if rng.next(10) == 0 {
            let sentiment = format!(
                r#"{{"message":"telemetry.contest.sentiment","timestamp":{},{ids},"sentiment":"{}","phase":"cooldown","remainingCooldownMs":{},"issuedAt":{}}}"#,
                started,
                ["positive", "negative", "Neutral", "meh"][rng.next(4) as usize],
                rng.next(3) * 100,
                1_000_000 + rng.next(500) * 1_000
            );
            events.push((at(&mut rng, 5), sentiment));
        }
        if rng.next(500) == 0 {
            events.push((at(&mut rng, 6), "{\"message\": broken".to_string()));
        }
    }
    // A stable sort: events at the same position keep the order they were made in.
    events.sort_by_key(|(at, _)| *at);
    let mut text = String::new();
    for (_, line) in events {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// The summary of `text` read by the pipeline with `workers` threads, grouped by room and a
/// capped attribute dimension, with raw output (which lists contests in input order).
fn grouped_summary(text: &str, workers: usize) -> (String, Vec<Reject>) {
    use playtrace_core::dims::{Dimension, Dimensions};
    let dims = Dimensions::new(vec![Dimension {
        name: "build".into(),
        attr: "clientVersion".into(),
        max_values: 5,
    }])
    .unwrap();
    let build = dims.parse("build").unwrap();
    let mut correlator = Correlator::new(CorrelatorOptions {
        include_raw: true,
        group_by: vec![playtrace_core::summary::GroupDim::Room, build],
    })
    .with_dimensions(&dims);
    let input = Input::from_reader("mem", std::io::Cursor::new(text.as_bytes().to_vec())).unwrap();
    let mut rejects = Vec::new();
    let mut on_reject = |r: Reject| -> Result<(), SinkError> {
        rejects.push(r);
        Ok(())
    };
    let options = ReadOptions {
        limits: ReadLimits::default(),
        workers,
    };
    let stats = read(vec![input], options, &mut correlator, &mut on_reject).unwrap();
    let summary = correlator.finish(&BudgetSet::default(), stats.rejects);
    (serde_json::to_string(&summary).unwrap(), rejects)
}

/// The same log folded the plain way: one batch, one thread, one shard, strictly in order.
fn in_order_summary(text: &str) -> String {
    use playtrace_core::dims::{Dimension, Dimensions};
    use playtrace_core::scan::ObservationBatch;
    let dims = Dimensions::new(vec![Dimension {
        name: "build".into(),
        attr: "clientVersion".into(),
        max_values: 5,
    }])
    .unwrap();
    let build = dims.parse("build").unwrap();
    let mut correlator = Correlator::new(CorrelatorOptions {
        include_raw: true,
        group_by: vec![playtrace_core::summary::GroupDim::Room, build],
    })
    .with_dimensions(&dims);
    let mut batch = ObservationBatch::default();
    batch.set_dim_attrs(correlator.dim_attrs().to_vec());
    batch.push_lines(text.as_bytes(), correlator.batch_options());
    let mut counts = playtrace_core::reject::RejectCounts::default();
    for r in &batch.rejects {
        counts.add(r.kind);
    }
    correlator.apply(&batch);
    serde_json::to_string(&correlator.finish(&BudgetSet::default(), counts)).unwrap()
}

#[test]
fn a_parallel_fold_equals_the_in_order_fold_for_any_thread_count() {
    for seed in [1] {
        let text = shuffled_log(seed, 25_000);
        assert!(text.len() > 5 * chunks::BLOCK_BYTES, "spans many blocks");
        let reference = in_order_summary(&text);
        // The log really has what the fold must get right across blocks.
        assert!(reference.contains("\"workflowFailures\":"), "{reference}");
        assert!(reference.contains("\"folded\":{\"build\":"), "{reference}");
        let (one, rejects_one) = grouped_summary(&text, 1);
        assert!(one == reference, "1 thread differs from the in-order fold");
        for workers in [2, 3, 8] {
            let (many, rejects) = grouped_summary(&text, workers);
            assert!(
                many == reference,
                "{workers} threads differ from the in-order fold (seed {seed})"
            );
            assert_eq!(rejects, rejects_one, "{workers} threads: rejects");
        }
    }
}

#[test]
fn the_fixtures_read_the_same_with_any_thread_count() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/glass-frontier"
    );
    for name in [
        "contest-telemetry-load-breach.ndjson",
        "contest-timeline-artefact.trimmed.json",
    ] {
        let bytes = std::fs::read(format!("{dir}/{name}")).unwrap();
        // Repeated, the fixture's contests get later events in later blocks.
        let mut text = String::new();
        while text.len() < 3 * chunks::BLOCK_BYTES {
            text.push_str(std::str::from_utf8(&bytes).unwrap());
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        let reference = grouped_summary(&text, 1);
        for workers in [2, 3, 8] {
            assert!(
                grouped_summary(&text, workers) == reference,
                "{name}: {workers} threads differ from 1"
            );
        }
    }
}

/// Counts each block's lines in input order, and asks for no contest fold.
struct LinesOnly;

impl Extract for LinesOnly {
    type Found = u32;
    fn extract(&self, _lines: &[u8], _found: &mut u32) {}
    fn block_lines(&self, lines: u32, found: &mut u32) {
        *found = lines;
    }
    fn correlates(&self) -> bool {
        false
    }
}

#[test]
fn an_extract_that_does_not_correlate_gets_every_block_and_reject_and_no_contests() {
    let mut text = String::new();
    for i in 0..40_000 {
        text.push_str(&contest(i));
        if i == 30_000 {
            text.push_str("{broken\n");
        }
    }
    let (folded, folded_rejects, folded_stats) =
        read_all(text.clone().into_bytes(), 2, ReadLimits::default());
    assert!(folded.contains("\"c0\""), "the usual read folds contests");
    for workers in [1, 4] {
        let input = Input::from_reader("mem", std::io::Cursor::new(text.clone())).unwrap();
        let mut correlator = Correlator::new(CorrelatorOptions {
            include_raw: true,
            group_by: Vec::new(),
        });
        let (mut rejects, mut blocks) = (Vec::new(), Vec::new());
        let stats = read_extracting(
            vec![input],
            ReadOptions {
                limits: ReadLimits::default(),
                workers,
            },
            &mut correlator,
            &LinesOnly,
            &mut |lines| {
                blocks.push(lines);
                Ok(())
            },
            &mut |r| {
                rejects.push(r);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(rejects, folded_rejects);
        assert_eq!(stats.lines, folded_stats.lines);
        assert_eq!(
            blocks.iter().map(|&n| u64::from(n)).sum::<u64>(),
            stats.lines
        );
        assert!(blocks.len() > 4);
        let summary = correlator.finish(&BudgetSet::default(), stats.rejects);
        let summary = serde_json::to_string(&summary).unwrap();
        assert!(
            !summary.contains("\"c0\""),
            "no contest was folded: {workers} workers"
        );
    }
}
