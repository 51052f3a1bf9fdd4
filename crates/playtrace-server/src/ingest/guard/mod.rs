//! Per-game guards on ingest (`[[games]]`, `[limits]`, `[[sampling]]`): one game's flood must not
//! cost the others. After a request is parsed and before it is committed, [`Guard::admit`]
//!
//! 1. takes one token per event from each game's bucket (`events_per_second`, `burst`); a game
//!    short of tokens refuses the whole request with 429 and `Retry-After` (nothing stored,
//!    nothing counted against daily caps), which both SDKs wait for;
//! 2. drops events that a sampling rule samples out (by a hash of the session: a kept session is
//!    kept whole; contest, workflow and alert-raising events, and events the tracking plan
//!    marks `"requiredEvent": true`, are never sampled);
//! 3. counts the rest per session and per player for the UTC day; past a cap an event is
//!    dropped or stored flagged (`over_daily_cap`), never silently: the answer says how many,
//!    `playtrace_limit_hits_total{game,limit}` counts them, and past `limits.alert_hits` a
//!    minute a `pipeline` alert names the game, the limit and the top sessions, players and
//!    builds ([`offenders`]).
//!
//! A cap counts what a session or player stored: the places an event took are given back
//! ([`Guard::refund`]) when the store finds it a duplicate (a client's retry of a batch already
//! stored), when the commit fails, and at once for an event dropped over another cap.
//!
//! The state sits behind one mutex taken once per request; with nothing configured the guard
//! returns at once.

mod bucket;
mod daily;
mod offenders;
mod sample;

use crate::config::{Games, OverCap};
use crate::ingest::plan::Gate;
use crate::ingest::Parsed;
use crate::metrics::{header, sample as metric};
use bucket::Bucket;
use daily::{day_of, Count, Daily};
use offenders::Offenders;
use playtrace_core::alert::{AlertCandidate, RuleSet};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

/// Distinct game labels `/metrics` shows before others fold into `other` (configured games
/// always have theirs).
const MAX_GAME_LABELS: usize = 100;
/// Buckets of unconfigured games kept at most; full ones (the same as new) are dropped first.
const MAX_BUCKETS: usize = 10_000;

/// A limit, as named in metrics, alerts and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Limit {
    EventsPerSecond,
    SessionEventsPerDay,
    PlayerEventsPerDay,
    MaxBody,
    MaxLine,
    /// An event not capped because the day's table of sessions or players was full.
    DailyKeys,
}

impl Limit {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Limit::EventsPerSecond => "events_per_second",
            Limit::SessionEventsPerDay => "session_events_per_day",
            Limit::PlayerEventsPerDay => "player_events_per_day",
            Limit::MaxBody => "max_body",
            Limit::MaxLine => "max_line",
            Limit::DailyKeys => "daily_keys",
        }
    }
}

/// A request refused for its game's rate: answered 429 with `Retry-After`.
#[derive(Debug)]
pub(crate) struct RateLimited {
    pub(crate) game: String,
    pub(crate) rate: f64,
    pub(crate) events: u64,
    /// Whole seconds to wait (at least 1).
    pub(crate) retry_after: u32,
}

/// What the guard did to a request's events: shown in the ingest answer.
#[derive(Debug, Default)]
pub(crate) struct Admitted {
    /// Events not stored, by cause (`sampled`, `session_events_per_day`, …).
    pub(crate) dropped: BTreeMap<&'static str, u64>,
    /// Events stored with `playtraceLimit`, by cap.
    pub(crate) flagged: BTreeMap<&'static str, u64>,
    /// The daily-cap places the request's events took, for [`Guard::refund`].
    pub(crate) charges: Charges,
}

/// The daily-cap places a request's events took: given back for the events the store did not
/// keep (duplicates), or for all of them when the commit failed.
#[derive(Debug, Default)]
pub(crate) struct Charges {
    day: i64,
    /// (the event's index among the request's events after admission, its session key, its
    /// player key): the keys whose counts it took.
    taken: Vec<(usize, Option<u64>, Option<u64>)>,
}

#[derive(Default)]
struct State {
    buckets: HashMap<String, Bucket>,
    sessions: Daily,
    players: Daily,
    labels: HashSet<String>,
    /// Totals for `/metrics`: (game label, limit) → events.
    hits: BTreeMap<(String, Limit), u64>,
    /// (game label, rule index) → events sampled out.
    sampled_out: BTreeMap<(String, usize), u64>,
    offenders: Offenders,
}

impl State {
    /// The game's label in metrics and alerts, bounded.
    fn label(&mut self, games: &Games, game: &str) -> String {
        if games.games.contains_key(game) || self.labels.contains(game) {
            return game.to_string();
        }
        if self.labels.len() < MAX_GAME_LABELS {
            self.labels.insert(game.to_string());
            return game.to_string();
        }
        "other".to_string()
    }
}

