//! A schema compiled for the fast path, when it uses only keywords the fast path implements
//! exactly: `type`, `enum`/`const` of strings, booleans and null, `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`, `properties`,
//! `required`, `additionalProperties` (a boolean), `items` (one schema), `minItems`,
//! `maxItems`, `pattern` (a string's match is asked of `jsonschema` itself, so the regex
//! dialect is exactly its), and annotations. Anything else (`format`, `$ref`, `allOf`, ...)
//! makes the whole schema [`None`]: `jsonschema` checks its events, as before.

use playtrace_core::fields::Field;
use serde_json::{Map, Value};

/// The JSON types a node allows, as bits.
pub(crate) mod ty {
    pub(crate) const NULL: u8 = 1;
    pub(crate) const BOOLEAN: u8 = 1 << 1;
    /// `"integer"` alone: a number without a fraction.
    pub(crate) const INTEGER: u8 = 1 << 2;
    /// `"number"`: integers too.
    pub(crate) const NUMBER: u8 = 1 << 3;
    pub(crate) const STRING: u8 = 1 << 4;
    pub(crate) const ARRAY: u8 = 1 << 5;
    pub(crate) const OBJECT: u8 = 1 << 6;
    pub(crate) const ANY: u8 = 0x7f;
}

/// Keywords that never change whether an instance is valid.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$comment",
    "title",
    "description",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "owner",
    "requiredEvent",
];

/// Numbers beyond ±2^53 are not compared in `f64` (they may not be exact there).
pub(crate) const EXACT: f64 = 9_007_199_254_740_992.0;

/// A literal of `enum`/`const` the fast path compares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Str(String),
}

/// A `pattern`, matched by `jsonschema` on the one string (no line parse): a schema with one
/// (a build number, a version) stays on the fast path.
#[derive(Clone)]
pub(crate) struct Pattern {
    text: Box<str>,
    validator: std::sync::Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl Pattern {
    fn compile(value: &Value) -> Option<Pattern> {
        let text = value.as_str()?;
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&serde_json::json!({ "pattern": text }))
            .ok()?;
        Some(Pattern {
            text: text.into(),
            validator: std::sync::Arc::new(validator),
        })
    }

    /// Whether `s` matches, as the whole schema's validator would judge it.
    pub(crate) fn matches(&self, s: &str) -> bool {
        self.validator.is_valid(&Value::String(s.to_owned()))
    }
}

/// One compiled (sub)schema.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// `false` as a schema: nothing is valid.
    pub(crate) never: bool,
    pub(crate) types: u8,
    pub(crate) literals: Option<Vec<Lit>>,
    pub(crate) minimum: Option<f64>,
    pub(crate) maximum: Option<f64>,
    pub(crate) exclusive_minimum: Option<f64>,
    pub(crate) exclusive_maximum: Option<f64>,
    pub(crate) min_length: Option<u64>,
    pub(crate) max_length: Option<u64>,
    pub(crate) pattern: Option<Pattern>,
    /// Declared properties, sorted by name.
    pub(crate) properties: Vec<(Box<str>, Node)>,
    /// Per property, in the same order: a cheap fingerprint of its name (what a key is compared
    /// with first) and the contest field it is, if any (core's `Field::from_key`, once).
    pub(crate) keys: Vec<(Fingerprint, Option<Field>)>,
    /// Indices into `properties` that must be present.
    pub(crate) required: Vec<usize>,
    /// `additionalProperties` (true unless `false`).
    pub(crate) additional: bool,
    pub(crate) items: Option<Box<Node>>,
    pub(crate) min_items: Option<u64>,
    pub(crate) max_items: Option<u64>,
}

/// `{}`: anything is valid.
pub(crate) static ANY: Node = Node::any();

impl Node {
    const fn any() -> Node {
        Node {
            never: false,
            types: ty::ANY,
            literals: None,
            minimum: None,
            maximum: None,
            exclusive_minimum: None,
            exclusive_maximum: None,
            min_length: None,
            max_length: None,
            pattern: None,
            properties: Vec::new(),
            keys: Vec::new(),
            required: Vec::new(),
            additional: true,
            items: None,
            min_items: None,
            max_items: None,
        }
    }

