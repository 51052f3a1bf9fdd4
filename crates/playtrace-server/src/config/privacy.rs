//! `[privacy]` and `[[privacy.rules]]`: what is redacted before anything is stored, which attrs
//! name a player, and the secret hashed ids are keyed with (docs/PRIVACY.md). The rules are
//! compiled here, once per (re)load; `ingest/redact.rs` applies them.

use super::mask::{Mask, Needs, Shape};
use super::{invalid, ConfigError};
use crate::ingest::redact::keyed::Keyed;
use memchr::memmem::Finder;
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The shortest hash secret accepted: a short one could be found by trying them all.
const MIN_SECRET_BYTES: usize = 16;

/// One `[[privacy.rules]]` entry.
#[derive(Debug, Clone)]
pub struct RedactRule {
    /// The event names it applies to (`chat.message`, `chat.*`); `None`: every event.
    pub event: Option<String>,
    /// Attrs removed.
    pub drop: Vec<String>,
    /// Attrs replaced by their keyed hash.
    pub hash: Vec<String>,
    /// Attrs cut to at most this many characters.
    pub truncate: BTreeMap<String, usize>,
    /// Patterns replaced in every string value.
    pub mask: Vec<Mask>,
    /// Where `event`'s first `*` is, found once: a name is checked against every rule on
    /// every line.
    pub(crate) star: Option<usize>,
}

impl RedactRule {
    /// Whether the rule applies to an event named `name` (`*` matches any run of characters).
    pub(crate) fn applies_to(&self, name: Option<&str>) -> bool {
        match (&self.event, name) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(pattern), Some(name)) => match self.star {
                None => pattern == name,
                // `chat.*`: a prefix.
                Some(at) if at + 1 == pattern.len() => name.starts_with(&pattern[..at]),
                Some(_) => glob(pattern, name),
            },
        }
    }
}

fn glob(pattern: &str, name: &str) -> bool {
    // Without collecting the parts: this runs for every rule and event.
    let Some((first, tail)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let (middle, last) = tail.rsplit_once('*').unwrap_or(("", tail));
    for part in middle.split('*').filter(|p| !p.is_empty()) {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The key hashed attrs are keyed with (its bytes never leave this type, nor its `Debug`), as
/// the pad blocks ingest and erasure hash from.
#[derive(Clone)]
pub struct HashSecret(pub(crate) Keyed);

impl std::fmt::Debug for HashSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashSecret(…)")
    }
}

/// `[privacy]`: redaction rules, subjects and the hash secret. Reloaded with tokens and alert
/// rules.
#[derive(Debug, Clone)]
pub struct Privacy {
    /// `[[privacy.rules]]`, in file order.
    pub rules: Vec<RedactRule>,
    /// Attrs that name a player (default `playerId`, `actorId`, `accountId`).
    pub player_attrs: Vec<String>,
    /// Whether ingest indexes each event's players and sessions for erasure: only when the
    /// config has a `[privacy]` section. The index costs every commit random B-tree inserts
    /// (measured: ingest fell to about a third), a price a collector that never erases should
    /// not pay.
    pub index_subjects: bool,
    /// The environment variable the hash secret was read from.
    pub hash_secret_env: Option<String>,
    /// The secret itself, when `hash_secret_env` is set.
    pub(crate) secret: Option<HashSecret>,
    /// `"key"` for every attr some rule drops, hashes or truncates: a line containing none of
    /// them (and no mask match) is stored as sent, without being parsed again.
    pub(crate) key_finders: Vec<Finder<'static>>,
    /// `"attr"` for every attr in `player_attrs` (the subject index looks for them in every
    /// stored event).
    pub(crate) player_finders: Vec<Finder<'static>>,
    /// What the rules and `player_attrs` say about each key they name, looked up once per
    /// member instead of comparing the key with every rule's lists (`redact/members.rs`).
    pub(crate) keys: KeyTable,
}

/// What the rules do to one key, a bit per rule (rule `r`: bit `r`, for the first 64 rules),
/// and whether it names a subject.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyRules {
    pub(crate) drop: u64,
    pub(crate) hash: u64,
    pub(crate) truncate: u64,
    pub(crate) player: bool,
    pub(crate) session: bool,
}

/// The keys some rule drops, hashes or truncates, the `player_attrs` and `sessionId`, with
/// their [`KeyRules`]; `masked` has the bit of every rule with a mask.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyTable {
    entries: Vec<(Box<str>, KeyRules, (usize, u64))>,
    pub(crate) masked: u64,
    /// The rules that drop or hash `attrs` itself (what core reads changes: the one-pass
    /// redaction steps aside), found once instead of on every line.
    pub(crate) attrs_removed: u64,
}

