//! End-to-end throughput of the client against a running collector:
//! `cargo run --release -p playtrace-sdk --example throughput -- http://127.0.0.1:7070 1000000`
use playtrace_sdk::{Client, ClientConfig, Event};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:7070".into());
    let total: u64 = args.next().map_or(Ok(1_000_000), |n| n.parse())?;
    let mut config = ClientConfig::new(url);
    config.game = Some("sdk-bench".into());
    config.memory_bound = 64 << 20;
    let client = Client::new(config)?;
    let start = Instant::now();
    let mut waits = 0u64;
    for i in 0..total {
        let e = Event::new("telemetry.contest.resolved")
            .session(format!("s-{}", i % 1000))
            .attr("contestId", format!("c-{i}"))
            .attr("hubId", "hub-a")
            .attr("roomId", "room-1")
            .attr("resolutionDurationMs", (i % 900) as f64);
        while !client.emit(e.clone()) {
            // Over the memory bound: a game would drop (counted); a benchmark waits for room.
            waits += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let emitted = start.elapsed();
    client.flush(Duration::from_secs(120))?;
    let all = start.elapsed();
    let sent = client
        .metrics()
        .sent
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{total} events: emit loop {:.2} s, all acknowledged after {:.2} s = {:.0} events/s (acknowledged {sent}, memory-bound waits {waits})",
        emitted.as_secs_f64(),
        all.as_secs_f64(),
        total as f64 / all.as_secs_f64(),
    );
    Ok(())
}
