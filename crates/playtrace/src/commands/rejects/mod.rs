//! `playtrace rejects`: browse the rejects a running collector stored (`list`, `show`) and
//! replay them through its ingest, optionally repaired by a transform file (`replay`, in
//! `replay.rs`). A thin client of `GET /v1/rejects` and `POST /v1/rejects/replay`.

mod replay;

use crate::args::Format;
use crate::client::query;
use crate::client::Collector;
use crate::output::{write_stdout, ExitStatus};
use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::time::Duration;

pub const LONG_ABOUT: &str = "\
Browse the lines a collector could not read, and replay them once the cause is fixed.

  playtrace rejects list --kind schema --since 1h
  playtrace rejects list --group-by kind,message          # what is failing, how much
  playtrace rejects show 42
  playtrace rejects replay --dry-run --transform fix.toml  # how many would pass now, and why not
  playtrace rejects replay --since 2025-11-05T06:00:00Z --transform fix.toml

A replay reads each selected reject's raw line again through the collector's ingest (current
dialects and checks), after the transform (TOML: [[rename]] from/to, [[set]] field/value/
only_if_missing, [[drop]] field; see docs/REJECTS.md). Each reject is replayed at most once:
run it again after an interruption and it carries on. `replay` needs --admin-token.
Exit codes: 0 success; 2 usage or connection error.";

#[derive(Debug, Args)]
pub struct RejectsArgs {
    #[command(subcommand)]
    verb: Verb,

    #[command(flatten)]
    collector: crate::args::CollectorArgs,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Which rejects: shared by `list` and `replay`.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct Selection {
    /// parse, schema, size or encoding.
    #[arg(long)]
    kind: Option<String>,
    /// The event name the line carries (when it could be read).
    #[arg(long)]
    name: Option<String>,
    /// The game the line names.
    #[arg(long)]
    game: Option<String>,
    /// The environment the line names.
    #[arg(long)]
    env: Option<String>,
    /// Received at or after: RFC 3339, epoch ms, or a duration back from now (1h).
    #[arg(long)]
    since: Option<String>,
    /// Received before (same forms as --since).
    #[arg(long)]
    until: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Stored rejects, oldest first (or counted by --group-by).
    List {
        #[command(flatten)]
        selection: Selection,
        /// Text the message contains.
        #[arg(long)]
        grep: Option<String>,
        /// Count by these (kind, message, name, game, env; comma-separated).
        #[arg(long)]
        group_by: Option<String>,
        /// Only rejects not replayed yet.
        #[arg(long)]
        pending: bool,
        /// After this reject (the cursor of the previous page).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One reject, with its raw line.
    Show {
        /// Its sequence number.
        seq: i64,
    },
    /// Read selected rejects again through ingest; each at most once.
    Replay(replay::ReplayArgs),
}

pub fn run(args: RejectsArgs) -> anyhow::Result<ExitStatus> {
    let read = |timeout| {
        Collector::new(
            &args.collector.url,
            None,
            args.collector.read_token.clone(),
            timeout,
        )
    };
    match &args.verb {
        Verb::List {
            selection,
            grep,
            group_by,
            pending,
            after,
            limit,
        } => {
            let mut pairs = selection.pairs();
            pairs.push(("q", grep.clone()));
            pairs.push(("group_by", group_by.clone()));
            pairs.push(("replayed", pending.then(|| "false".to_string())));
            if group_by.is_none() {
                pairs.push(("after", Some(after.to_string())));
                pairs.push(("limit", Some(limit.to_string())));
            }
            let answer = get(
                &read(Duration::from_secs(30)),
                &format!("/v1/rejects?{}", query(&pairs)),
            )?;
            print(args.format, &answer, list_text)
        }
        Verb::Show { seq } => {
            let answer = get(
                &read(Duration::from_secs(30)),
                &format!("/v1/rejects/{seq}"),
            )?;
            print(args.format, &answer, |v| {
                format!(
                    "{}\n{}\n",
                    reject_line(v),
                    v["raw"].as_str().unwrap_or_default()
                )
            })
        }
        Verb::Replay(r) => replay::run(
            r,
            &read(Duration::from_secs(24 * 3600)),
            args.collector.admin_token.as_deref(),
            args.format,
        ),
    }
}

impl Selection {
    fn pairs(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("kind", self.kind.clone()),
            ("name", self.name.clone()),
            ("game", self.game.clone()),
            ("env", self.env.clone()),
            ("since", self.since.clone()),
            ("until", self.until.clone()),
        ]
    }
}

fn get(c: &Collector, path: &str) -> anyhow::Result<Value> {
    let answer = c.get(path)?;
    if !(200..300).contains(&answer.status) {
        let message = answer.body["error"]["message"]
            .as_str()
            .map_or_else(|| answer.body.to_string(), str::to_string);
        bail!("GET {path} answered {}: {message}", answer.status);
    }
    Ok(answer.body)
}

fn print(format: Format, v: &Value, text: impl Fn(&Value) -> String) -> anyhow::Result<ExitStatus> {
    let out = match format {
        Format::Json => format!("{v}\n"),
        Format::Text => text(v),
    };
    write_stdout(out.as_bytes())?;
    Ok(ExitStatus::Success)
}

fn reject_line(v: &Value) -> String {
    let replayed = match v["replayedSeq"].as_i64() {
        Some(seq) => format!(" replayed as event {seq}"),
        None if v["replayed"] == true => " replayed".to_string(),
        None => String::new(),
    };
    format!(
        "#{} line {} {}: {}{replayed}",
        v["seq"],
        v["line"],
        v["kind"].as_str().unwrap_or("?"),
        v["message"].as_str().unwrap_or_default()
    )
}

fn list_text(v: &Value) -> String {
    let mut out = String::new();
    if let Some(groups) = v["groups"].as_array() {
        for g in groups {
            let key: Vec<String> = g
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !matches!(k.as_str(), "count" | "firstMs" | "lastMs" | "example"))
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("-")))
                .collect();
            out.push_str(&format!(
                "{:>8}  {}  (e.g. #{})\n",
                g["count"].as_u64().unwrap_or(0),
                key.join(" "),
                g["example"]["seq"]
            ));
        }
        out.push_str(&format!("{:>8}  total\n", v["total"].as_u64().unwrap_or(0)));
        return out;
    }
    for r in v["rejects"].as_array().into_iter().flatten() {
        out.push_str(&reject_line(r));
        out.push('\n');
    }
    out
}
