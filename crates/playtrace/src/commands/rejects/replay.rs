//! `playtrace rejects replay`: one `POST /v1/rejects/replay` with the selection and the
//! transform file's text; the collector reads, repairs and stores (each reject at most once).

use super::Selection;
use crate::args::Format;
use crate::client::Collector;
use crate::output::{write_stdout, ExitStatus};
use anyhow::Context;
use clap::Args;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    selection: Selection,
    /// Report how many would pass now and why the rest still fail; store nothing.
    #[arg(long)]
    dry_run: bool,
    /// Repairs applied to each raw line first (TOML; docs/REJECTS.md).
    #[arg(long, value_name = "FILE")]
    transform: Option<PathBuf>,
    /// The game of lines that name none (as `?game=` at ingest).
    #[arg(long)]
    default_game: Option<String>,
}

pub(crate) fn run(
    args: &ReplayArgs,
    c: &Collector,
    admin_token: Option<&str>,
    format: Format,
) -> anyhow::Result<ExitStatus> {
    let mut body = Map::new();
    for (key, value) in args.selection.pairs() {
        if let Some(v) = value {
            body.insert(key.into(), Value::String(v));
        }
    }
    if let Some(path) = &args.transform {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the transform file {}", path.display()))?;
        body.insert("transform".into(), Value::String(text));
    }
    if let Some(g) = &args.default_game {
        body.insert("defaultGame".into(), Value::String(g.clone()));
    }
    body.insert("dryRun".into(), json!(args.dry_run));
    let answer = c.send(
        "POST",
        "/v1/rejects/replay",
        Some(&Value::Object(body)),
        admin_token,
    )?;
    let v = answer.body;
    let out = match format {
        Format::Json => format!("{v}\n"),
        Format::Text => text(&v),
    };
    write_stdout(out.as_bytes())?;
    Ok(ExitStatus::Success)
}

fn text(v: &Value) -> String {
    let mut out = if v["dryRun"] == true {
        format!(
            "dry run: {} of {} selected rejects would pass now\n",
            v["passing"], v["selected"]
        )
    } else {
        format!(
            "replayed {} of {} selected rejects: {} events stored, {} already stored\n",
            v["replayed"], v["selected"], v["events"], v["duplicates"]
        )
    };
    if v["outsideLiveWindows"].as_u64().unwrap_or(0) > 0 {
        out.push_str(&format!(
            "{} were received before the live windows' horizon: stored, but not in live budgets\n",
            v["outsideLiveWindows"]
        ));
    }
    for g in v["stillFailing"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:>8}  still fail: {}: {} (e.g. #{})\n",
            g["count"].as_u64().unwrap_or(0),
            g["kind"].as_str().unwrap_or("?"),
            g["message"].as_str().unwrap_or_default(),
            g["exampleSeq"]
        ));
    }
    out
}
