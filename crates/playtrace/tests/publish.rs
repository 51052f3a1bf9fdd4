//! `playtrace export` as a CI publisher: files of the game's own tooling attached
//! (`--attach`, globs too), the CI-shaped manifest (`--manifest-format ci`), the payload budget,
//! and the QA bundle (`--bundle FILE.zip|FILE.tar.gz`) with its metadata.json and README.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture_str, playtrace, stderr};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

fn engine_fixtures() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fixtures/genai-engine")
        .to_string_lossy()
        .into_owned()
}

/// Compares with a golden file (PLAYTRACE_BLESS=1 rewrites it).
fn golden(name: &str, actual: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("PLAYTRACE_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (PLAYTRACE_BLESS=1 creates it)", path.display()));
    assert!(
        text == expected,
        "{name} differs.\n--- expected\n{expected}\n--- actual\n{text}"
    );
}

/// Sets the keys whose values change from run to run (times, ids) to fixed ones.
fn normalise(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, val) in o.iter_mut() {
                match k.as_str() {
                    "generatedAt" | "durationMs" => *val = json!(0),
                    "generatedIso" | "createdAt" => *val = json!("2026-01-01T00:00:00.000Z"),
                    "packetId" => *val = json!("PACKET"),
                    _ => normalise(val),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalise),
        _ => {}
    }
}

fn export(dir: &Path, args: &[&str]) -> std::process::Output {
    playtrace()
        .current_dir(dir)
        .arg("export")
        .arg(fixture_str("contest-telemetry-load-breach.ndjson"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn attachments_travel_with_the_artifacts_in_a_ci_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let glob = format!("{}/04-inspector-*.csv", engine_fixtures());
    let out = export(
        dir.path(),
        &[
            "--to",
            "fs:artifacts/telemetry",
            "--prefix",
            "save-inspector",
            "--manifest-format",
            "CI",
            "-o",
            "manifest.json",
            "--payload-budget",
            "12KB",
            "--attach",
            &glob,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for name in [
        "04-inspector-cascade-targets.csv",
        "04-inspector-tutorial-snapshots.csv",
    ] {
        assert_eq!(
            std::fs::read(dir.path().join("artifacts/telemetry").join(name)).unwrap(),
            std::fs::read(format!("{}/{name}", engine_fixtures())).unwrap(),
            "{name} published as it is"
        );
    }
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    // The engine team's keys, with their nesting.
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/02-ci-artifacts-manifest.dryrun.json",
            engine_fixtures()
        ))
        .unwrap(),
    )
    .unwrap();
    for key in [
        "generatedAt",
        "generatedIso",
        "dryRun",
        "artifacts",
        "context",
        "fallbackSummary",
    ] {
        assert!(
            manifest.get(key).is_some() && fixture.get(key).is_some(),
            "{key}"
        );
    }
    for key in [
        "artifactFilenames",
        "metrics",
        "budgetStatus",
        "artifactDir",
        "prefix",
    ] {
        assert!(manifest["context"].get(key).is_some(), "context.{key}");
    }
    let budget = &manifest["context"]["budgetStatus"];
    assert_eq!(budget["status"], "within_budget");
    assert_eq!(budget["budgetBytes"], 12_000);
    assert_eq!(budget["exceededBy"], 0);
    normalise(&mut manifest);
    golden("ci-manifest.json", &manifest);

    // Over the budget: everything is still written, and the check fails.
    let out = export(
        dir.path(),
        &[
            "--to",
            "fs:again",
            "--manifest-format",
            "ci",
            "--format",
            "json",
            "--payload-budget",
            "1KB",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exceeds --payload-budget 1000 bytes by"),
        "{}",
        stderr(&out)
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["context"]["budgetStatus"]["status"], "exceeds_budget");
    assert_eq!(m["context"]["budgetStatus"]["hasBudgetOverruns"], true);
    let over = m["context"]["budgetStatus"]["payloadBytes"]
        .as_u64()
        .unwrap()
        - 1000;
    assert_eq!(m["context"]["budgetStatus"]["exceededBy"], over);

    // A missing attachment is an input error, before anything is written.
    let out = export(dir.path(), &["--to", "fs:never", "--attach", "nope-*.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no file matches"), "{}", stderr(&out));
    assert!(!dir.path().join("never").exists());
}

/// The archive's members with their sha256, read by Python's zipfile or tarfile.
fn members(archive: &Path) -> BTreeMap<String, String> {
    let script = r#"
import hashlib, json, sys, tarfile, zipfile
p = sys.argv[1]
out = {}
if p.endswith('.zip'):
    z = zipfile.ZipFile(p)
    assert z.testzip() is None
    for n in z.namelist():
        out[n] = hashlib.sha256(z.read(n)).hexdigest()
else:
    t = tarfile.open(p, 'r:gz')
    for m in t.getmembers():
        out[m.name] = hashlib.sha256(t.extractfile(m).read()).hexdigest()
print(json.dumps(out))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(archive)
        .output()
        .expect("python3 reads the archive");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_bundle_holds_exactly_the_manifests_files_with_their_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let qa = format!("{}/06-save-load-qa-metadata.json", engine_fixtures());
    for archive in ["qa-bundle.zip", "qa-bundle.tar.gz"] {
        let out = export(
            dir.path(),
            &[
                "--to",
                "fs:out",
                "-o",
                "manifest.json",
                "--bundle",
                archive,
                "--attach",
                &qa,
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap())
                .unwrap();
        let mut expected: BTreeMap<String, String> = manifest["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().unwrap().to_string(),
                    a["sha256"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let found = members(&dir.path().join(archive));
        for extra in ["manifest.json", "metadata.json", "README.md"] {
            assert!(found.contains_key(extra), "{archive} lacks {extra}");
            expected.insert(extra.to_string(), found[extra].clone());
        }
        assert_eq!(found, expected, "{archive}");
        assert!(expected.contains_key("06-save-load-qa-metadata.json"));
    }
    // metadata.json, in the shape of the save/load QA packets.
    let unpacked = std::process::Command::new("python3")
        .args(["-c", "import sys,zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read('metadata.json').decode())"])
        .arg(dir.path().join("qa-bundle.zip"))
        .output()
        .unwrap();
    let mut metadata: Value = serde_json::from_slice(&unpacked.stdout).unwrap();
    let shape: Value = serde_json::from_str(&std::fs::read_to_string(&qa).unwrap()).unwrap();
    for key in ["packetId", "label", "createdAt", "files", "instructions"] {
        assert!(
            metadata.get(key).is_some() && shape.get(key).is_some(),
            "{key}"
        );
    }
    assert_eq!(metadata["files"]["archive"], "qa-bundle.zip");
    assert_eq!(metadata["report"]["outcome"], "breach");
    normalise(&mut metadata);
    golden("bundle-metadata.json", &metadata);

    let out = export(dir.path(), &["--to", "fs:out", "--bundle", "qa.rar"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("FILE.zip, FILE.tar.gz"),
        "{}",
        stderr(&out)
    );
}
