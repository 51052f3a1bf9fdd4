//! The monitor's reading path without the CLI, for profiling the reading engine:
//! `cargo build --release -p playtrace-read --example monitor_core` builds only core and this
//! crate (minutes, where a release build of the whole CLI takes half an hour on two busy cores),
//! then `perf record -g target/release/examples/monitor_core FILE [THREADS]` prints the wall time
//! on stderr and the duration statistics as JSON on stdout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use playtrace_core::budget::BudgetSet;
use playtrace_core::contest::{Correlator, CorrelatorOptions};
use playtrace_read::{open_all, read, ReadOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(file) = args.get(1) else {
        eprintln!("usage: monitor_core FILE [THREADS]");
        std::process::exit(2);
    };
    let threads = args
        .get(2)
        .map_or(2, |t| t.parse().expect("THREADS is a number"));
    let counter = std::sync::Arc::default();
    let opened = open_all(std::slice::from_ref(file), &counter).expect("the input opens");
    let mut correlator = Correlator::new(CorrelatorOptions::default());
    // As `playtrace monitor` does: about one contest per kilobyte.
    correlator.reserve((opened.total_bytes.unwrap_or(0) / 1024) as usize);
    let started = std::time::Instant::now();
    let options = ReadOptions {
        workers: threads,
        ..ReadOptions::default()
    };
    let stats = read(opened.inputs, options, &mut correlator, &mut |_| Ok(())).expect("read");
    let summary = correlator.finish(&BudgetSet::default(), stats.rejects);
    eprintln!("{:?}", started.elapsed());
    println!(
        "{}",
        serde_json::to_string(&summary.durations).expect("JSON")
    );
}
