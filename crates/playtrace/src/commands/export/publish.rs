//! Export's CI publishing: the manifest in PlayTrace's shape or the CI publisher's
//! (`--manifest-format ci`), the payload budget (`--payload-budget`), and the QA bundle
//! (`--bundle FILE.zip|FILE.tar.gz`).

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use playtrace_export::artifacts::ci::{ci_manifest, CiRun, PayloadBudget};
use playtrace_export::artifacts::{self, ReadSummary};
use playtrace_export::bundle::{self, BundleFile, Packet};
use playtrace_export::{Artifact, FanOut};
use std::path::Path;

/// `--manifest-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ManifestFormat {
    /// PlayTrace's manifest: every artifact with size, sha256 and per writer status,
    /// location, attempts and error; what was read.
    Playtrace,
    /// The CI publisher's shape: generatedAt, generatedIso, dryRun, artifacts[{filepath,
    /// filename}], context{artifactFilenames, metrics, budgetStatus}, fallbackSummary.
    Ci,
}

/// What a manifest is made of.
pub struct Run<'a> {
    pub artifacts: &'a [Artifact],
    pub result: Option<&'a FanOut>,
    pub writers: &'a [String],
    pub read: &'a ReadSummary,
    pub prefix: &'a str,
    pub payload: PayloadBudget,
}

/// The manifest as pretty JSON with a final newline.
pub fn manifest(format: ManifestFormat, run: &Run<'_>) -> Result<Vec<u8>> {
    let now = crate::client::now_rfc3339();
    let value = match format {
        ManifestFormat::Playtrace => {
            artifacts::manifest(run.artifacts, run.result, run.writers, run.read, &now)
        }
        ManifestFormat::Ci => ci_manifest(&CiRun {
            artifacts: run.artifacts,
            result: run.result,
            writers: run.writers,
            prefix: run.prefix,
            payload: run.payload,
            generated_ms: playtrace_core::time::parse_rfc3339_ms(&now).unwrap_or(0.0),
        }),
    };
    let mut bytes = serde_json::to_vec_pretty(&value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Adds the attachments to the run's artifacts; a name taken by another artifact is an error
/// (one would overwrite the other at every writer).
pub fn attach(artifacts: &mut Vec<Artifact>, attachments: Vec<Artifact>) -> Result<()> {
    for a in attachments {
        if artifacts.iter().any(|b| b.name == a.name) {
            bail!(
                "--attach: an artifact of this run is already named `{}`; rename the file or choose another --prefix",
                a.name
            );
        }
        artifacts.push(a);
    }
    Ok(())
}

/// Says on stderr whether the payload is within `--payload-budget`; returns whether it is over.
pub fn check_payload(payload: &PayloadBudget) -> bool {
    if let (Some(budget), Some(over)) = (payload.budget_bytes, payload.exceeded_by()) {
        if over > 0 {
            eprintln!(
                "export: payload {} bytes exceeds --payload-budget {budget} bytes by {over} bytes",
                payload.payload_bytes
            );
            return true;
        }
        eprintln!(
            "export: payload {} bytes within --payload-budget {budget} bytes",
            payload.payload_bytes
        );
    }
    false
}

/// Writes the QA bundle: every artifact, the manifest, metadata.json and a README.
pub fn write_bundle(
    path: &Path,
    prefix: &str,
    artifacts: &[Artifact],
    manifest: &[u8],
    report: Option<serde_json::Value>,
) -> Result<()> {
    bundle::BundleFormat::of(path)?;
    for reserved in [bundle::MANIFEST, bundle::METADATA, bundle::README] {
        if artifacts.iter().any(|a| a.name == reserved) {
            bail!("--bundle: an artifact is named `{reserved}`, which the bundle uses for itself; rename it");
        }
    }
    let created_at = crate::client::now_rfc3339();
    let created_secs =
        playtrace_core::time::parse_rfc3339_ms(&created_at).map_or(0, |ms| (ms / 1000.0) as u64);
    let archive = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let packet_id = crate::client::nonce();
    let packet = Packet {
        packet_id: &packet_id,
        label: prefix,
        created_at: &created_at,
        created_secs,
        archive: &archive,
        report,
    };
    let files: Vec<BundleFile<'_>> = artifacts
        .iter()
        .map(|a| BundleFile {
            name: &a.name,
            bytes: &a.bytes,
        })
        .collect();
    let metadata = serde_json::to_vec_pretty(&bundle::metadata(&packet, &files))?;
    let readme = bundle::readme(&packet, &files);
    let mut all = files;
    all.push(BundleFile {
        name: bundle::MANIFEST,
        bytes: manifest,
    });
    all.push(BundleFile {
        name: bundle::METADATA,
        bytes: &metadata,
    });
    all.push(BundleFile {
        name: bundle::README,
        bytes: readme.as_bytes(),
    });
    bundle::write_bundle(path, &all, created_secs)
        .with_context(|| format!("cannot write the bundle {}", path.display()))?;
    eprintln!("export: bundle {} ({} files)", path.display(), all.len());
    Ok(())
}
