//! `playtrace serve`: run the collector.

use crate::output::ExitStatus;
use clap::Args;
use playtrace_server::config::{parse_listen, ServeConfig};
use std::path::PathBuf;

pub const LONG_ABOUT: &str = "\
Run the collector games send telemetry to.

With no configuration it listens on 127.0.0.1:7070 and stores events in ./playtrace-data
(SQLite, WAL, synchronous=FULL: an acknowledged event is on disk). A TOML config (every key
in docs/CONFIG.md) sets tokens, limits, retention, budgets and windows; --listen, --data-dir
and --config override it.

Send events:   curl -X POST localhost:7070/v1/events -H 'Content-Type: application/x-ndjson' \\
                    --data-binary @examples/telemetry/contests.ndjson
Read budgets:  curl localhost:7070/v1/budgets
More routes in docs/API.md. SIGINT or SIGTERM stops it gracefully (exit 0): no new requests,
in-flight commits finish. A config or bind error exits 2.";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:7070; beyond loopback needs [[tokens]]).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,

    /// Data directory for the store (default ./playtrace-data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// TOML configuration file (see docs/CONFIG.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitStatus> {
    let mut config = match &args.config {
        Some(path) => ServeConfig::from_file(path)?,
        None => ServeConfig::default(),
    };
    if let Some(listen) = &args.listen {
        config.listen = parse_listen("--listen", listen)?;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    let runtime = crate::args::runtime("playtrace-http")?;
    let data_dir = config.data_dir.clone();
    runtime.block_on(playtrace_server::serve(
        config,
        playtrace_server::shutdown_signal(),
        |running| {
            eprintln!(
                "playtrace: collector listening on http://{} (data in {})",
                running.local_addr(),
                data_dir.display()
            );
        },
    ))?;
    eprintln!("playtrace: stopped cleanly");
    Ok(ExitStatus::Success)
}