    /// Whether any numeric bound is set (an integer too large for `f64` then steps aside).
    pub(crate) fn has_bounds(&self) -> bool {
        self.minimum.is_some()
            || self.maximum.is_some()
            || self.exclusive_minimum.is_some()
            || self.exclusive_maximum.is_some()
    }

    /// The declared property named `key`, and the contest field it is. Every attr of every
    /// line asks this, so names are first compared by length and first bytes (one integer
    /// comparison each); only a name that matches both is compared in full.
    pub(crate) fn property(&self, key: &str) -> Option<(usize, Option<Field>)> {
        let print = Fingerprint::of(key);
        self.keys
            .iter()
            .zip(&self.properties)
            .position(|((p, _), (name, _))| *p == print && name.as_ref() == key)
            .map(|i| (i, self.keys[i].1))
    }

    /// Whether a number passes the bounds (its type already checked).
    pub(crate) fn in_bounds(&self, n: f64) -> bool {
        self.minimum.is_none_or(|m| n >= m)
            && self.maximum.is_none_or(|m| n <= m)
            && self.exclusive_minimum.is_none_or(|m| n > m)
            && self.exclusive_maximum.is_none_or(|m| n < m)
    }

    /// Whether a string passes `enum`/`const`, `pattern` and the length bounds (its type
    /// already checked).
    pub(crate) fn string_ok(&self, s: &str) -> bool {
        if let Some(lits) = &self.literals {
            if !lits.iter().any(|l| matches!(l, Lit::Str(v) if v == s)) {
                return false;
            }
        }
        if self.pattern.as_ref().is_some_and(|p| !p.matches(s)) {
            return false;
        }
        if self.min_length.is_none() && self.max_length.is_none() {
            return true;
        }
        // A string has between a quarter of its bytes and all of them as characters: the bounds
        // usually settle it without counting.
        let bytes = s.len() as u64;
        if self.min_length.is_none_or(|m| bytes.div_ceil(4) >= m)
            && self.max_length.is_none_or(|m| bytes <= m)
        {
            return true;
        }
        let n = s.chars().count() as u64;
        self.min_length.is_none_or(|m| n >= m) && self.max_length.is_none_or(|m| n <= m)
    }
}

/// A name's length and first 8 bytes, packed: equal for equal names, and different for nearly
/// all different names of one schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint(usize, u64);

impl Fingerprint {
    pub(crate) fn of(name: &str) -> Fingerprint {
        let mut head = [0u8; 8];
        let n = name.len().min(8);
        head[..n].copy_from_slice(&name.as_bytes()[..n]);
        Fingerprint(name.len(), u64::from_le_bytes(head))
    }
}

/// Compiles a schema document, or `None` when it uses anything the fast path does not
/// implement exactly.
pub(crate) fn compile(schema: &Value) -> Option<Node> {
    match schema {
        Value::Bool(true) => Some(Node::any()),
        Value::Bool(false) => Some(Node {
            never: true,
            ..Node::any()
        }),
        Value::Object(map) => compile_object(map),
        _ => None,
    }
}

