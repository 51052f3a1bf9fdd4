//! A minimal instrumented game loop: `cargo run -p playtrace-sdk --example game_loop`
//! (with `playtrace serve` running on 127.0.0.1:7070).
use playtrace_sdk::{Armed, Client, ClientConfig, ContestRef, ContestTracker, Event, EventBus};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = ClientConfig::new("http://127.0.0.1:7070");
    config.game = Some("example".into());
    config.spool_dir = Some("./playtrace-spool".into()); // survives a collector outage
    let client = std::rc::Rc::new(Client::new(config)?);

    // Game systems talk over the bus; one subscriber forwards contest records to PlayTrace.
    let bus = EventBus::<serde_json::Value>::default();
    let sink = client.clone();
    let _forward = bus.subscribe("telemetry.contest.*", move |name, fields| {
        let mut event = Event::new(name.to_string());
        for (k, v) in fields.as_object().into_iter().flatten() {
            event = event.attr(k.clone(), v.clone());
        }
        sink.emit(event); // never blocks the frame
        Ok(())
    });

    let mut contests = ContestTracker::new();
    for frame in 0..100u64 {
        let now = frame as f64 * 16.0;
        let duel = ContestRef::new("hub-a", "room-1", &format!("duel:p{frame}::p{}", frame + 1));
        let records = [
            Some(contests.armed(Armed {
                contest: duel.clone(),
                created_at: Some(now),
                ..Armed::default()
            })),
            contests.launched(duel, Some(&format!("c-{frame}")), Some(2), now + 120.0),
            Some(contests.resolved(&format!("c-{frame}"), Some("success"), None, now + 480.0)),
        ];
        for record in records.into_iter().flatten() {
            bus.emit(record.message, &record.to_json());
        }
        client.emit(Event::new("player.frame").attr("frame", frame));
    }
    client.flush(Duration::from_secs(5))?; // everything above is stored or spooled now
    println!(
        "sent {} events",
        client
            .metrics()
            .sent
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}
