//! Test helper for the `schemars` features of the library crates: a result type's JSON Schema
//! must describe exactly what the type serializes.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// Returns `T`'s JSON Schema (draft 2020-12, serialize contract) after checking that its
/// `properties` and `required` list exactly the fields `value` serializes to.
///
/// # Panics
///
/// When `value` does not serialize to a JSON object or the schema lists other fields; it is
/// meant for tests.
pub fn schema_matches<T: Serialize + JsonSchema>(value: &T) -> Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12().for_serialize();
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let schema = schema.as_value();
    let json = serde_json::to_value(value).expect("the value serializes");
    let fields: BTreeSet<&str> = json
        .as_object()
        .expect("the value serializes to an object")
        .keys()
        .map(String::as_str)
        .collect();
    let listed: BTreeSet<&str> = schema["properties"]
        .as_object()
        .expect("the schema has properties")
        .keys()
        .map(String::as_str)
        .collect();
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .expect("the schema has required fields")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(listed, fields, "{schema}");
    assert_eq!(required, fields, "{schema}");
    schema.clone()
}