/// The guard of one collector.
pub(crate) struct Guard {
    config: Games,
    active: bool,
    state: Mutex<State>,
}

/// One hit to record, with who caused it.
struct Hit<'a> {
    game: &'a str,
    limit: Limit,
    events: u64,
    session: Option<&'a str>,
    body: Option<&'a str>,
}

impl Guard {
    pub(crate) fn new(config: Games) -> Guard {
        Guard {
            active: config.is_active(),
            config,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The body limit of a request whose game is `game` (its `[[games]]` `max_body`, else
    /// `default`).
    pub(crate) fn max_body(&self, game: Option<&str>, default: u64) -> u64 {
        game.and_then(|g| self.config.games.get(g)?.max_body)
            .map_or(default, |b| b.as_u64())
    }

    /// The line limit of a request whose game is `game`.
    pub(crate) fn max_line(&self, game: Option<&str>, default: u64) -> u64 {
        game.and_then(|g| self.config.games.get(g)?.max_line)
            .map_or(default, |b| b.as_u64())
    }

    /// Counts hits of a size limit (a body refused 413, lines rejected as too long).
    pub(crate) fn count_size(&self, game: Option<&str>, limit: Limit, events: u64) {
        if events == 0 {
            return;
        }
        let mut st = self.state();
        self.record(
            &mut st,
            Hit {
                game: game.unwrap_or_default(),
                limit,
                events,
                session: None,
                body: None,
            },
            playtrace_store::now_ms() as f64,
        );
    }

    fn record(&self, st: &mut State, hit: Hit<'_>, now_ms: f64) {
        let label = st.label(&self.config, hit.game);
        *st.hits.entry((label.clone(), hit.limit)).or_insert(0) += hit.events;
        let r = st.offenders.at(&label, hit.limit, now_ms);
        r.hits += hit.events;
        if let Some(s) = hit.session {
            r.sessions.add(s, hit.events);
        }
        if let Some(body) = hit.body {
            if let Some(p) = attr(body, &self.config.player_attr) {
                r.players.add(&p, hit.events);
            }
            if let Some(b) = attr(body, &self.config.build_attr) {
                r.builds.add(&b, hit.events);
            }
        }
    }

    /// Applies the rate limits, sampling and daily caps to a parsed request (module docs).
    pub(crate) fn admit(
        &self,
        parsed: &mut Parsed,
        rules: &RuleSet,
        now_ms: f64,
    ) -> Result<Admitted, RateLimited> {
        let mut admitted = Admitted::default();
        if !self.active || parsed.events.is_empty() {
            return Ok(admitted);
        }
        let mut st = self.state();
        self.take_tokens(&mut st, parsed, now_ms)?;
        let mut observed = vec![false; parsed.events.len()];
        for o in &parsed.observations.observations {
            if let Some(slot) = observed.get_mut(o.line as usize) {
                *slot = true;
            }
        }
        let mut keep = vec![true; parsed.events.len()];
        let mut flags: Vec<(usize, Limit)> = Vec::new();
        let mut taken: Vec<(usize, Option<u64>, Option<u64>)> = Vec::new();
        // Counted here and added to the totals once per request (no label per event).
        let mut sampled: Vec<((&str, usize), u64)> = Vec::new();
        for (i, e) in parsed.events.iter().enumerate() {
            if !observed[i] {
                if let Some((r, rule)) = self
                    .config
                    .sampling
                    .iter()
                    .enumerate()
                    .find(|(_, r)| r.matches(&e.game, &e.name))
                {
                    let kept = e
                        .session
                        .as_deref()
                        .is_none_or(|s| sample::keeps(s, rule.sample));
                    let plan = parsed.plan.as_deref().map(Gate::plan);
                    if !kept && !sample::protected(e, rules, plan) {
                        keep[i] = false;
                        let key = (e.game.as_str(), r);
                        match sampled.last_mut() {
                            Some((k, n)) if *k == key => *n += 1,
                            _ => sampled.push((key, 1)),
                        }
                        continue;
                    }
                }
            }
            let limits = self.config.limits(&e.game);
            let mut over = None;
            let mut untracked = false;
            let (mut session_key, mut player_key) = (None, None);
            if let (Some(cap), Some(s)) = (limits.session_events_per_day, e.session.as_deref()) {
                let key = sample::hash(&[&e.game, s]);
                match st.sessions.count(key, cap, now_ms) {
                    Count::Over => over = Some(Limit::SessionEventsPerDay),
                    Count::Untracked => untracked = true,
                    Count::Within => session_key = Some(key),
                }
            }
            if let Some(cap) = limits.player_events_per_day {
                if let Some(p) = attr(&e.body, &self.config.player_attr) {
                    let key = sample::hash(&[&e.game, &p]);
                    match st.players.count(key, cap, now_ms) {
                        Count::Over => {
                            over.get_or_insert(Limit::PlayerEventsPerDay);
                        }
                        Count::Untracked => untracked = true,
                        Count::Within => player_key = Some(key),
                    }
                }
            }
            let dropping = over.is_some() && limits.over_daily_cap == OverCap::Drop;
            if dropping {
                // Not stored: the place it took under the other cap is free again.
                let day = day_of(now_ms);
                if let Some(k) = session_key {
                    st.sessions.uncount(k, day);
                }
                if let Some(k) = player_key {
                    st.players.uncount(k, day);
                }
            } else if session_key.is_some() || player_key.is_some() {
                taken.push((i, session_key, player_key));
            }
            if untracked {
                let hit = Hit {
                    game: &e.game,
                    limit: Limit::DailyKeys,
                    events: 1,
                    session: e.session.as_deref(),
                    body: None,
                };
                self.record(&mut st, hit, now_ms);
            }
            let Some(limit) = over else { continue };
            let hit = Hit {
                game: &e.game,
                limit,
                events: 1,
                session: e.session.as_deref(),
                body: Some(&e.body),
            };
            self.record(&mut st, hit, now_ms);
            match limits.over_daily_cap {
                OverCap::Drop => {
                    keep[i] = false;
                    *admitted.dropped.entry(limit.as_str()).or_insert(0) += 1;
                }
                OverCap::Flag => {
                    flags.push((i, limit));
                    *admitted.flagged.entry(limit.as_str()).or_insert(0) += 1;
                }
            }
        }
        for ((game, rule), n) in sampled {
            let label = st.label(&self.config, game);
            *st.sampled_out.entry((label, rule)).or_insert(0) += n;
            *admitted.dropped.entry("sampled").or_insert(0) += n;
        }
        drop(st);
        for (i, limit) in flags {
            if let Some(e) = parsed.events.get_mut(i) {
                e.body = flagged(&e.body, limit);
            }
        }
        if keep.contains(&false) {
            retain(parsed, &keep);
            // Charges name events by their index among those kept.
            let mut kept_before = Vec::with_capacity(keep.len());
            let mut n = 0;
            for &k in &keep {
                kept_before.push(n);
                n += usize::from(k);
            }
            for t in &mut taken {
                t.0 = kept_before.get(t.0).copied().unwrap_or(t.0);
            }
        }
        admitted.charges = Charges {
            day: day_of(now_ms),
            taken,
        };
        Ok(admitted)
    }

    /// Gives back the daily-cap places of events that were not stored: those `inserted` marks
    /// `false` (duplicates of stored events; `inserted` is per event of the commit, in request
    /// order), or every one when `inserted` is `None` (the commit failed).
    pub(crate) fn refund(&self, charges: &Charges, inserted: Option<&[bool]>) {
        let not_stored = |i: usize| inserted.is_none_or(|ins| !ins.get(i).copied().unwrap_or(true));
        if !charges.taken.iter().any(|t| not_stored(t.0)) {
            return;
        }
        let mut st = self.state();
        for &(i, session, player) in &charges.taken {
            if !not_stored(i) {
                continue;
            }
            if let Some(k) = session {
                st.sessions.uncount(k, charges.day);
            }
            if let Some(k) = player {
                st.players.uncount(k, charges.day);
            }
        }
    }

    /// Takes each game's tokens for its events in the request, or none when one game is short.
    fn take_tokens(&self, st: &mut State, parsed: &Parsed, now_ms: f64) -> Result<(), RateLimited> {
        // Lines of one game come together: count runs, and touch the map once per run.
        let mut per_game: BTreeMap<&str, u64> = BTreeMap::new();
        let mut run: Option<(&str, u64)> = None;
        for e in &parsed.events {
            match &mut run {
                Some((g, n)) if *g == e.game => *n += 1,
                _ => {
                    if let Some((g, n)) = run.replace((e.game.as_str(), 1)) {
                        *per_game.entry(g).or_insert(0) += n;
                    }
                }
            }
        }
        if let Some((g, n)) = run {
            *per_game.entry(g).or_insert(0) += n;
        }
        let mut wanted = Vec::new();
        for (&game, &n) in &per_game {
            let Some((rate, burst)) = self.config.limits(game).bucket() else {
                continue;
            };
            if st.buckets.len() >= MAX_BUCKETS && !st.buckets.contains_key(game) {
                st.buckets.retain(|_, b| !b.is_full(burst));
            }
            let bucket = st
                .buckets
                .entry(game.to_string())
                .or_insert_with(|| Bucket::full(burst, now_ms));
            bucket.refill(rate, burst, now_ms);
            if let Some(wait) = bucket.wait(n as f64, rate, burst) {
                let mut sessions: BTreeMap<&str, u64> = BTreeMap::new();
                for e in parsed.events.iter().filter(|e| e.game == game) {
                    *sessions
                        .entry(e.session.as_deref().unwrap_or(""))
                        .or_insert(0) += 1;
                }
                let body = parsed
                    .events
                    .iter()
                    .find(|e| e.game == game)
                    .map(|e| e.body.as_str());
                let label = st.label(&self.config, game);
                *st.hits
                    .entry((label.clone(), Limit::EventsPerSecond))
                    .or_insert(0) += n;
                let r = st.offenders.at(&label, Limit::EventsPerSecond, now_ms);
                r.hits += n;
                for (s, k) in sessions.into_iter().filter(|(s, _)| !s.is_empty()) {
                    r.sessions.add(s, k);
                }
                if let Some(body) = body {
                    if let Some(p) = attr(body, &self.config.player_attr) {
                        r.players.add(&p, n);
                    }
                    if let Some(b) = attr(body, &self.config.build_attr) {
                        r.builds.add(&b, n);
                    }
                }
                return Err(RateLimited {
                    game: game.to_string(),
                    rate,
                    events: n,
                    retry_after: wait.ceil().clamp(1.0, 3600.0) as u32,
                });
            }
            wanted.push((game, n));
        }
        for (game, n) in wanted {
            if let Some(b) = st.buckets.get_mut(game) {
                b.take(n as f64);
            }
        }
        Ok(())
    }

    /// Alerts due for limits hit `limits.alert_hits` times within a minute.
    pub(crate) fn due_alerts(&self, now_ms: f64) -> Vec<(String, AlertCandidate)> {
        let threshold = self.config.alert_hits;
        self.state().offenders.due(threshold, now_ms)
    }

    /// `playtrace_limit_hits_total` and `playtrace_sampled_out_total`.
    pub(crate) fn render(&self, out: &mut String) {
        let st = self.state();
        header(
            out,
            "playtrace_limit_hits_total",
            "counter",
            "Events refused (429), dropped or flagged by a per-game limit ([[games]], [limits]).",
        );
        for ((game, limit), n) in &st.hits {
            metric(
                out,
                "playtrace_limit_hits_total",
                &[("game", game), ("limit", limit.as_str())],
                *n as f64,
            );
        }
        header(
            out,
            "playtrace_sampled_out_total",
            "counter",
            "Events not stored because a [[sampling]] rule sampled their session out; divide by \
             (1 - sample) to scale rates back.",
        );
        for ((game, rule), n) in &st.sampled_out {
            let event = self
                .config
                .sampling
                .get(*rule)
                .map_or("", |r| r.event.as_str());
            metric(
                out,
                "playtrace_sampled_out_total",
                &[("game", game), ("event", event)],
                *n as f64,
            );
        }
    }
}

/// An attribute's value as text: `attrs.<name>` of a native envelope, else the top-level key (a
/// legacy log line). Only looked for when the raw text mentions it.
fn attr(body: &str, name: &str) -> Option<String> {
    memchr::memmem::find(body.as_bytes(), name.as_bytes())?;
    let v: Value = serde_json::from_str(body).ok()?;
    let found = v
        .get("attrs")
        .and_then(|a| a.get(name))
        .or_else(|| v.get(name))?;
    match found {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The event's text with `playtraceLimit` naming the cap it went over (in `attrs` for a native
/// envelope, at the top level for a log line).
fn flagged(body: &str, limit: Limit) -> String {
    let Ok(Value::Object(mut o)) = serde_json::from_str::<Value>(body) else {
        return body.to_string();
    };
    let flag = Value::String(limit.as_str().to_string());
    let native = o.contains_key("event");
    match o.get_mut("attrs") {
        Some(Value::Object(attrs)) => {
            attrs.insert("playtraceLimit".into(), flag);
        }
        _ if native => {
            let mut attrs = serde_json::Map::new();
            attrs.insert("playtraceLimit".into(), flag);
            o.insert("attrs".into(), Value::Object(attrs));
        }
        _ => {
            o.insert("playtraceLimit".into(), flag);
        }
    }
    Value::Object(o).to_string()
}

/// Keeps the events marked in `keep`, and the observations of those (renumbered).
fn retain(parsed: &mut Parsed, keep: &[bool]) {
    let mut index = Vec::with_capacity(keep.len());
    let mut next = 0u32;
    for &k in keep {
        index.push(k.then_some(next));
        next += u32::from(k);
    }
    let mut i = 0;
    parsed.events.retain(|_| {
        let k = keep.get(i).copied().unwrap_or(true);
        i += 1;
        k
    });
    parsed.observations.observations.retain_mut(|o| {
        match index.get(o.line as usize).copied().flatten() {
            Some(n) => {
                o.line = n;
                true
            }
            None => false,
        }
    });
}

#[cfg(test)]
mod tests;
