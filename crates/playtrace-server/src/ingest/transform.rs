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

use serde::Deserialize;
use serde_json::{Map, Value};

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
        let t: Transform = toml::from_str(text).map_err(|e| {
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
        Ok(t)
    }

    /// Whether the transform changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.rename.is_empty() && self.set.is_empty() && self.drop.is_empty()
    }

    /// The repaired line; `None` when the line is not a JSON object or nothing changed.
    pub(crate) fn apply(&self, raw: &str) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        if let Some(renamed) = self.rename_in_text(raw) {
            return renamed;
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

impl Transform {
    /// [`Transform::apply`] for a transform of top-level renames only, on the line's text: the
    /// keys are renamed in place, without building and printing the object again (a replay of a
    /// million lines paid that round trip on each). The line keeps its key order and spacing; its
    /// values are the same as the round trip's. `None` where only the round trip decides: a
    /// line that is not valid JSON, a key written with escapes, a key the line holds twice, a
    /// rename onto a key the line already has.
    fn rename_in_text(&self, raw: &str) -> Option<Option<String>> {
        let top_level = |p: &String| !p.contains('.');
        if !self.set.is_empty()
            || !self.drop.is_empty()
            || !self
                .rename
                .iter()
                .all(|r| top_level(&r.from) && top_level(&r.to))
        {
            return None;
        }
        serde_json::from_str::<serde::de::IgnoredAny>(raw).ok()?;
        let mut keys = top_level_keys(raw)?;
        let mut changed = false;
        for r in &self.rename {
            let Some(at) = keys.iter().position(|(_, k)| *k == r.from) else {
                continue;
            };
            if keys.iter().any(|(_, k)| *k == r.to) {
                return None;
            }
            keys[at].1 = r.to.clone();
            changed = true;
        }
        if !changed {
            return Some(None);
        }
        let mut out = String::with_capacity(raw.len() + 16);
        let mut from = 0;
        for (range, key) in &keys {
            out.push_str(&raw[from..range.start]);
            out.push_str(&Value::String(key.clone()).to_string());
            from = range.end;
        }
        out.push_str(&raw[from..]);
        Some(Some(out))
    }
}

/// The byte ranges (quotes included) and names of a valid JSON object's top-level keys; `None`
/// when the line is no object, a key has an escape, or a key comes twice.
fn top_level_keys(raw: &str) -> Option<Vec<(std::ops::Range<usize>, String)>> {
    let bytes = raw.as_bytes();
    let start = raw.len() - raw.trim_start().len();
    if bytes.get(start) != Some(&b'{') {
        return None;
    }
    let (mut keys, mut depth, mut expect_key) = (Vec::new(), 0usize, false);
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let open = i;
                i += 1;
                let mut escaped = false;
                while bytes[i] != b'"' {
                    escaped |= bytes[i] == b'\\';
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 && expect_key {
                    if escaped {
                        return None;
                    }
                    let key = &raw[open + 1..i];
                    if keys.iter().any(|(_, k)| k == key) {
                        return None;
                    }
                    keys.push((open..i + 1, key.to_string()));
                    expect_key = false;
                }
            }
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1;
            }
            b'}' | b']' => depth -= 1,
            b',' => expect_key = depth == 1,
            _ => {}
        }
        i += 1;
    }
    Some(keys)
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
            let fast = t.apply(line);
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
            t.apply(r#"{"msg":"x", "b":1}"#).as_deref(),
            Some(r#"{"message":"x", "c":1}"#),
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
