//! `[[games]]`, the per-game keys of `[limits]` (the defaults of every game) and `[[sampling]]`:
//! what one game may send, and which of its events are kept. One collector serves several
//! games; these keep a flooding build of one from costing the others (docs/CONFIG.md, "Games").

use super::limits::LimitsFile;
use super::{bytes, invalid, ConfigError};
use playtrace_core::units::{Bytes, Written};
use serde::Deserialize;
use std::collections::BTreeMap;

/// What happens to a session's or player's events past its daily cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverCap {
    /// Counted (`playtrace_limit_hits_total`, the answer's `dropped`) and not stored.
    #[default]
    Drop,
    /// Stored with `attrs.playtraceLimit` naming the cap, and counted.
    Flag,
}

/// The limits of one game; `None` is no limit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GameLimits {
    /// Events per second (a token bucket refilled at this rate).
    pub events_per_second: Option<f64>,
    /// The bucket's size: events a game may send at once after a quiet time.
    pub burst: Option<f64>,
    /// Events one session may store per UTC day.
    pub session_events_per_day: Option<u64>,
    /// Events one player may store per UTC day.
    pub player_events_per_day: Option<u64>,
    /// Past a daily cap: drop or flag.
    pub over_daily_cap: OverCap,
    /// Largest request body for this game (else `limits.max_body`).
    pub max_body: Option<Bytes>,
    /// Largest line for this game (else `limits.max_line`).
    pub max_line: Option<Bytes>,
}

impl GameLimits {
    /// The bucket size in force: `burst`, else one second of the rate (at least one event).
    pub fn bucket(&self) -> Option<(f64, f64)> {
        let rate = self.events_per_second?;
        Some((rate, self.burst.unwrap_or(rate).max(1.0)))
    }
}

/// One sampling rule: events named `event` (or starting with its prefix before `*`) of `game`
/// (any game when unset) are kept for a `sample` fraction of sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRule {
    /// The pattern as written (`player.frame`, `player.*`).
    pub event: String,
    /// The fraction of sessions kept, 0 to 1.
    pub sample: f64,
    /// Only this game's events.
    pub game: Option<String>,
}

impl SampleRule {
    /// Whether the rule covers an event of `game` named `name`.
    pub fn matches(&self, game: &str, name: &str) -> bool {
        if self.game.as_deref().is_some_and(|g| g != game) {
            return false;
        }
        match self.event.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.event,
        }
    }
}

/// Every game's limits, and the sampling rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Games {
    /// `[limits]`'s per-game keys: every game not listed, and what a listed one leaves out.
    pub defaults: GameLimits,
    /// `[[games]]` by name, each over the defaults.
    pub games: BTreeMap<String, GameLimits>,
    /// `[[sampling]]`, in the file's order (the first rule that matches decides).
    pub sampling: Vec<SampleRule>,
    /// The attribute naming an event's player (`limits.player_attr`, default `playerId`).
    pub player_attr: String,
    /// The attribute naming an event's client build, shown among a limit alert's offenders
    /// (`limits.build_attr`, default `clientVersion`).
    pub build_attr: String,
    /// Limit hits of one game and limit within a minute that raise a `pipeline` alert
    /// (`limits.alert_hits`, default 1,000; 0 never).
    pub alert_hits: u64,
}

impl Default for Games {
    fn default() -> Self {
        Games {
            defaults: GameLimits::default(),
            games: BTreeMap::new(),
            sampling: Vec::new(),
            player_attr: "playerId".into(),
            build_attr: "clientVersion".into(),
            alert_hits: 1000,
        }
    }
}

impl Games {
    /// The limits of `game`.
    pub fn limits(&self, game: &str) -> &GameLimits {
        self.games.get(game).unwrap_or(&self.defaults)
    }

    /// Whether anything is limited or sampled at all (nothing to do per event otherwise).
    pub fn is_active(&self) -> bool {
        let limited = |l: &GameLimits| {
            l.events_per_second.is_some()
                || l.session_events_per_day.is_some()
                || l.player_events_per_day.is_some()
        };
        !self.sampling.is_empty() || limited(&self.defaults) || self.games.values().any(limited)
    }
}

/// One `[[games]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GameFile {
    name: String,
    events_per_second: Option<f64>,
    burst: Option<f64>,
    session_events_per_day: Option<u64>,
    player_events_per_day: Option<u64>,
    over_daily_cap: Option<String>,
    max_body: Option<Written>,
    max_line: Option<Written>,
}

/// One `[[sampling]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SampleFile {
    event: String,
    sample: f64,
    game: Option<String>,
}

fn rate(v: Option<f64>, key: &str) -> Result<Option<f64>, ConfigError> {
    match v {
        None => Ok(None),
        Some(r) if r.is_finite() && r >= 0.0 => Ok((r > 0.0).then_some(r)),
        Some(r) => Err(invalid(
            key,
            format!("{r} is not a rate; write events per second (0 for no limit)"),
        )),
    }
}

fn over_cap(v: Option<&str>, key: &str, default: OverCap) -> Result<OverCap, ConfigError> {
    match v {
        None => Ok(default),
        Some("drop") => Ok(OverCap::Drop),
        Some("flag") => Ok(OverCap::Flag),
        Some(other) => Err(invalid(
            key,
            format!("`{other}` is not an action; write \"drop\" or \"flag\""),
        )),
    }
}

fn cap(v: Option<u64>, inherited: Option<u64>) -> Option<u64> {
    match v {
        Some(0) => None,
        Some(n) => Some(n),
        None => inherited,
    }
}

