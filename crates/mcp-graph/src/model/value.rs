//! Property values: JSON scalars and flat arrays of scalars.

use crate::model::PropertyKey;
use crate::{Error, Result};
use serde::{Deserialize, Serialize, Serializer};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A node's or relationship's properties, in key order.
///
/// Writing a [`Value::null`] through an upsert removes that key (as Cypher's `SET n += $map`
/// does), so stored properties never hold nulls.
pub type Properties = BTreeMap<PropertyKey, Value>;

/// A property value: `null`, a boolean, a number, a string, or an array of scalars.
///
/// Arrays hold one kind of non-null scalar (all booleans, all integers, all floats or all
/// strings), the rule Neo4j applies to stored properties. Integers must fit in an `i64`.
/// Objects, nested arrays, and `null` inside arrays are refused with [`Error::InvalidValue`].
///
/// Equality compares numbers by value, as Cypher does: `1` equals `1.0`.
///
/// ```
/// use mcp_graph::Value;
/// use serde_json::json;
///
/// assert!(Value::new(json!(["a", "b"])).is_ok());
/// assert!(Value::new(json!({"nested": true})).is_err());
/// assert_eq!(Value::from(1), Value::try_from(1.0).unwrap());
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct Value(serde_json::Value);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Bool,
    Integer,
    Float,
    String,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bool => "boolean",
            Kind::Integer => "integer",
            Kind::Float => "float",
            Kind::String => "string",
        }
    }
}

fn scalar_kind(value: &serde_json::Value, key: Option<&str>) -> Result<Option<Kind>> {
    use serde_json::Value as J;
    Ok(match value {
        J::Null => None,
        J::Bool(_) => Some(Kind::Bool),
        J::Number(n) if n.is_f64() => Some(Kind::Float),
        J::Number(n) if n.as_i64().is_some() => Some(Kind::Integer),
        J::Number(n) => {
            return Err(Error::value(
                key,
                format!("integer {n} does not fit in 64 signed bits"),
            ));
        }
        J::String(_) => Some(Kind::String),
        J::Array(_) => return Err(Error::value(key, "nested arrays are not allowed")),
        J::Object(_) => {
            return Err(Error::value(
                key,
                "objects (maps) are not allowed as property values",
            ));
        }
    })
}

impl Value {
    /// Validates a JSON value, or returns [`Error::InvalidValue`].
    pub fn new(json: serde_json::Value) -> Result<Self> {
        Self::validated(json, None)
    }

    pub(crate) fn validated(json: serde_json::Value, key: Option<&str>) -> Result<Self> {
        match &json {
            serde_json::Value::Array(items) => {
                let mut first: Option<Kind> = None;
                for item in items {
                    let kind = match item {
                        serde_json::Value::Array(_) => {
                            return Err(Error::value(key, "nested arrays are not allowed"));
                        }
                        serde_json::Value::Object(_) => {
                            return Err(Error::value(key, "arrays may not contain objects (maps)"));
                        }
                        _ => scalar_kind(item, key)?
                            .ok_or_else(|| Error::value(key, "arrays may not contain null"))?,
                    };
                    match first {
                        None => first = Some(kind),
                        Some(k) if k == kind => {}
                        Some(k) => {
                            return Err(Error::value(
                                key,
                                format!(
                                    "arrays must hold one kind of scalar, found {} and {}",
                                    k.name(),
                                    kind.name()
                                ),
                            ));
                        }
                    }
                }
            }
            other => {
                scalar_kind(other, key)?;
            }
        }
        Ok(Self(json))
    }

    /// The `null` value (which removes a property when upserted).
    pub fn null() -> Self {
        Self(serde_json::Value::Null)
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        self.0.is_null()
    }

    /// The value as JSON.
    pub fn as_json(&self) -> &serde_json::Value {
        &self.0
    }

    /// The value as JSON, by value.
    pub fn into_json(self) -> serde_json::Value {
        self.0
    }

    /// The text, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_str()
    }
}

fn compare_scalars(a: &serde_json::Value, b: &serde_json::Value) -> Option<Ordering> {
    use serde_json::Value as J;
    match (a, b) {
        (J::Bool(x), J::Bool(y)) => Some(x.cmp(y)),
        (J::String(x), J::String(y)) => Some(x.cmp(y)),
        (J::Number(x), J::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        _ => None,
    }
}

fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(_), J::Number(_)) => compare_scalars(a, b) == Some(Ordering::Equal),
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        _ => a == b,
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        json_eq(&self.0, &other.0)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// `null`, a boolean, a number, a string, or an array of non-null scalars (the one-kind rule of
/// arrays is not expressed).
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Value {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Value".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["null", "boolean", "number", "string", "array"],
            "items": { "type": ["boolean", "number", "string"] },
        })
    }
}

