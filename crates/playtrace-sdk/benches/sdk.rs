//! Criterion benchmarks of the game-thread costs: `cargo bench -p playtrace-sdk`.
//! Targets: EventBus emit to one subscriber < 50 ns; Client::emit < 300 ns (the JavaScript bus
//! this replaces measured about 34 µs per state-store dispatch).
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use playtrace_sdk::{Client, ClientConfig, Event, EventBus, TranscriptRecorder};
use serde_json::Value;
use std::hint::black_box;
use std::time::Duration;

fn bus(c: &mut Criterion) {
    let bus = EventBus::<u64>::default();
    let _one = bus.subscribe("telemetry.contest.armed", |_, p| {
        black_box(p);
        Ok(())
    });
    c.bench_function("EventBus emit, 1 subscriber", |b| {
        b.iter(|| bus.emit(black_box("telemetry.contest.armed"), black_box(&7)))
    });
    let many = EventBus::<u64>::default();
    let subs: Vec<_> = (0..100)
        .map(|i| {
            let pattern = if i % 2 == 0 {
                "telemetry.contest.*"
            } else {
                "telemetry.contest.armed"
            };
            many.subscribe(pattern, |_, p| {
                black_box(p);
                Ok(())
            })
        })
        .collect();
    c.bench_function("EventBus emit, 100 subscribers", |b| {
        b.iter(|| many.emit(black_box("telemetry.contest.armed"), black_box(&7)))
    });
    drop(subs);
}

fn transcript(c: &mut Criterion) {
    let mut t = TranscriptRecorder::new("s");
    c.bench_function("TranscriptRecorder record", |b| {
        b.iter(|| {
            t.record(
                "tutorial_step_completed",
                Some("movement"),
                Some("Move"),
                "step_completed",
                1.0,
                None,
                Value::Null,
            )
        })
    });
}

fn client(c: &mut Criterion) {
    // A fresh client per sample (outside the timing) whose collector does not answer, so the
    // queue only grows: exactly the enqueue cost a game pays, events built beforehand.
    c.bench_function("Client::emit (enqueue)", |b| {
        b.iter_custom(|iters| {
            let mut config = ClientConfig::new("http://127.0.0.1:9");
            config.memory_bound = usize::MAX / 2;
            config.batch_events = usize::MAX;
            config.linger = Duration::from_secs(3600);
            let client = Client::new(config).unwrap();
            let events: Vec<Event> = (0..iters)
                .map(|i| {
                    Event::new("telemetry.contest.resolved")
                        .attr("contestId", "c-1")
                        .attr("n", i)
                })
                .collect();
            let start = std::time::Instant::now();
            for e in events {
                black_box(client.emit(e));
            }
            let elapsed = start.elapsed();
            std::mem::forget(client); // do not time (or wait for) the shutdown
            elapsed
        })
    });
}

criterion_group!(benches, bus, transcript, client);
criterion_main!(benches);
