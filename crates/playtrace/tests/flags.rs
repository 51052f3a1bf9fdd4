//! One flag means one thing everywhere: `--format` wherever results are printed, values in any
//! case, `-o/--output` for the file a command writes, no flags that do nothing, errors that
//! say each cause once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture_str, playtrace, stderr, stdout};
use serde_json::Value;

#[test]
fn format_and_group_by_values_are_case_insensitive() {
    let log = fixture_str("contest-telemetry-load-breach.ndjson");
    let out = playtrace()
        .args([
            "monitor",
            "--format",
            "MarkDown",
            "--group-by",
            "Room",
            &log,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("### By room"), "{}", stdout(&out));
    let out = playtrace()
        .args(["monitor", "--format", "JSON", &log])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(serde_json::from_slice::<Value>(&out.stdout).is_ok());
}

#[test]
fn output_writes_the_file_a_command_writes() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixture_str("contest-telemetry-load-breach.ndjson");
    let report = dir.path().join("report.md");
    let out = playtrace()
        .args(["monitor", "--format", "markdown", "-o"])
        .arg(&report)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(std::fs::read_to_string(&report)
        .unwrap()
        .starts_with("## Contest latency budgets"));

    // export: -o/--output is the manifest (--manifest still works); --format json prints it.
    let out = playtrace()
        .current_dir(dir.path())
        .args(["export", &log, "--kinds", "report", "--to", "fs:out"])
        .args(["--output", "manifest.json", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let written: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    assert_eq!(printed["artifacts"].as_array().unwrap().len(), 5);
    let out = playtrace()
        .current_dir(dir.path())
        .args(["export", &log, "--kinds", "report", "--to", "fs:out"])
        .args(["--manifest", "old-name.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("old-name.json").exists());
    let out = playtrace()
        .current_dir(dir.path())
        .args(["export", &log, "--to", "stdout", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn queue_listings_offer_no_delivery_flags() {
    for verb in [&["dlq", "list"][..], &["dlq", "purge"], &["queue", "list"]] {
        let out = playtrace()
            .arg("export")
            .args(verb)
            .arg("--help")
            .output()
            .unwrap();
        let help = stdout(&out);
        assert!(help.contains("--state"), "{verb:?}: {help}");
        for flag in [
            "--retry-for",
            "--s3-endpoint",
            "--max-attempts",
            "--s3-read-timeout",
        ] {
            assert!(!help.contains(flag), "{verb:?} offers {flag}:\n{help}");
        }
    }
    // Flags before the verb make clap read the verb as a log: the error says what to do.
    let state = tempfile::tempdir().unwrap();
    let before = playtrace()
        .args(["export", "--state"])
        .arg(state.path())
        .args(["dlq", "list"])
        .output()
        .unwrap();
    assert_eq!(before.status.code(), Some(2), "{}", stderr(&before));
    assert!(
        stderr(&before).contains("`dlq` is a subcommand of export: put it first")
            && stderr(&before).contains("playtrace export dlq list --state DIR"),
        "{}",
        stderr(&before)
    );
    let retry = playtrace()
        .args(["export", "retry", "--help"])
        .output()
        .unwrap();
    assert!(stdout(&retry).contains("--retry-for"));
}

#[test]
fn errors_say_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let out = playtrace()
        .args(["serve", "--config"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("missing.toml"), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    let out = playtrace()
        .args(["store", "verify", "--data-dir"])
        .arg(dir.path().join("nothing-here"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.matches("no store here").count(), 1, "{err}");
}

#[test]
fn the_readme_says_how_to_install_the_binary() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(readme.contains("cargo install --path crates/playtrace"));
}