impl TryFrom<serde_json::Value> for Value {
    type Error = Error;
    fn try_from(json: serde_json::Value) -> Result<Self> {
        Self::new(json)
    }
}

impl From<Value> for serde_json::Value {
    fn from(value: Value) -> Self {
        value.0
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self(b.into())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self(n.into())
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Self(n.into())
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Self(n.into())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self(s.into())
    }
}

impl TryFrom<f64> for Value {
    type Error = Error;
    /// Refuses NaN and infinities, which JSON cannot hold.
    fn try_from(f: f64) -> Result<Self> {
        serde_json::Number::from_f64(f)
            .map(|n| Self(n.into()))
            .ok_or_else(|| Error::value(None, format!("{f} is not a finite number")))
    }
}

impl TryFrom<u64> for Value {
    type Error = Error;
    /// Refuses integers above `i64::MAX`.
    fn try_from(n: u64) -> Result<Self> {
        i64::try_from(n)
            .map(Self::from)
            .map_err(|_| Error::value(None, format!("integer {n} does not fit in 64 signed bits")))
    }
}

/// Validates a JSON object as [`Properties`], naming the offending key in any error.
///
/// ```
/// let props = mcp_graph::properties_from_json(serde_json::json!({"name": "Ada", "born": 1815})).unwrap();
/// assert_eq!(props.len(), 2);
/// assert!(mcp_graph::properties_from_json(serde_json::json!({"bad key": 1})).is_err());
/// ```
pub fn properties_from_json(json: serde_json::Value) -> Result<Properties> {
    let serde_json::Value::Object(map) = json else {
        return Err(Error::value(None, "properties must be a JSON object"));
    };
    map.into_iter()
        .map(|(k, v)| {
            let value = Value::validated(v, Some(&k))?;
            Ok((PropertyKey::new(k)?, value))
        })
        .collect()
}

/// Merges `update` into `target`: keys in `update` overwrite, nulls remove.
pub(crate) fn merge_properties(target: &mut Properties, update: Properties) {
    for (key, value) in update {
        if value.is_null() {
            target.remove(&key);
        } else {
            target.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_and_flat_arrays_are_accepted() {
        for ok in [
            json!(null),
            json!(true),
            json!(-3),
            json!(2.5),
            json!("ü"),
            json!([]),
            json!([1, 2]),
            json!(["a"]),
        ] {
            assert!(Value::new(ok.clone()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn nested_and_mixed_values_are_refused_with_a_reason() {
        let cases = [
            (json!({"a": 1}), "objects"),
            (json!([[1]]), "nested arrays"),
            (json!([{"a": 1}]), "objects"),
            (json!([1, null]), "null"),
            (json!([1, "a"]), "one kind"),
            (json!([1, 2.5]), "one kind"),
            (json!(u64::MAX), "64 signed bits"),
        ];
        for (json, reason) in cases {
            let err = Value::new(json.clone()).unwrap_err().to_string();
            assert!(err.contains(reason), "{json}: {err}");
        }
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(Value::from(2), Value::try_from(2.0).unwrap());
        assert_ne!(Value::from(2), Value::from("2"));
        assert_eq!(
            compare_scalars(&json!(1), &json!(1.5)),
            Some(Ordering::Less)
        );
        assert_eq!(compare_scalars(&json!(1), &json!("1")), None);
    }

    #[test]
    fn non_finite_floats_are_refused() {
        assert!(Value::try_from(f64::NAN).is_err());
        assert!(Value::try_from(f64::INFINITY).is_err());
    }

    #[test]
    fn properties_from_json_names_the_bad_key() {
        let err = properties_from_json(json!({"tags": [[1]]})).unwrap_err();
        assert!(err.to_string().contains("\"tags\""), "{err}");
        assert!(properties_from_json(json!([1])).is_err());
    }

    #[test]
    fn merging_overwrites_and_null_removes() {
        let mut p = properties_from_json(json!({"a": 1, "b": 2})).unwrap();
        merge_properties(
            &mut p,
            properties_from_json(json!({"b": null, "c": 3})).unwrap(),
        );
        assert_eq!(p, properties_from_json(json!({"a": 1, "c": 3})).unwrap());
    }
}