fn compile_object(map: &Map<String, Value>) -> Option<Node> {
    let mut node = Node::any();
    let mut required: Vec<&str> = Vec::new();
    for (key, value) in map {
        match key.as_str() {
            "type" => node.types = types(value)?,
            "enum" => node.literals = Some(literals(value.as_array()?)?),
            "const" => node.literals = Some(literals(std::slice::from_ref(value))?),
            "minimum" => node.minimum = Some(bound(value)?),
            "maximum" => node.maximum = Some(bound(value)?),
            "exclusiveMinimum" => node.exclusive_minimum = Some(bound(value)?),
            "exclusiveMaximum" => node.exclusive_maximum = Some(bound(value)?),
            "minLength" => node.min_length = Some(value.as_u64()?),
            "maxLength" => node.max_length = Some(value.as_u64()?),
            "pattern" => node.pattern = Some(Pattern::compile(value)?),
            "minItems" => node.min_items = Some(value.as_u64()?),
            "maxItems" => node.max_items = Some(value.as_u64()?),
            "items" => node.items = Some(Box::new(compile(value)?)),
            "additionalProperties" => node.additional = value.as_bool()?,
            "required" => {
                for name in value.as_array()? {
                    required.push(name.as_str()?);
                }
            }
            "properties" => {
                let mut props = Vec::new();
                for (name, schema) in value.as_object()? {
                    props.push((name.as_str().into(), compile(schema)?));
                }
                props.sort_by(|a: &(Box<str>, Node), b| a.0.cmp(&b.0));
                node.keys = props
                    .iter()
                    .map(|(name, _)| (Fingerprint::of(name), Field::from_key(name)))
                    .collect();
                node.properties = props;
            }
            other if ANNOTATIONS.contains(&other) => {}
            _ => return None,
        }
    }
    // Both keywords present: `enum` and `const` must each hold; not worth composing.
    if map.contains_key("enum") && map.contains_key("const") {
        return None;
    }
    for name in required {
        // A required name the schema does not declare: rare, and it would need key tracking
        // beyond the declared ones.
        let (index, _) = node.property(name)?;
        if !node.required.contains(&index) {
            node.required.push(index);
        }
    }
    // Bitsets of seen properties hold 256.
    if node.properties.len() > 256 {
        return None;
    }
    Some(node)
}

fn types(value: &Value) -> Option<u8> {
    let one = |name: &str| -> Option<u8> {
        Some(match name {
            "null" => ty::NULL,
            "boolean" => ty::BOOLEAN,
            "integer" => ty::INTEGER,
            "number" => ty::NUMBER,
            "string" => ty::STRING,
            "array" => ty::ARRAY,
            "object" => ty::OBJECT,
            _ => return None,
        })
    };
    match value {
        Value::String(s) => one(s),
        Value::Array(names) => names
            .iter()
            .try_fold(0u8, |acc, n| Some(acc | one(n.as_str()?)?)),
        _ => None,
    }
}

fn literals(values: &[Value]) -> Option<Vec<Lit>> {
    values
        .iter()
        .map(|v| match v {
            Value::Null => Some(Lit::Null),
            Value::Bool(b) => Some(Lit::Bool(*b)),
            Value::String(s) => Some(Lit::Str(s.clone())),
            // Numbers (1 equals 1.0), arrays and objects: left to `jsonschema`.
            _ => None,
        })
        .collect()
}

/// A numeric bound; an integer bound must be exact in `f64` (floats compare as floats, as
/// `jsonschema` compares them).
fn bound(value: &Value) -> Option<f64> {
    let n = value.as_f64()?;
    (value.is_f64() || n.abs() <= EXACT).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn common_keywords_compile_and_others_step_aside() {
        let node = compile(&json!({
            "type": "object", "title": "t", "required": ["a"],
            "properties": {"a": {"type": ["string", "null"], "minLength": 1},
                           "b": {"enum": ["x", null]}, "c": {"type": "integer", "minimum": 0}},
            "additionalProperties": false
        }))
        .unwrap();
        assert_eq!(node.properties.len(), 3);
        assert_eq!(node.required, [node.property("a").unwrap().0]);
        assert_eq!(node.property("b").map(|p| p.0), Some(1));
        assert_eq!(node.property("d"), None);
        let contest = compile(&json!({"properties": {"hubId": {}, "hubIds": {}}})).unwrap();
        assert_eq!(contest.property("hubId"), Some((0, Some(Field::HubId))));
        assert_eq!(contest.property("hubIds"), Some((1, None)));
        assert!(!node.additional);
        for unsupported in [
            json!({"format": "date-time"}),
            json!({"pattern": 1}),
            json!({"pattern": "("}),
            json!({"properties": {"a": {"$ref": "#/$defs/x"}}}),
            json!({"enum": [1, 2]}),
            json!({"additionalProperties": {"type": "string"}}),
            json!({"required": ["undeclared"]}),
            json!({"allOf": [{}]}),
            json!({"maximum": 1_152_921_504_606_846_976_u64}),
        ] {
            assert!(compile(&unsupported).is_none(), "{unsupported}");
        }
    }
}
