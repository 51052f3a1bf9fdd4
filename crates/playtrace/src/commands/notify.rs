//! `playtrace notify test --receiver NAME --config FILE`: sends one test notification to a
//! receiver of the collector's config, once, and prints what it answered.

use crate::output::{write_stdout, ExitStatus};
use anyhow::Context;
use clap::{Args, Subcommand};
use playtrace_server::config::ServeConfig;
use std::path::PathBuf;

/// `playtrace notify ...`.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send one test notification (alert `playtrace.test`, severity info) to a receiver and
    /// print its answer. Exit 0: delivered (2xx); 1: refused or unreachable; 2: bad config.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The receiver's `name` in `[[notify.receivers]]`.
    #[arg(long, value_name = "NAME")]
    receiver: String,

    /// The collector's TOML config (the one `playtrace serve --config` reads).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

pub fn run(command: NotifyCommand) -> anyhow::Result<ExitStatus> {
    let NotifyCommand::Test(args) = command;
    let config = ServeConfig::from_file(&args.config)?;
    let runtime = crate::args::runtime("playtrace-notify")?;
    let answer = runtime
        .block_on(playtrace_server::notify::send_test(&config, &args.receiver))
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{}", args.config.display()))?;
    let status = answer
        .status
        .map_or_else(|| "no answer".to_string(), |s| format!("HTTP {s}"));
    let mut text = format!("{}: {status}\n", answer.url);
    if !answer.body.trim().is_empty() {
        text.push_str(answer.body.trim_end());
        text.push('\n');
    }
    match &answer.error {
        None => text.push_str(&format!("delivered to receiver `{}`\n", args.receiver)),
        Some(e) => text.push_str(&format!("not delivered: {e}\n")),
    }
    write_stdout(text.as_bytes())?;
    Ok(if answer.error.is_none() {
        ExitStatus::Success
    } else {
        ExitStatus::CheckFailed
    })
}
