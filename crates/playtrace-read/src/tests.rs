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
