//! Repairs for rejected lines, written as TOML (docs/REJECTS.md): rename a key, set a missing
//! one, drop one — applied to a reject's raw line before it is read again, so a client bug is
//! fixed without code.
//!
//! ```toml
//! [[rename]]
//! from = "evt"          # a top-level key, or a dotted path such as "attrs.hub"
//! to = "event"
//! [[set]]
//! field = "game"
//! value = "gf"
//! only_if_missing = true
//! [[drop]]
//! field = "attrs.debug"
//! ```
//!
//! Steps run in the order renames, sets, drops. A line that is not a JSON object is left as it
//! is (it fails again with its own message).

mod text;

use serde::Deserialize;
use serde_json::{Map, Value};
use text::{Spliced, TextRename};

/// A parsed transform file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Transform {
    #[serde(default)]
    rename: Vec<Rename>,
    #[serde(default)]
    set: Vec<Set>,
    #[serde(default)]
    drop: Vec<Drop>,
    /// The renames done on the line's text ([`Transform::repair`]), when the transform is only
    /// renames within one object each.
    #[serde(skip)]
    text: Option<Vec<TextRename>>,
}

/// A line after [`Transform::repair`].
#[derive(Debug, PartialEq)]
pub(crate) enum Repaired {
    /// The line as it is.
    Unchanged,
    /// The JSON round trip's line ([`Transform::apply`]).
    Exact(String),
    /// Keys renamed on the text, not validated: the same as [`Transform::apply`]'s line when it
    /// reads; when it does not, read [`Transform::apply`]'s instead (it words the error).
    Spliced(String),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Rename {
    from: String,
    to: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Set {
    field: String,
    value: toml::Value,
    #[serde(default)]
    only_if_missing: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Drop {
    field: String,
}

impl Transform {
    /// Reads a transform file's text; the error names the line and what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Transform, String> {
        let mut t: Transform = toml::from_str(text).map_err(|e| {
            format!("transform: {e}; see docs/REJECTS.md for `[[rename]]`, `[[set]]`, `[[drop]]`")
        })?;
        for path in t
            .rename
            .iter()
            .flat_map(|r| [&r.from, &r.to])
            .chain(t.set.iter().map(|s| &s.field))
            .chain(t.drop.iter().map(|d| &d.field))
        {
            if path.is_empty() || path.split('.').any(str::is_empty) {
                return Err(format!(
                    "transform: field path `{path}` is empty or has an empty part; write a \
                     top-level key (`evt`) or a dotted path (`attrs.hubId`)"
                ));
            }
        }
        if t.set.is_empty() && t.drop.is_empty() && !t.rename.is_empty() {
            t.text = t
                .rename
                .iter()
                .map(|r| TextRename::new(&r.from, &r.to))
                .collect();
        }
        Ok(t)
    }

    /// Whether the transform changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.rename.is_empty() && self.set.is_empty() && self.drop.is_empty()
    }

    /// The repaired line, the cheap way where there is one: renames on the text (a replay of a
    /// million lines paid a JSON round trip and a validation on each), else [`Transform::apply`].
    pub(crate) fn repair(&self, raw: &str) -> Repaired {
        if let Some(renames) = &self.text {
            match text::rename(raw, renames) {
                Spliced::Unchanged => return Repaired::Unchanged,
                Spliced::Changed(line) => return Repaired::Spliced(line),
                Spliced::Undecided => {}
            }
        }
        self.apply(raw).map_or(Repaired::Unchanged, Repaired::Exact)
    }

    /// The repaired line through a JSON round trip (the reference [`Transform::repair`] is tested
    /// against); `None` when the line is not a JSON object or nothing changed.
    pub(crate) fn apply(&self, raw: &str) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut object: Map<String, Value> = serde_json::from_str(raw).ok()?;
        let mut changed = false;
        for r in &self.rename {
            if let Some(v) = take(&mut object, &r.from) {
                changed |= put(&mut object, &r.to, v, false);
            }
        }
        for s in &self.set {
            let value = serde_json::to_value(&s.value).unwrap_or(Value::Null);
            changed |= put(&mut object, &s.field, value, s.only_if_missing);
        }
        for d in &self.drop {
            changed |= take(&mut object, &d.field).is_some();
        }
        changed.then(|| Value::Object(object).to_string())
    }
}

