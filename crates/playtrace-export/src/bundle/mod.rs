//! A run's artifacts packed into one archive for sharing with QA (`export --bundle`): every
//! artifact, the manifest, a `metadata.json` in the shape of the save/load QA packets
//! (`packetId, label, createdAt, files, instructions, …`) and a generated README. `.tar.gz`
//! through the `tar` crate and flate2; `.zip` by our own small writer (deflate, CRC-32).

mod zip;

use crate::queue::sha256_hex;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file name says neither zip nor tar.gz.
    #[error("--bundle `{0}`: name it FILE.zip, FILE.tar.gz or FILE.tgz")]
    Format(String),
    /// Writing the archive failed.
    #[error("--bundle `{path}`: {error}")]
    Io {
        /// The archive's path.
        path: String,
        /// What failed.
        error: std::io::Error,
    },
    /// Over a limit of the zip format without its 64-bit extension.
    #[error("--bundle `{0}`: too large for a zip (4 GiB or 65535 files); use .tar.gz")]
    TooLarge(String),
}

/// The archive format, from the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleFormat {
    /// `.zip` (deflate).
    Zip,
    /// `.tar.gz` or `.tgz`.
    TarGz,
}

impl BundleFormat {
    /// The format `path`'s name asks for.
    pub fn of(path: &Path) -> Result<BundleFormat, BundleError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if name.ends_with(".zip") {
            Ok(BundleFormat::Zip)
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Ok(BundleFormat::TarGz)
        } else {
            Err(BundleError::Format(path.display().to_string()))
        }
    }
}

/// One file of the bundle.
pub struct BundleFile<'a> {
    /// Its name inside the archive.
    pub name: &'a str,
    /// Its content.
    pub bytes: &'a [u8],
}

/// What the metadata and README say about the run.
pub struct Packet<'a> {
    /// A unique id for this bundle.
    pub packet_id: &'a str,
    /// `--prefix`.
    pub label: &'a str,
    /// When it was made (RFC 3339).
    pub created_at: &'a str,
    /// When it was made, seconds since the epoch (archive entry times).
    pub created_secs: u64,
    /// The archive's file name.
    pub archive: &'a str,
    /// The report's verdict and counts, when the report was built.
    pub report: Option<Value>,
}

/// The manifest's name inside the bundle.
pub const MANIFEST: &str = "manifest.json";
/// The metadata's name inside the bundle.
pub const METADATA: &str = "metadata.json";
/// The README's name inside the bundle.
pub const README: &str = "README.md";

/// `metadata.json`: the packet's id, label, time, files by role, and what to do with it.
pub fn metadata(packet: &Packet<'_>, artifacts: &[BundleFile<'_>]) -> Value {
    let names: Vec<&str> = artifacts.iter().map(|f| f.name).collect();
    let mut m = json!({
        "packetId": packet.packet_id,
        "label": packet.label,
        "createdAt": packet.created_at,
        "files": {
            "artifacts": names,
            "manifest": MANIFEST,
            "metadata": METADATA,
            "readme": README,
            "archive": packet.archive,
        },
        "instructions": [
            "Open README.md first: it lists every file with its size and sha256.",
            "Share the budget report (Markdown and charts) and the transcripts with QA; the rejects file lists lines that could not be read.",
            "Check the files against manifest.json (sha256) before filing QA feedback.",
        ],
    });
    if let Some(report) = &packet.report {
        m["report"] = report.clone();
    }
    m
}

/// The README: what the bundle is, each file with its size and sha256, how to check them.
pub fn readme(packet: &Packet<'_>, artifacts: &[BundleFile<'_>]) -> String {
    let mut out = format!(
        "# {} — PlayTrace QA bundle\n\nPacket `{}`, made {} by `playtrace export`.\n\n",
        packet.label, packet.packet_id, packet.created_at
    );
    if let Some(outcome) = packet.report.as_ref().and_then(|r| r["outcome"].as_str()) {
        let _ = writeln!(out, "Budget report outcome: **{outcome}**.\n");
    }
    out.push_str("| File | Bytes | sha256 |\n|---|---:|---|\n");
    for f in artifacts {
        let _ = writeln!(
            out,
            "| {} | {} | `{}` |",
            playtrace_core::report::escape_cell(f.name),
            f.bytes.len(),
            sha256_hex(f.bytes)
        );
    }
    let _ = write!(
        out,
        "\n`{MANIFEST}` says where each file was written and how; `{METADATA}` describes this \
         packet for tools. Check the files with `sha256sum` against the table above.\n"
    );
    out
}

/// Packs `files` into the archive at `path` (atomically: the archive appears whole or not).
pub fn write_bundle(
    path: &Path,
    files: &[BundleFile<'_>],
    created_secs: u64,
) -> Result<(), BundleError> {
    let io = |error| BundleError::Io {
        path: path.display().to_string(),
        error,
    };
    let bytes = match BundleFormat::of(path)? {
        BundleFormat::TarGz => tar_gz(files, created_secs).map_err(io)?,
        BundleFormat::Zip => zip::archive(files, created_secs)
            .map_err(|_| BundleError::TooLarge(path.display().to_string()))?,
    };
    crate::atomic::write_atomic(path, &bytes).map_err(io)
}

fn tar_gz(files: &[BundleFile<'_>], created_secs: u64) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for f in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(f.bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(created_secs);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append_data(&mut header, f.name, f.bytes)?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn files() -> Vec<(String, Vec<u8>)> {
        vec![
            ("a.json".into(), b"{\"a\":1}".to_vec()),
            ("b.csv".into(), b"x,y\n1,2\n".repeat(100)),
        ]
    }

    #[test]
    fn a_tar_gz_holds_each_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.tar.gz");
        let owned = files();
        let list: Vec<BundleFile<'_>> = owned
            .iter()
            .map(|(n, b)| BundleFile { name: n, bytes: b })
            .collect();
        write_bundle(&path, &list, 1_761_843_600).unwrap();
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap());
        let mut archive = tar::Archive::new(gz);
        let mut found = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            found.push((name, bytes));
        }
        assert_eq!(found, owned);
    }

    #[test]
    fn the_format_follows_the_name() {
        assert_eq!(
            BundleFormat::of(Path::new("x/QA.ZIP")).unwrap(),
            BundleFormat::Zip
        );
        assert_eq!(
            BundleFormat::of(Path::new("q.tgz")).unwrap(),
            BundleFormat::TarGz
        );
        assert!(BundleFormat::of(Path::new("q.rar"))
            .unwrap_err()
            .to_string()
            .contains("FILE.zip, FILE.tar.gz"));
    }
}
