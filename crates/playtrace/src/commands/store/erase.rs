//! `playtrace store erase --player ID | --session ID`: a data-subject erasure on a data
//! directory no collector is running on (a running one takes `POST /v1/erasures`), and on the
//! export state directory's retry queue and dead letters (docs/PRIVACY.md).

use crate::args::Format;
use crate::output::{write_stdout, ExitStatus};
use anyhow::Context;
use clap::Args;
use playtrace_export::queue::RetryPolicy;
use playtrace_export::state::StateDir;
use playtrace_server::config::ServeConfig;
use playtrace_store::SubjectKind;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("subject").required(true).args(["player", "session"]))]
pub struct EraseArgs {
    /// The collector's data directory (stop `serve` first, or use POST /v1/erasures).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,

    /// The player's id as the game sent it (a hashed id is found by hashing it).
    #[arg(long, value_name = "ID")]
    player: Option<String>,

    /// The session's id.
    #[arg(long, value_name = "ID")]
    session: Option<String>,

    /// The collector's config: its `[privacy]` player attrs and hash secret (the secret's
    /// environment variable must be set). Without it, ids are looked for only as sent.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Also remove the subject's artifacts from this export state directory's retry queue
    /// and dead letters (`playtrace export --state DIR`).
    #[arg(long, value_name = "DIR")]
    export_state: Option<PathBuf>,

    /// Output: a line for people, or the result as JSON.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn erase(args: EraseArgs) -> anyhow::Result<ExitStatus> {
    let config = match &args.config {
        Some(path) => ServeConfig::from_file(path)?,
        None => ServeConfig::default(),
    };
    let (kind, raw) = match (args.player, args.session) {
        (Some(p), _) => (SubjectKind::Player, p),
        (None, Some(s)) => (SubjectKind::Session, s),
        (None, None) => anyhow::bail!("give --player ID or --session ID"),
    };
    anyhow::ensure!(!raw.is_empty(), "--{}: the id is empty", kind.as_str());
    let erasure = config.privacy.erasure(kind, &raw, "cli");
    let (removed, truncated) = playtrace_store::erase_dir(&args.data_dir, &erasure)
        .with_context(|| format!("cannot erase from the store in {}", args.data_dir.display()))?;
    let export = match &args.export_state {
        Some(dir) => {
            let state = StateDir::open(dir)?;
            let mut queue = state.queue(RetryPolicy::default())?;
            let (queued, dead) = queue
                .erase_containing(&erasure.needles())
                .with_context(|| {
                    format!("cannot erase from the export state in {}", dir.display())
                })?;
            Some((queued, dead))
        }
        None => None,
    };
    let text = match args.format {
        Format::Json => {
            let mut text = json!({
                "subject": kind.as_str(),
                "subjectHash": erasure.subject_hash,
                "removed": removed,
                "walTruncated": truncated,
                "export": export.map(|(q, d)| json!({"queued": q, "deadLetters": d})),
            })
            .to_string();
            text.push('\n');
            text
        }
        Format::Text => {
            let mut text = format!(
                "erased {} {}: {} events, {} rejects, {} alerts and {} stream rows scrubbed{}\n",
                kind.as_str(),
                &erasure.subject_hash[..16.min(erasure.subject_hash.len())],
                removed.events,
                removed.rejects,
                removed.alerts,
                removed.stream_rows,
                if truncated {
                    ""
                } else {
                    " (the WAL was busy and not truncated: run it again)"
                }
            );
            if let Some((q, d)) = export {
                text.push_str(&format!(
                    "export state: {q} queued and {d} dead-lettered artifacts removed\n"
                ));
            }
            text
        }
    };
    write_stdout(text.as_bytes())?;
    Ok(ExitStatus::Success)
}