/// Removes the value at a dotted path.
fn take(object: &mut Map<String, Value>, path: &str) -> Option<Value> {
    match path.split_once('.') {
        None => object.remove(path),
        Some((head, rest)) => match object.get_mut(head)? {
            Value::Object(inner) => take(inner, rest),
            _ => None,
        },
    }
}

/// Puts a value at a dotted path, creating objects on the way (not through a non-object);
/// returns whether it changed the line.
fn put(object: &mut Map<String, Value>, path: &str, value: Value, only_if_missing: bool) -> bool {
    match path.split_once('.') {
        None => {
            if only_if_missing && object.get(path).is_some_and(|v| !v.is_null()) {
                return false;
            }
            object.insert(path.to_string(), value);
            true
        }
        Some((head, rest)) => {
            let inner = object
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            match inner {
                Value::Object(inner) => put(inner, rest, value, only_if_missing),
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_sets_and_drops_top_level_and_attrs_paths() {
        let t = Transform::parse(
            r#"
[[rename]]
from = "evt"
to = "event"
[[rename]]
from = "attrs.hub"
to = "attrs.hubId"
[[set]]
field = "game"
value = "gf"
only_if_missing = true
[[set]]
field = "env"
value = "prod"
[[drop]]
field = "attrs.debug"
"#,
        )
        .unwrap();
        let out = t
            .apply(r#"{"evt":"a","game":"own","attrs":{"hub":"h","debug":1}}"#)
            .unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["event"], "a");
        assert!(v.get("evt").is_none());
        assert_eq!(
            v["game"], "own",
            "only_if_missing keeps the line's own game"
        );
        assert_eq!(v["env"], "prod");
        assert_eq!(v["attrs"], serde_json::json!({"hubId": "h"}));
        assert_eq!(t.apply("{not json"), None);
    }

    #[test]
    fn top_level_renames_on_the_text_equal_the_json_round_trip() {
        let t = Transform::parse(
            "[[rename]]\nfrom = \"msg\"\nto = \"message\"\n[[rename]]\nfrom = \"b\"\nto = \"c\"\n",
        )
        .unwrap();
        let lines = [
            r#"{"level":"info","msg":"x","attrs":{"msg":1,"b":[{"b":2}]},"b":"s,\"{"}"#,
            r#" { "msg" : "x" , "z": [1, {"msg": 2}] } "#,
            r#"{"msg":"x","message":"y"}"#,
            r#"{"m\u0073g":"x"}"#,
            r#"{"msg":"x","msg":"y"}"#,
            r#"{"other":"x"}"#,
            r#"["msg"]"#,
            "{not json",
            "{}",
        ];
        for line in lines {
            let fast = match t.repair(line) {
                Repaired::Unchanged => None,
                Repaired::Exact(s) => Some(s),
                // A spliced line that does not read is read through the round trip instead.
                Repaired::Spliced(s) => serde_json::from_str::<Value>(&s)
                    .is_ok()
                    .then_some(s)
                    .or_else(|| t.apply(line)),
            };
            let round_trip = {
                let mut o: Option<Map<String, Value>> = serde_json::from_str(line).ok();
                let changed = o.as_mut().is_some_and(|o| {
                    let mut changed = false;
                    for (from, to) in [("msg", "message"), ("b", "c")] {
                        if let Some(v) = o.remove(from) {
                            o.insert(to.into(), v);
                            changed = true;
                        }
                    }
                    changed
                });
                o.filter(|_| changed).map(Value::Object)
            };
            let fast: Option<Value> = fast.map(|f| serde_json::from_str(&f).unwrap());
            assert_eq!(fast, round_trip, "{line}");
        }
        assert_eq!(
            t.repair(r#"{"msg":"x", "b":1}"#),
            Repaired::Spliced(r#"{"message":"x", "c":1}"#.into()),
            "renamed in place"
        );
    }

    #[test]
    fn a_bad_file_names_what_is_wrong() {
        let e = Transform::parse("[[rename]]\nfrom = \"a\"\n").unwrap_err();
        assert!(e.contains("to"), "{e}");
        let e = Transform::parse("[[drop]]\nfield = \"attrs.\"\n").unwrap_err();
        assert!(e.contains("attrs."), "{e}");
    }
}
