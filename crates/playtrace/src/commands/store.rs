//! `playtrace store verify|backup`: check a collector's data directory after a crash, or copy
//! its database consistently while `serve` runs (neither takes the directory's lock).

use crate::args::Format;
use crate::output::{write_stdout, ExitStatus};
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;

/// `playtrace store ...`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// SQLite's integrity check and the high-water mark: is everything acknowledged still there?
    /// Exit 0: sound and complete; 1: damaged or missing acknowledged events; 2: cannot check.
    Verify(VerifyArgs),
    /// A consistent copy of the database, taken while `serve` runs (or not).
    Backup(BackupArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The collector's data directory.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,

    /// Output: a line for people, or the result as JSON.
    #[arg(long, value_enum, ignore_case = true, default_value = "text")]
    format: Format,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The collector's data directory.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,

    /// The copy to write (must not exist).
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
}

pub fn run(command: StoreCommand) -> anyhow::Result<ExitStatus> {
    match command {
        StoreCommand::Verify(args) => verify(args),
        StoreCommand::Backup(args) => backup(args),
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitStatus> {
    let v = playtrace_store::verify(&args.data_dir)
        .with_context(|| format!("cannot verify the store in {}", args.data_dir.display()))?;
    let text = match args.format {
        Format::Json => {
            let mut text = json!({
                "ok": v.ok(),
                "database": v.path,
                "integrity": if v.integrity.is_empty() { json!("ok") } else { json!(v.integrity) },
                "acknowledged": v.acknowledged,
                "stored": v.stored,
                "missing": v.missing(),
            })
            .to_string();
            text.push('\n');
            text
        }
        Format::Text => {
            let mut text = String::new();
            if v.integrity.is_empty() {
                text.push_str(&format!("{}: integrity ok\n", v.path.display()));
            } else {
                text.push_str(&format!(
                    "{}: integrity check FAILED ({} problems); restore a backup \
                     (playtrace store backup), the first ones:\n",
                    v.path.display(),
                    v.integrity.len()
                ));
                for m in v.integrity.iter().take(10) {
                    text.push_str(&format!("  {m}\n"));
                }
            }
            match v.acknowledged {
                None => {
                    text.push_str("high-water mark: none (written by `serve` since this release)\n")
                }
                Some(a) if v.missing() > 0 => text.push_str(&format!(
                    "high-water mark: {a} acknowledged, but the store holds only up to {}: up to \
                     {} acknowledged events are MISSING (a damaged WAL or an older database)\n",
                    v.stored,
                    v.missing()
                )),
                Some(a) => text.push_str(&format!(
                    "high-water mark: {a} acknowledged, all held (up to {})\n",
                    v.stored
                )),
            }
            text
        }
    };
    write_stdout(text.as_bytes())?;
    Ok(if v.ok() {
        ExitStatus::Success
    } else {
        ExitStatus::CheckFailed
    })
}

fn backup(args: BackupArgs) -> anyhow::Result<ExitStatus> {
    let bytes = playtrace_store::backup(&args.data_dir, &args.to).with_context(|| {
        format!(
            "cannot back up the store in {} to {}",
            args.data_dir.display(),
            args.to.display()
        )
    })?;
    eprintln!(
        "playtrace: backed up {} to {} ({bytes} bytes)",
        args.data_dir.display(),
        args.to.display()
    );
    Ok(ExitStatus::Success)
}