#[allow(clippy::too_many_arguments)]
fn limits_over(
    base: &GameLimits,
    prefix: &str,
    events_per_second: Option<f64>,
    burst: Option<f64>,
    session: Option<u64>,
    player: Option<u64>,
    over: Option<&str>,
) -> Result<GameLimits, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let mut l = base.clone();
    if events_per_second.is_some() {
        l.events_per_second = rate(events_per_second, &key("events_per_second"))?;
    }
    if burst.is_some() {
        l.burst = rate(burst, &key("burst"))?;
    }
    l.session_events_per_day = cap(session, l.session_events_per_day);
    l.player_events_per_day = cap(player, l.player_events_per_day);
    l.over_daily_cap = over_cap(over, &key("over_daily_cap"), l.over_daily_cap)?;
    Ok(l)
}

/// Reads `[limits]`' per-game keys, `[[games]]` and `[[sampling]]` over the defaults.
pub(super) fn games(
    defaults: &LimitsFile,
    entries: Vec<GameFile>,
    sampling: Vec<SampleFile>,
) -> Result<Games, ConfigError> {
    let mut g = Games {
        defaults: limits_over(
            &GameLimits::default(),
            "limits",
            defaults.events_per_second,
            defaults.burst,
            defaults.session_events_per_day,
            defaults.player_events_per_day,
            defaults.over_daily_cap.as_deref(),
        )?,
        ..Games::default()
    };
    if let Some(a) = defaults
        .player_attr
        .as_ref()
        .filter(|a| !a.trim().is_empty())
    {
        g.player_attr = a.clone();
    }
    if let Some(a) = defaults
        .build_attr
        .as_ref()
        .filter(|a| !a.trim().is_empty())
    {
        g.build_attr = a.clone();
    }
    if let Some(n) = defaults.alert_hits {
        g.alert_hits = n;
    }
    for (i, e) in entries.into_iter().enumerate() {
        let prefix = format!("games[{i}]");
        let name = e.name.trim().to_string();
        if name.is_empty() {
            return Err(invalid(
                &format!("{prefix}.name"),
                "is empty; write the game's name as its events send it",
            ));
        }
        let f = e;
        let mut l = limits_over(
            &g.defaults,
            &prefix,
            f.events_per_second,
            f.burst,
            f.session_events_per_day,
            f.player_events_per_day,
            f.over_daily_cap.as_deref(),
        )?;
        if let Some(v) = &f.max_body {
            l.max_body = Some(bytes(v, &format!("{prefix}.max_body"))?);
        }
        if let Some(v) = &f.max_line {
            l.max_line = Some(bytes(v, &format!("{prefix}.max_line"))?);
        }
        if g.games.insert(name.clone(), l).is_some() {
            return Err(invalid(
                &format!("{prefix}.name"),
                format!("game `{name}` is listed twice; keep one [[games]] entry per game"),
            ));
        }
    }
    for (i, s) in sampling.into_iter().enumerate() {
        let key = format!("sampling[{i}]");
        let event = s.event.trim().to_string();
        if event.is_empty() || event == "*" {
            return Err(invalid(
                &format!("{key}.event"),
                "name the events to sample (`player.frame`, or a prefix such as `player.*`); \
                 sampling every event would sample contests and alerts too",
            ));
        }
        if !(s.sample.is_finite() && (0.0..=1.0).contains(&s.sample)) {
            return Err(invalid(
                &format!("{key}.sample"),
                format!(
                    "{} is not a fraction; write 0 to 1 (0.1 keeps 10%)",
                    s.sample
                ),
            ));
        }
        g.sampling.push(SampleRule {
            event,
            sample: s.sample,
            game: s.game.filter(|g| !g.trim().is_empty()),
        });
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use crate::config::{OverCap, ServeConfig};

    #[test]
    fn the_documented_games_example_reads_over_the_defaults() {
        let doc = include_str!("../../../../docs/CONFIG.md");
        let section = &doc[doc.find("## Games").unwrap()..];
        let start = section.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + section[start..].find("```").unwrap();
        let text = format!(
            "[limits]\nevents_per_second = 100\nsession_events_per_day = 7\n{}",
            &section[start..end]
        );
        let c = ServeConfig::from_toml(&text, "docs/CONFIG.md").unwrap();
        let gf = c.games.limits("glass-frontier");
        assert_eq!(gf.bucket(), Some((2000.0, 10_000.0)));
        assert_eq!(gf.over_daily_cap, OverCap::Flag);
        assert_eq!(gf.max_line.map(|b| b.as_u64()), Some(65_536));
        let other = c.games.limits("anything-else");
        assert_eq!(other.bucket(), Some((100.0, 100.0)));
        assert_eq!(other.session_events_per_day, Some(7));
        assert_eq!(other.over_daily_cap, OverCap::Drop);
        assert!(c.games.sampling[0].matches("glass-frontier", "player.frame"));
        assert!(!c.games.sampling[0].matches("other", "player.frame"));
        assert!(c.games.is_active());
        assert!(!ServeConfig::default().games.is_active());
    }

    #[test]
    fn bad_game_keys_are_named() {
        for (text, key) in [
            (
                "[[games]]\nname = \"a\"\nevents_per_second = -1\n",
                "games[0].events_per_second",
            ),
            (
                "[[games]]\nname = \"a\"\n[[games]]\nname = \"a\"\n",
                "games[1].name",
            ),
            (
                "[limits]\nover_daily_cap = \"keep\"\n",
                "limits.over_daily_cap",
            ),
            (
                "[[sampling]]\nevent = \"x\"\nsample = 1.5\n",
                "sampling[0].sample",
            ),
            (
                "[[sampling]]\nevent = \"*\"\nsample = 0.5\n",
                "sampling[0].event",
            ),
        ] {
            let err = ServeConfig::from_toml(text, "t").unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        let err = ServeConfig::from_toml("[[games]]\nname = \"a\"\nrate = 1\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("rate"), "{err}");
    }
}
