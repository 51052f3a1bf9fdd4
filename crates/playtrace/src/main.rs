//! `playtrace`: telemetry and live-ops monitoring for online games.
//!
//! This crate is the command-line edge: argument parsing, files, terminals and exit codes, one
//! module per command under `commands/`. Engines live in libraries: telemetry rules in
//! `playtrace-core`, log reading in `playtrace-read`, artifacts and writers in
//! `playtrace-export`, the collector in `playtrace-server`.

mod args;
mod client;
mod commands;
mod output;
mod progress;
mod signal;

use clap::{Parser, Subcommand};
use commands::{alerts, demo, export, monitor, notify, plan, qa, rejects, serve, smoke, store};
use output::ExitStatus;
use std::process::ExitCode;
use tracing_subscriber::filter::LevelFilter;

const AFTER_HELP: &str = "\
Exit codes (every command):
  0  success
  1  the check the command exists for failed (for monitor: a budget was breached)
  2  usage, configuration, connection or unreadable-input error
     (serve: 0 after a graceful stop on SIGINT/SIGTERM, 2 on a config or bind error)

Logging: -v, -vv, -vvv or PLAYTRACE_LOG=error|warn|info|debug|trace (to stderr).";

#[derive(Debug, Parser)]
#[command(
    name = "playtrace",
    version,
    about = "Telemetry and live-ops monitoring for online games",
    after_help = AFTER_HELP,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// More diagnostic logging on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check contest latency budgets in telemetry logs (a CI gate).
    #[command(long_about = monitor::LONG_ABOUT)]
    Monitor(monitor::MonitorArgs),
    /// The collector plus a simulated game feeding it: see everything working.
    #[command(long_about = demo::LONG_ABOUT)]
    Demo(demo::DemoArgs),
    /// Run the collector: ingest, durable store, live contests and budgets, REST API.
    #[command(long_about = serve::LONG_ABOUT)]
    Serve(serve::ServeArgs),
    /// Build QA artifacts and write them to files and object storage, with retries and a DLQ.
    #[command(long_about = export::LONG_ABOUT)]
    Export(Box<export::ExportArgs>),
    /// Prove a running collector works end to end (probe, live alert, replay).
    #[command(long_about = smoke::LONG_ABOUT)]
    Smoke(smoke::SmokeArgs),
    /// Is the newest moderation alert live and fresh?
    #[command(long_about = alerts::LONG_ABOUT)]
    Alerts(alerts::AlertsArgs),
    /// Browse stored rejects; replay them through ingest (repaired by a transform) exactly once.
    #[command(long_about = rejects::LONG_ABOUT)]
    Rejects(rejects::RejectsArgs),
    /// Check a collector's store after a crash, or copy it while `serve` runs.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Tracking plans: check logs against event contracts, draft a plan, diff two plans.
    #[command(subcommand, long_about = plan::LONG_ABOUT)]
    Plan(plan::PlanCommand),
    /// Alert notifications: send a test notification to a configured receiver.
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// Replay offline publishing jobs: moderation hold, publishing with rollback, search sync.
    #[command(long_about = qa::LONG_ABOUT)]
    Qa(Box<qa::QaArgs>),
}

fn init_logging(verbose: u8) {
    let level = match std::env::var("PLAYTRACE_LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
    {
        Some(level) => level,
        None => match verbose {
            0 => LevelFilter::WARN,
            1 => LevelFilter::INFO,
            2 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        },
    };
    // Colours only on a terminal: a log file or journal gets plain text it can be grepped in.
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Monitor(args) => monitor::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Export(args) => export::run(*args),
        Command::Smoke(args) => smoke::run(args),
        Command::Alerts(args) => alerts::run(args),
        Command::Rejects(args) => rejects::run(args),
        Command::Store(command) => store::run(command),
        Command::Plan(command) => plan::run(command),
        Command::Notify(command) => notify::run(command),
        Command::Qa(args) => qa::run(*args),
    };
    match result {
        Ok(ExitStatus::Success) => ExitCode::SUCCESS,
        Ok(ExitStatus::CheckFailed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", output::error_chain(&e));
            ExitCode::from(2)
        }
    }
}
