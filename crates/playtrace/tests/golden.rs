//! Exact reports on the fixture: what a person reads in a terminal or a pull request must not
//! change by accident. After an intended change, run with `PLAYTRACE_BLESS=1` to rewrite the
//! expected files, and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use std::path::Path;

fn check(name: &str, args: &[&str]) {
    check_input(name, args, &fixture("contest-telemetry-load-breach.ndjson"));
}

fn check_input(name: &str, args: &[&str], input: &Path) {
    let out = playtrace()
        .arg("monitor")
        .args(args)
        .arg(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let actual = stdout(&out);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("PLAYTRACE_BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with PLAYTRACE_BLESS=1 to create it)",
            path.display()
        )
    });
    assert!(
        actual == expected,
        "{name} differs from the expected report.\n--- expected\n{expected}\n--- actual\n{actual}\n\
         (if the change is intended, rerun with PLAYTRACE_BLESS=1 and review the diff)"
    );
}

#[test]
fn text_report() {
    check("load-breach.txt", &[]);
}

#[test]
fn text_report_by_room() {
    check("load-breach-by-room.txt", &["--group-by", "room"]);
}

#[test]
fn markdown_report() {
    check("load-breach.md", &["--format", "markdown"]);
}

#[test]
fn markdown_report_by_room() {
    check(
        "load-breach-by-room.md",
        &["--format", "markdown", "--group-by", "room"],
    );
}

/// The example log has what the fixture lacks: timeouts, an unresolved contest, a workflow
/// failure, derived durations and sentiment.
#[test]
fn markdown_report_of_the_example_by_room() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/telemetry/contests.ndjson");
    check_input(
        "example-by-room.md",
        &["--format", "markdown", "--group-by", "room"],
        &example,
    );
    check_input("example-by-room.txt", &["--group-by", "room"], &example);
}
