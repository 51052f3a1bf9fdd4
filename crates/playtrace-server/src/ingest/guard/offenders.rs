//! Who hit a limit: recent hits per game and limit with their most frequent sessions, players
//! and builds (bounded top lists), turned into a `pipeline` alert past `limits.alert_hits` a
//! minute.

use super::Limit;
use playtrace_core::alert::{AlertCandidate, Category, Severity};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Entries a top list keeps (the Space-Saving sketch: a newcomer replaces the least counted, so
/// a heavy offender is never missed whatever the number of light ones).
const TOP_KEEP: usize = 32;
/// Entries an alert shows per list.
const TOP_SHOWN: usize = 5;
/// Hits older than this do not add up to an alert.
const PERIOD_MS: f64 = 60_000.0;

#[derive(Debug, Default)]
pub(super) struct Top {
    counts: HashMap<String, u64>,
}

impl Top {
    pub(super) fn add(&mut self, key: &str, n: u64) {
        if let Some(c) = self.counts.get_mut(key) {
            *c += n;
            return;
        }
        let floor = if self.counts.len() < TOP_KEEP {
            0
        } else {
            let Some((least, count)) = self
                .counts
                .iter()
                .min_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(k, c)| (k.clone(), *c))
            else {
                return;
            };
            self.counts.remove(&least);
            count
        };
        self.counts.insert(key.to_string(), floor + n);
    }

    fn shown(&self, name: &str) -> Value {
        let mut v: Vec<(&String, &u64)> = self.counts.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        Value::Array(
            v.into_iter()
                .take(TOP_SHOWN)
                .map(|(k, c)| json!({ name: k, "hits": c }))
                .collect(),
        )
    }
}

/// Hits of one game and limit since its period began.
#[derive(Debug)]
pub(super) struct Recent {
    since_ms: f64,
    pub(super) hits: u64,
    pub(super) sessions: Top,
    pub(super) players: Top,
    pub(super) builds: Top,
}

impl Recent {
    fn new(now_ms: f64) -> Recent {
        Recent {
            since_ms: now_ms,
            hits: 0,
            sessions: Top::default(),
            players: Top::default(),
            builds: Top::default(),
        }
    }
}

/// Recent hits of every (game label, limit).
#[derive(Debug, Default)]
pub(super) struct Offenders {
    recent: HashMap<(String, Limit), Recent>,
}

impl Offenders {
    /// The period of `game` and `limit`, begun anew when the last one is over.
    pub(super) fn at(&mut self, game: &str, limit: Limit, now_ms: f64) -> &mut Recent {
        let r = self
            .recent
            .entry((game.to_string(), limit))
            .or_insert_with(|| Recent::new(now_ms));
        if now_ms - r.since_ms > PERIOD_MS {
            *r = Recent::new(now_ms);
        }
        r
    }

    /// Alerts for every game and limit with at least `threshold` hits in its period; their
    /// periods start again.
    pub(super) fn due(&mut self, threshold: u64, now_ms: f64) -> Vec<(String, AlertCandidate)> {
        if threshold == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        self.recent
            .retain(|_, r| now_ms - r.since_ms <= PERIOD_MS || r.hits >= threshold);
        for ((game, limit), r) in &mut self.recent {
            if r.hits < threshold {
                continue;
            }
            let mut data = Map::new();
            data.insert("game".into(), json!(game));
            data.insert("limit".into(), json!(limit.as_str()));
            data.insert("hits".into(), json!(r.hits));
            data.insert(
                "periodSeconds".into(),
                json!(((now_ms - r.since_ms) / 1000.0).round()),
            );
            data.insert("topSessions".into(), r.sessions.shown("session"));
            data.insert("topPlayers".into(), r.players.shown("player"));
            data.insert("topBuilds".into(), r.builds.shown("build"));
            out.push((
                game.clone(),
                AlertCandidate {
                    rule: "limit".into(),
                    category: Category::Pipeline,
                    severity: Severity::High,
                    reason: format!("limit.{}", limit.as_str()),
                    fingerprint: format!("limit:{game}:{}", limit.as_str()),
                    session_id: None,
                    data,
                    seeded: false,
                    probe: false,
                    created_ms: None,
                },
            ));
            *r = Recent::new(now_ms);
        }
        out.sort_by(|a, b| a.1.fingerprint.cmp(&b.1.fingerprint));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heaviest_offender_survives_many_light_ones() {
        let mut t = Top::default();
        for i in 0..10_000 {
            t.add(&format!("light-{i}"), 1);
            if i % 10 == 0 {
                t.add("heavy", 5);
            }
        }
        assert!(t.counts.len() <= TOP_KEEP);
        let shown = t.shown("session");
        assert_eq!(shown[0]["session"], "heavy", "{shown}");
    }

    #[test]
    fn an_alert_names_the_game_the_limit_and_the_offenders() {
        let mut o = Offenders::default();
        let r = o.at("gf", Limit::SessionEventsPerDay, 0.0);
        r.hits = 3;
        r.sessions.add("s1", 3);
        r.builds.add("1.2.3", 3);
        assert!(o.due(4, 1000.0).is_empty());
        let due = o.due(3, 1000.0);
        assert_eq!(due.len(), 1);
        let (game, c) = &due[0];
        assert_eq!(game, "gf");
        assert_eq!(c.category, Category::Pipeline);
        assert_eq!(c.reason, "limit.session_events_per_day");
        assert_eq!(c.data["topSessions"][0]["session"], "s1");
        assert_eq!(c.data["topBuilds"][0]["build"], "1.2.3");
        // The period starts again.
        assert!(o.due(3, 2000.0).is_empty());
    }
}