impl KeyTable {
    fn new(rules: &[RedactRule], player_attrs: &[String]) -> KeyTable {
        let mut table = KeyTable::default();
        let mut set = |key: &str, with: &dyn Fn(&mut KeyRules)| match table
            .entries
            .iter_mut()
            .find(|(k, _, _)| &**k == key)
        {
            Some((_, rules, _)) => with(rules),
            None => {
                let mut rules = KeyRules::default();
                with(&mut rules);
                table.entries.push((key.into(), rules, head(key)));
            }
        };
        for (r, rule) in rules.iter().enumerate().take(64) {
            let bit = 1u64 << r;
            rule.drop.iter().for_each(|k| set(k, &|e| e.drop |= bit));
            rule.hash.iter().for_each(|k| set(k, &|e| e.hash |= bit));
            rule.truncate
                .keys()
                .for_each(|k| set(k, &|e| e.truncate |= bit));
        }
        player_attrs
            .iter()
            .for_each(|k| set(k, &|e| e.player = true));
        set(SESSION_ATTR, &|e| e.session = true);
        table.masked = rules
            .iter()
            .enumerate()
            .take(64)
            .filter(|(_, r)| !r.mask.is_empty())
            .fold(0, |bits, (r, _)| bits | 1 << r);
        table.attrs_removed = table.get("attrs").map_or(0, |k| k.drop | k.hash);
        table
    }

    /// What the rules do to `key` (`None`: no rule names it and it names no subject).
    pub(crate) fn get(&self, key: &str) -> Option<&KeyRules> {
        // Length and first 8 bytes before the whole key: most keys differ there (`accountId`
        // and `sessionId` have one length).
        let head = head(key);
        self.entries
            .iter()
            .find(|(k, _, h)| *h == head && (k.len() <= 8 || **k == *key))
            .map(|(_, rules, _)| rules)
    }
}

/// A key's length and its first 8 bytes (zero-padded, little-endian). Built in a register: a
/// copy of a variable length into a stack word (a `memcpy` call, then one wide load of the
/// bytes it stored) stalled the read of every attr key (`perf annotate` of the one-pass read).
fn head(key: &str) -> (usize, u64) {
    let bytes = key.as_bytes();
    let word = match bytes.first_chunk::<8>() {
        Some(first) => u64::from_le_bytes(*first),
        None => bytes
            .iter()
            .rev()
            .fold(0, |word, &b| (word << 8) | u64::from(b)),
    };
    (bytes.len(), word)
}

/// The attr naming a session besides the envelope's `session`.
pub(crate) const SESSION_ATTR: &str = "sessionId";

