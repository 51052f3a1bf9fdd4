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
    compare(name, &stdout(&out));
}

/// Compares `actual` with the golden file `name` (or rewrites it with PLAYTRACE_BLESS=1).
fn compare(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("PLAYTRACE_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
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

/// The export's charts of the fixture (both budgets breached): one per metric, exact.
fn charts(dir: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let out = playtrace()
        .current_dir(dir)
        .args(["export", "--kinds", "report", "--to", "fs:out"])
        .arg(fixture("contest-telemetry-load-breach.ndjson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    vec![
        (
            "load-breach-arming.svg",
            dir.join("out/playtrace-arming-latency.svg"),
        ),
        (
            "load-breach-resolution.svg",
            dir.join("out/playtrace-resolution-latency.svg"),
        ),
    ]
}

#[test]
fn svg_charts() {
    let dir = tempfile::tempdir().unwrap();
    for (golden, path) in charts(dir.path()) {
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains(": BREACH (p95 "), "{svg}");
        compare(golden, &svg);
    }
}

/// The charts render to PNG with librsvg (Debian's rsvg-convert, installed by scripts/test),
/// so they stay valid images whatever the golden files say.
#[test]
fn svg_charts_render_to_png() {
    let rsvg = std::env::var("PLAYTRACE_RSVG").unwrap_or_else(|_| "rsvg-convert".into());
    let dir = tempfile::tempdir().unwrap();
    for (_, path) in charts(dir.path()) {
        let png = path.with_extension("png");
        let status = std::process::Command::new(&rsvg)
            .arg(&path)
            .arg("-o")
            .arg(&png)
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run {rsvg} ({e}): install librsvg2-bin (scripts/test does) or set PLAYTRACE_RSVG")
            });
        assert!(status.success(), "{rsvg} refused {}", path.display());
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((width, height), (640, 300));
    }
}
