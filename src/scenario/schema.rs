//! The JSON Schema of scenario files, generated from the serde types of `format`.
//!
//! `uidlmap scenario schema` prints it for editors and validators, and the loader words
//! its structural errors from it (`load/structure.rs`), so a key added to the types is in
//! both at once. The types give the shape (keys, required keys, unknown keys denied,
//! enums, integer ranges) and their doc comments the descriptions; this file holds the
//! generator's settings and the few schema pieces the types can't say themselves.
//!
//! One rule is the format's, not serde's: leaving a key out is how a file says "not
//! given", so an optional key does not also accept `~` in the schema (schemars would allow
//! null for every `Option`). Where `~` means something (a header left out), the field
//! says so with [`Nullable`].

use std::borrow::Cow;
use std::marker::PhantomData;

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use super::format::ScenarioFile;

/// The JSON Schema of scenario files (draft 2020-12), for `uidlmap scenario schema`,
/// editors and the loader's structural checks. The same on every call.
pub fn json_schema() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.transforms
            .push(Box::new(RecursiveTransform(absent_is_not_null)));
        s.transforms
            .push(Box::new(RecursiveTransform(one_line_descriptions)));
        s.transforms
            .push(Box::new(RecursiveTransform(uint32_maximum)));
    });
    settings
        .into_generator()
        .into_root_schema_for::<ScenarioFile>()
        .to_value()
}

/// The schema of a key where `~` is a value of its own (it leaves a header out): `T`, or
/// null. Used as `#[schemars(with = "Nullable<String>")]`.
pub struct Nullable<T>(PhantomData<T>);

impl<T: JsonSchema> JsonSchema for Nullable<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Nullable_{}", T::schema_name()).into()
    }
    // `oneOf`, not a `type` list: `absent_is_not_null` leaves it alone.
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({ "oneOf": [g.subschema_for::<T>(), { "type": "null" }] })
    }
}

/// `profile:`: one of the fake servers' provider presets.
pub fn known_profiles(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = fake_servers::profiles::PROFILES
        .iter()
        .map(|p| p.name)
        .collect();
    json_schema!({ "type": "string", "enum": names })
}

/// `quirks:`: names of the fake servers' quirks.
pub fn known_quirks(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = fake_servers::profiles::QUIRKS
        .iter()
        .map(|q| q.name)
        .collect();
    json_schema!({ "type": "array", "items": { "type": "string", "enum": names } })
}

/// `duplicates: { every: N }`: a message repeats the one before it, so N is 2 or more
/// (`drop:` shares the type and allows any N).
pub fn at_least_two_apart(schema: &mut Schema) {
    if let Some(every) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut("every"))
        .and_then(Value::as_object_mut)
    {
        every.insert("minimum".into(), 2.into());
    }
}

/// Undoes what schemars adds for an `Option`: null in a `type` list or an `enum`, or an
/// `anyOf` of the schema and null (for a `$ref` or a `oneOf`).
fn absent_is_not_null(schema: &mut Schema) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let null = serde_json::json!({ "type": "null" });
    let wrapped = match obj.get("anyOf").and_then(Value::as_array) {
        Some(any) if any.len() == 2 && any[1] == null => Some(any[0].clone()),
        _ => None,
    };
    if let Some(inner) = wrapped {
        obj.remove("anyOf");
        if let Value::Object(inner) = inner {
            // The outer keys are the field's (its description); the inner the type's.
            for (k, v) in inner {
                obj.entry(k).or_insert(v);
            }
        }
    }
    if let Some(Value::Array(types)) = obj.get_mut("type") {
        types.retain(|t| t != "null");
        if let [one] = types.as_slice() {
            let one = one.clone();
            obj.insert("type".into(), one);
        }
    }
    if let Some(Value::Array(values)) = obj.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
}

/// A `u32` (UIDs, UIDVALIDITY, counts) says its largest value, as a `u8` would: the
/// loader's range message quotes it.
fn uint32_maximum(schema: &mut Schema) {
    if schema.get("format").and_then(Value::as_str) == Some("uint32") {
        schema.insert("maximum".into(), u32::MAX.into());
    }
}

/// Doc comments are wrapped at 90 columns; a description is one line per paragraph.
fn one_line_descriptions(schema: &mut Schema) {
    if let Some(Value::String(d)) = schema.get_mut("description") {
        let paragraphs: Vec<String> = d
            .split("\n\n")
            .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
            .collect();
        *d = paragraphs.join("\n\n");
    }
}
