//! Helpers shared by the CLI tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The `playtrace` binary under test.
pub fn playtrace() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_playtrace"));
    cmd.env_remove("PLAYTRACE_LOG");
    cmd
}

/// A file of the repository's test data.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fixtures/glass-frontier")
        .join(name)
}

/// A fixture's path as a string argument.
pub fn fixture_str(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

/// Parses stdout as JSON.
pub fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Stderr as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Stdout as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A contest's three lifecycle lines (structured-log dialect) with explicit durations.
pub fn contest_lines(id: &str, room: &str, arming: u64, resolution: u64) -> String {
    format!(
        concat!(
            r#"{{"level":"info","message":"telemetry.contest.armed","hubId":"hub","roomId":"{room}","contestKey":"key-{id}","participantCount":2,"participantCapacity":2}}"#,
            "\n",
            r#"{{"level":"info","message":"telemetry.contest.launched","hubId":"hub","roomId":"{room}","contestKey":"key-{id}","contestId":"{id}","participantCount":2,"participantCapacity":2,"armingDurationMs":{arming}}}"#,
            "\n",
            r#"{{"level":"info","message":"telemetry.contest.resolved","hubId":"hub","roomId":"{room}","contestKey":"key-{id}","contestId":"{id}","outcomeTier":"success","armingDurationMs":{arming},"resolutionDurationMs":{resolution}}}"#,
            "\n",
        ),
        id = id,
        room = room,
        arming = arming,
        resolution = resolution
    )
}
