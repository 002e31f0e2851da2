//! Structural errors, all of a file at once, in the format's own words.
//!
//! serde stops at the first mistake and says it in its own terms (`invalid u64`). When
//! the typed parse fails, the file is read again into a plain tree of [`Node`]s with the
//! position of every node, and that tree is checked against the JSON Schema of the
//! format (`schema::json_schema`, generated from the very types serde reads, with its
//! `$ref`s resolved first): unknown keys (with the closest valid one), wrong types, values outside
//! an enum or a range, missing required keys (at the mapping that lacks them). Before
//! that, a text scan finds a flow collection (`{`, `[`) left open at the end of its line,
//! which YAML would otherwise read as a strange value further down.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::Location;

use super::super::format::Spanned;
use super::did_you_mean;

/// A YAML node as written, with positions.
#[derive(Debug)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Text(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
                Ok(Node::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Node, E> {
                Ok(Node::Int(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Node, E> {
                Ok(Node::Int(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Node, E> {
                Ok(Node::Float(n))
            }
            fn visit_str<E>(self, s: &str) -> Result<Node, E> {
                Ok(Node::Text(s.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut out = Vec::new();
                while let Some(n) = seq.next_element()? {
                    out.push(n);
                }
                Ok(Node::Seq(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key()? {
                    out.push((k, map.next_value()?));
                }
                Ok(Node::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Node {
    /// How the node is shown after "got".
    fn shown(&self) -> String {
        match self {
            Node::Null => "~ (nothing)".into(),
            Node::Bool(b) => b.to_string(),
            Node::Int(n) => n.to_string(),
            Node::Float(f) => f.to_string(),
            Node::Text(t) => format!("{t:?}"),
            Node::Seq(_) => "a list".into(),
            Node::Map(_) => "a mapping".into(),
        }
    }

    /// A mapping key as text.
    fn key(&self) -> String {
        match self {
            Node::Text(t) => t.clone(),
            other => other.shown(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "boolean",
            Node::Int(_) => "integer",
            Node::Float(_) => "number",
            Node::Text(_) => "string",
            Node::Seq(_) => "array",
            Node::Map(_) => "object",
        }
    }
}

/// One structural problem.
pub(super) struct Problem {
    pub at: Location,
    pub message: String,
}

/// Every structural problem of `root` against `schema`.
pub(super) fn check(schema: &Value, root: &Spanned<Node>) -> Vec<Problem> {
    let empty = Map::new();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let schema = resolved(schema, defs, 0);
    let mut out = Vec::new();
    node(&schema, root, "the file", &mut out);
    out
}

/// Deepest `$ref` chain followed: the format has no recursive types, so a deeper one is
/// a cycle, left unresolved (it then accepts anything).
const MAX_REF_DEPTH: usize = 16;

/// `schema` with every `#/$defs/…` reference replaced by the definition it names; the
/// keys beside a `$ref` (a field's description, a narrower `enum`) win over the
/// definition's. A definition's own description is left out: it describes the type, and
/// the messages quote what a key is for (`expect needs `outcome``).
fn resolved(schema: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    match schema {
        Value::Object(obj) => {
            let mut out = Map::new();
            let target = obj
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .and_then(|name| defs.get(name))
                .and_then(Value::as_object)
                .filter(|_| depth < MAX_REF_DEPTH);
            if let Some(def) = target {
                for (k, v) in def.iter().filter(|(k, _)| *k != "description") {
                    out.insert(k.clone(), resolved(v, defs, depth + 1));
                }
            }
            let skip = |k: &str| k == "$defs" || (k == "$ref" && target.is_some());
            for (k, v) in obj.iter().filter(|(k, _)| !skip(k)) {
                out.insert(k.clone(), resolved(v, defs, depth));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| resolved(v, defs, depth)).collect())
        }
        other => other.clone(),
    }
}

/// The values a schema allows, if it lists them: `enum`, or a `oneOf` of `const`s (an
/// enum whose values each carry a description).
fn listed_values(schema: &Value) -> Option<Vec<&Value>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.iter().collect());
    }
    let branches = schema.get("oneOf").and_then(Value::as_array)?;
    branches.iter().map(|b| b.get("const")).collect()
}

/// `what` names the node in messages: `size`, `an entry of quirks`, `the file`.
fn node(schema: &Value, n: &Spanned<Node>, what: &str, out: &mut Vec<Problem>) {
    if let Some(values) = listed_values(schema) {
        return listed(&values, n, what, out);
    }
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        // The branch of the node's kind; a mapping or list that fits none is reported
        // with every branch's words.
        let fits: Vec<&Value> = branches
            .iter()
            .filter(|b| accepts_kind(b, &n.value))
            .collect();
        match fits.as_slice() {
            [one] => return node(one, n, what, out),
            [] => {
                let words: Vec<String> = branches.iter().map(expected).collect();
                out.push(Problem {
                    at: n.referenced,
                    message: format!(
                        "{what} must be {}, got {}",
                        words.join(", or "),
                        n.value.shown()
                    ),
                });
                return;
            }
            // Several fit the kind (e.g. two mappings): the first one speaks.
            [first, ..] => return node(first, n, what, out),
        }
    }
    if !accepts_kind(schema, &n.value) {
        out.push(Problem {
            at: n.referenced,
            message: format!(
                "{what} must be {}, got {}",
                expected_for(schema, what),
                n.value.shown()
            ),
        });
        return;
    }
    match &n.value {
        Node::Int(i) => range(schema, *i, n, what, out),
        Node::Map(entries) => mapping(schema, entries, n.referenced, what, out),
        Node::Seq(items) => {
            if let Some(item) = schema.get("items") {
                let what = format!("an entry of {}", bare(what));
                for i in items {
                    node(item, i, &what, out);
                }
            }
        }
        _ => {}
    }
}

/// A node that must be one of `values`.
fn listed(values: &[&Value], n: &Spanned<Node>, what: &str, out: &mut Vec<Problem>) {
    let names: Vec<&str> = values.iter().filter_map(|v| v.as_str()).collect();
    let given = match &n.value {
        Node::Text(t) => Some(t.as_str()),
        _ => None,
    };
    // A number may be listed as one (`dovecot: [2.3]` reads 2.3 as a float).
    let number_listed = match &n.value {
        Node::Float(f) => values.iter().any(|v| v.as_f64() == Some(*f)),
        Node::Int(i) => values
            .iter()
            .any(|v| v.as_i64().map(i128::from) == Some(*i)),
        _ => false,
    };
    if !number_listed && given.is_none_or(|g| !names.contains(&g)) {
        let mut message = format!(
            "{what} must be one of {}, got {}",
            names.join(", "),
            n.value.shown()
        );
        if let Some(best) = given.and_then(|g| did_you_mean(g, names.iter().copied())) {
            message.push_str(&format!("; did you mean `{best}`?"));
        }
        out.push(Problem {
            at: n.referenced,
            message,
        });
    }
}

fn range(schema: &Value, i: i128, n: &Spanned<Node>, what: &str, out: &mut Vec<Problem>) {
    let min = schema.get("minimum").and_then(Value::as_i64);
    let max = schema.get("maximum").and_then(Value::as_u64);
    let low = min.is_some_and(|m| i < m.into());
    let high = max.is_some_and(|m| i > m.into());
    if low || high {
        let bounds = match (min, max) {
            (Some(lo), Some(hi)) => format!("from {lo} to {hi}"),
            (Some(lo), None) => format!("{lo} or more"),
            (None, Some(hi)) => format!("at most {hi}"),
            (None, None) => String::new(),
        };
        out.push(Problem {
            at: n.referenced,
            message: format!(
                "{what} must be {} ({bounds}), got {i}",
                expected_for(schema, what)
            ),
        });
    }
}

fn mapping(
    schema: &Value,
    entries: &[(Spanned<Node>, Spanned<Node>)],
    at: Location,
    what: &str,
    out: &mut Vec<Problem>,
) {
    let props = schema.get("properties").and_then(Value::as_object);
    let extra = schema.get("additionalProperties");
    let names: Vec<&str> = props
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for (k, v) in entries {
        let key = k.value.key();
        match (props.and_then(|p| p.get(&key)), extra) {
            (Some(s), _) => node(s, v, &format!("`{key}`"), out),
            (None, Some(Value::Bool(false))) => {
                let mut message = format!("unknown key `{key}` in {}", bare(what));
                if let Some(best) = did_you_mean(&key, names.iter().copied()) {
                    message.push_str(&format!("; did you mean `{best}`?"));
                }
                message.push_str(&format!(" (valid keys: {})", names.join(", ")));
                out.push(Problem {
                    at: k.referenced,
                    message,
                });
            }
            (None, Some(s)) if s.is_object() => node(s, v, &format!("`{key}`"), out),
            (None, _) => {}
        }
    }
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(r) = r.as_str() else { continue };
        if !entries.iter().any(|(k, _)| k.value.key() == r) {
            let why = props
                .and_then(|p| p.get(r))
                .and_then(|s| s.get("description"))
                .and_then(Value::as_str)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            out.push(Problem {
                at,
                message: format!("{} needs `{r}`{why}", bare(what)),
            });
        }
    }
}

/// `` `size` `` → `size`, for "an entry of size", "unknown key in size".
fn bare(what: &str) -> String {
    what.trim_matches('`').to_string()
}

/// Whether a node of this kind can be what the schema describes.
fn accepts_kind(schema: &Value, n: &Node) -> bool {
    if listed_values(schema).is_some() {
        return matches!(n, Node::Text(_));
    }
    if let Some(b) = schema.get("oneOf").and_then(Value::as_array) {
        return b.iter().any(|b| accepts_kind(b, n));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return true,
    };
    let k = n.kind();
    types.iter().any(|t| {
        *t == k
            || (*t == "number" && k == "integer")
            || (*t == "integer" && matches!(n, Node::Float(f) if f.fract() == 0.0))
    })
}

/// What a schema node expects, in words.
fn expected(schema: &Value) -> String {
    expected_for(schema, "")
}

fn expected_for(schema: &Value, what: &str) -> String {
    if let Some(values) = listed_values(schema) {
        let names: Vec<&str> = values.iter().filter_map(|v| v.as_str()).collect();
        return format!("one of {}", names.join(", "));
    }
    if let Some(b) = schema.get("oneOf").and_then(Value::as_array) {
        let words: Vec<String> = b.iter().map(|b| expected_for(b, what)).collect();
        return words.join(", or ");
    }
    let key = bare(what);
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let words: Vec<&str> = types
        .iter()
        .map(|t| match *t {
            "integer" if key == "size" || key.ends_with("_size") => "a whole number of bytes",
            "integer" if key.ends_with("_ms") => "a whole number of milliseconds",
            "integer" => "a whole number",
            "number" => "a number",
            "string" => "text",
            "boolean" => "yes or no",
            "array" => "a list",
            "object" => "a mapping",
            "null" => "~",
            _ => "a value",
        })
        .collect();
    words.join(" or ")
}

/// The position of a `{` or `[` still open when a later line starts at or left of the
/// line that opened it: YAML would read on into the next keys. Quotes and comments are
/// skipped.
pub(super) fn unclosed_flow(text: &str) -> Option<((u32, u32), char)> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut open: Vec<(usize, usize, usize, char)> = Vec::new(); // line, column, indent, char
    for (ln, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if !open.is_empty() && !trimmed.is_empty() && !trimmed.starts_with('#') {
            let (oln, ocol, oind, ch) = open[0];
            if indent(line) <= oind && ln > oln {
                return Some((((oln + 1) as u32, (ocol + 1) as u32), ch));
            }
        }
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (col, c) in line.chars().enumerate() {
            match (quote, c) {
                (Some('"'), '\\') if prev != '\\' => {}
                (Some(q), c) if c == q && !(q == '"' && prev == '\\') => quote = None,
                (Some(_), _) => {}
                (None, '#') if prev == ' ' || col == 0 => break,
                (None, '"' | '\'') if prev == ' ' || "[{,:".contains(prev) || col == 0 => {
                    quote = Some(c)
                }
                (None, '{' | '[') => open.push((ln, col, indent(line), c)),
                (None, '}' | ']') => {
                    open.pop();
                }
                _ => {}
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
        }
    }
    open.first()
        .map(|&(ln, col, _, ch)| (((ln + 1) as u32, (col + 1) as u32), ch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unclosed_flow_is_found_where_it_opens() {
        let t = "a:\n  m1: { subject: a, size: 12\n  m2: { subject: b }\n";
        let (at, ch) = unclosed_flow(t).unwrap();
        assert_eq!((at, ch), ((2, 7), '{'));
        assert!(unclosed_flow("a: { b: \"{\", c: [1,\n     2] }\n# {\n").is_none());
        assert!(unclosed_flow("a: [1, 2\n").is_some());
    }

    #[test]
    fn references_are_followed_and_a_cycle_ends() {
        let schema = serde_json::json!({
            "$ref": "#/$defs/A",
            "$defs": { "A": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "a": { "$ref": "#/$defs/A", "description": "the same again" },
                    "e": { "oneOf": [{ "const": "x" }, { "const": "y" }] },
                },
            } },
        });
        let tree = serde_saphyr::from_str::<Spanned<Node>>("a: { a: { b: 1 } }\ne: z\n").unwrap();
        let problems: Vec<String> = check(&schema, &tree)
            .into_iter()
            .map(|p| p.message)
            .collect();
        assert_eq!(
            problems,
            [
                "unknown key `b` in a (valid keys: a, e)",
                "`e` must be one of x, y, got \"z\"",
            ]
        );
    }
}
