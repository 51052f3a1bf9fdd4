//! The console in a real browser: Playwright (Python) drives Debian's Chromium, headless,
//! against `playtrace serve` with read and admin tokens. The checks are in
//! tests/console/console_test.py: a flagged alert appears within a second without reload,
//! filters, ack/silence/unsilence/resolve change the list and the API, a read token is offered
//! no action and a forged one gets 403, a slow room breaches while the overall line passes,
//! every view loads, no request leaves the origin, no console error. Screenshots of each view
//! are written under target/console-screenshots/.
//!
//! Playwright comes from the repository's git-ignored `.venv` (scripts/test creates it with
//! `pip install playwright`; the browser is the system's Chromium, never a downloaded one), or
//! from `PLAYTRACE_PYTHON`. Without it the test fails: it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server;

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("PLAYTRACE_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = workspace().join(".venv/bin/python");
    assert!(
        venv.is_file(),
        "Playwright is not installed: run scripts/test (it creates .venv with `pip install \
         playwright`), or `python3 -m venv .venv && .venv/bin/pip install playwright`, or set \
         PLAYTRACE_PYTHON to a Python that has it"
    );
    venv
}

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("PLAYTRACE_CHROMIUM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!("Chromium is not installed: run scripts/test, `apt-get install chromium`, or set PLAYTRACE_CHROMIUM");
}

/// The collector's config: read and admin tokens, budgets checked often.
const CONFIG: &str = r#"
[budgets]
evaluate_every = "100ms"

[[tokens]]
name = "admin-1"
secret = "admin-secret-1"
scopes = ["ingest", "read", "admin"]

[[tokens]]
name = "read-1"
secret = "read-secret-1"
scopes = ["read"]
"#;

#[test]
fn the_console_works_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = server::start(&data, CONFIG);
    let shots = workspace().join("target/console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new(python())
        .arg(workspace().join("crates/playtrace/tests/console/console_test.py"))
        .env("PLAYTRACE_URL", &s.url)
        .env("PLAYTRACE_ADMIN_TOKEN", "admin-secret-1")
        .env("PLAYTRACE_READ_TOKEN", "read-secret-1")
        .env("PLAYTRACE_SHOTS", &shots)
        .env("PLAYTRACE_CHROMIUM", chromium())
        // For the stream's restart check: the script stops this collector and starts its
        // successor on the same port and data directory.
        .env("PLAYTRACE_BIN", env!("CARGO_BIN_EXE_playtrace"))
        .env("PLAYTRACE_PID", s.pid().to_string())
        .env("PLAYTRACE_DATA_DIR", &data)
        .env("PLAYTRACE_CONFIG", data.with_extension("toml"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "the browser checks failed:\n{text}\ncollector log:\n{}",
        s.stderr.lock().unwrap()
    );
}

/// The Rejects view (issue 25): bad lines posted to a real collector show as (kind, message)
/// groups with the stored counts, an example each and counts over time; the filters narrow them
/// (tests/console/rejects_test.py).
#[test]
fn the_rejects_view_groups_bad_lines_with_their_counts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = server::start(&data, CONFIG);
    let shots = workspace().join("target/console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new(python())
        .arg(workspace().join("crates/playtrace/tests/console/rejects_test.py"))
        .env("PLAYTRACE_URL", &s.url)
        .env("PLAYTRACE_ADMIN_TOKEN", "admin-secret-1")
        .env("PLAYTRACE_READ_TOKEN", "read-secret-1")
        .env("PLAYTRACE_SHOTS", &shots)
        .env("PLAYTRACE_CHROMIUM", chromium())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "the Rejects view's browser checks failed:\n{text}\ncollector log:\n{}",
        s.stderr.lock().unwrap()
    );
}
