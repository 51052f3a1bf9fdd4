//! A record's attributes: key/value pairs kept sorted by key (the order the stored envelope
//! writes them in), the last of a repeated key winning — what a JSON map would hold, without a
//! tree allocated per record (`/v1/logs` decodes millions of them).

use serde_json::Value;

/// Attributes sorted by key, each key once.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Attrs(Vec<(String, Value)>);

impl Attrs {
    /// From pairs in any order; of a repeated key the last is kept (as a JSON map keeps it).
    pub(crate) fn from_pairs(mut pairs: Vec<(String, Value)>) -> Attrs {
        // Stable: among equal keys the input order stays, so the last of each run is the last
        // sent.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match out.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => out.push(pair),
            }
        }
        Attrs(out)
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// Takes `key` out.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Adds `key` unless it is there.
    pub(crate) fn insert_if_absent(&mut self, key: &str, value: Value) {
        if let Err(i) = self.find(key) {
            self.0.insert(i, (key.to_string(), value));
        }
    }

    /// Writes the attributes as a compact JSON object.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_value(out, key);
            out.push(b':');
            write_value(out, value);
        }
        out.push(b'}');
    }
}

/// Writes `value` as compact JSON into `out` (a `Vec` cannot fail to take the bytes).
pub(crate) fn write_value<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_are_sorted_and_the_last_of_a_repeated_key_wins_as_in_a_json_map() {
        let mut a = Attrs::from_pairs(vec![
            ("b".into(), json!(1)),
            ("a".into(), json!("x")),
            ("b".into(), json!(2)),
        ]);
        assert_eq!(a.get("b"), Some(&json!(2)));
        a.insert_if_absent("ab", json!(true));
        a.insert_if_absent("a", json!("not this"));
        let mut out = Vec::new();
        a.write_json(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            json!({"a": "x", "ab": true, "b": 2}).to_string()
        );
        assert_eq!(a.remove("a"), Some(json!("x")));
        assert_eq!(a.get("a"), None);
    }
}