impl Default for Privacy {
    fn default() -> Self {
        let player_attrs: Vec<String> = ["playerId", "actorId", "accountId"]
            .map(str::to_string)
            .to_vec();
        Privacy {
            rules: Vec::new(),
            keys: KeyTable::new(&[], &player_attrs),
            player_attrs,
            index_subjects: false,
            hash_secret_env: None,
            secret: None,
            key_finders: Vec::new(),
            player_finders: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PrivacyFile {
    hash_secret_env: Option<String>,
    player_attrs: Option<Vec<String>>,
    #[serde(default)]
    rules: Vec<RuleFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    event: Option<String>,
    #[serde(default)]
    drop: Vec<String>,
    #[serde(default)]
    hash: Vec<String>,
    #[serde(default)]
    truncate: BTreeMap<String, usize>,
    #[serde(default)]
    mask: Vec<String>,
}

fn mask(key: &str, written: &str) -> Result<Mask, ConfigError> {
    let (pattern, label, needs) = match written {
        "email" => (
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
            "[email]",
            Needs::At,
        ),
        "ip" => (
            concat!(
                r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
                // IPv6 written out, or compressed with groups on both sides of `::` (a bare
                // `::` is too common in keys such as `actor-0::actor-1`).
                r"|(?i:\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b",
                r"|\b(?:[0-9a-f]{1,4}:){1,6}(?::[0-9a-f]{1,4}){1,6}\b)",
            ),
            "[ip]",
            Needs::Ip,
        ),
        other => match other.strip_prefix("regex:") {
            Some(p) if !p.is_empty() => (p, "[redacted]", Needs::Nothing),
            _ => {
                return Err(invalid(
                    key,
                    format!(
                        "`{other}` is not a mask; write \"email\", \"ip\" or \"regex:PATTERN\""
                    ),
                ))
            }
        },
    };
    let regex = Regex::new(pattern)
        .map_err(|e| invalid(key, format!("`{written}` does not compile: {e}")))?;
    Ok(Mask {
        name: written.to_string(),
        regex,
        label,
        anchored: pattern.contains(['^', '$'])
            || pattern.contains("\\A")
            || pattern.contains("\\z"),
        shape: (needs == Needs::Nothing)
            .then(|| Shape::of(pattern))
            .flatten(),
        needs,
    })
}

impl PrivacyFile {
    /// The section over the defaults; `env` reads the hash secret's variable.
    pub(super) fn over(
        self,
        mut p: Privacy,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Privacy, ConfigError> {
        if let Some(attrs) = self.player_attrs {
            if attrs.iter().any(|a| a.trim().is_empty()) {
                return Err(invalid("privacy.player_attrs", "an attr name is empty"));
            }
            p.player_attrs = attrs;
        }
        let mut rules = Vec::with_capacity(self.rules.len());
        for (i, r) in self.rules.into_iter().enumerate() {
            let key = format!("privacy.rules[{i}]");
            if r.event.as_deref().is_some_and(|e| e.trim().is_empty()) {
                return Err(invalid(
                    &format!("{key}.event"),
                    "is empty; leave it out to match every event",
                ));
            }
            if r.drop.is_empty() && r.hash.is_empty() && r.truncate.is_empty() && r.mask.is_empty()
            {
                return Err(invalid(
                    &key,
                    "does nothing; give it drop, hash, truncate or mask",
                ));
            }
            if let Some((attr, _)) = r.truncate.iter().find(|(_, n)| **n == 0) {
                return Err(invalid(
                    &format!("{key}.truncate.{attr}"),
                    "must be more than 0 (use drop to remove it)",
                ));
            }
            let mask = r
                .mask
                .iter()
                .map(|m| mask(&format!("{key}.mask"), m))
                .collect::<Result<_, _>>()?;
            rules.push(RedactRule {
                star: r.event.as_deref().and_then(|e| e.find('*')),
                event: r.event,
                drop: r.drop,
                hash: r.hash,
                truncate: r.truncate,
                mask,
            });
        }
        let hashes = rules.iter().any(|r| !r.hash.is_empty());
        p.secret = match self.hash_secret_env.as_deref() {
            Some(var) => {
                let value = env(var).unwrap_or_default();
                if value.len() < MIN_SECRET_BYTES {
                    return Err(invalid(
                        "privacy.hash_secret_env",
                        format!(
                            "the environment variable {var} is {}; set it to a random secret of at \
                             least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`) before \
                             starting playtrace",
                            if value.is_empty() { "not set".to_string() } else { format!("only {} bytes long", value.len()) }
                        ),
                    ));
                }
                Some(HashSecret(Keyed::new(value.as_bytes())))
            }
            None if hashes => {
                return Err(invalid(
                    "privacy.hash_secret_env",
                    "a rule hashes attrs, so a secret is needed: name the environment variable \
                     holding it, e.g. hash_secret_env = \"PLAYTRACE_HASH_SECRET\"",
                ))
            }
            None => None,
        };
        p.hash_secret_env = self.hash_secret_env;
        let mut keys: Vec<&String> = rules
            .iter()
            .flat_map(|r| r.drop.iter().chain(&r.hash).chain(r.truncate.keys()))
            .collect();
        keys.sort();
        keys.dedup();
        p.key_finders = keys
            .into_iter()
            .map(|k| Finder::new(&format!("\"{k}\"")).into_owned())
            .collect();
        p.player_finders = p
            .player_attrs
            .iter()
            .map(|a| Finder::new(&format!("\"{a}\"")).into_owned())
            .collect();
        p.keys = KeyTable::new(&rules, &p.player_attrs);
        p.rules = rules;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names() {
        assert!(glob("chat.*", "chat.message"));
        assert!(glob("chat.*", "chat."));
        assert!(!glob("chat.*", "chatter"));
        assert!(glob("*.message", "chat.message"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
    }

    /// The head is the key's first 8 bytes zero-padded, little-endian, for every length
    /// (the short keys' byte order is the one a table lookup compares).
    #[test]
    fn a_keys_head_is_its_first_eight_bytes_zero_padded() {
        for key in [
            "",
            "a",
            "ip",
            "text",
            "level",
            "playerId",
            "accountId",
            "sessionId",
        ] {
            let mut word = [0u8; 8];
            let n = key.len().min(8);
            word[..n].copy_from_slice(&key.as_bytes()[..n]);
            assert_eq!(head(key), (key.len(), u64::from_le_bytes(word)), "{key}");
        }
        let table = KeyTable::new(&[], &["ab".into(), "abc".into(), "playerIdX".into()]);
        assert!(table.get("ab").is_some() && table.get("abc").is_some());
        assert!(table.get("ba").is_none() && table.get("a").is_none());
        assert!(table.get("playerId").is_none() && table.get("playerIdY").is_none());
    }
}
