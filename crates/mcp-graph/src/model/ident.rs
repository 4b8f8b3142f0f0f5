//! Validated names: labels, relationship types, property keys, and node keys.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest identifier allowed, in characters.
pub const MAX_IDENTIFIER_LEN: usize = 64;

/// The longest node key allowed, in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// The pattern every identifier matches, as a regular expression.
#[cfg(feature = "schemars")]
const IDENTIFIER_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]{0,63}$";

/// Whether `name` matches `^[A-Za-z_][A-Za-z0-9_]{0,63}$`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    name.len() <= MAX_IDENTIFIER_LEN && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// Valid names match `^[A-Za-z_][A-Za-z0-9_]{0,63}$`, so they can be written into a query
        /// without quoting and can never inject Cypher.
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `name`, or returns [`Error::InvalidIdentifier`].
            pub fn new(name: impl Into<String>) -> Result<Self> {
                let name = name.into();
                if is_identifier(&name) {
                    Ok(Self(name))
                } else {
                    Err(Error::InvalidIdentifier { kind: $kind, name })
                }
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(name: String) -> Result<Self> {
                Self::new(name)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(name: &str) -> Result<Self> {
                Self::new(name)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(name: &str) -> Result<Self> {
                Self::new(name)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }
    };
}

identifier!(
    /// A node label, such as `Person`.
    Label,
    "label"
);
identifier!(
    /// A relationship type, such as `KNOWS`.
    RelType,
    "relationship type"
);
identifier!(
    /// A property key, such as `name`.
    PropertyKey,
    "property key"
);

/// A node's key: unique among the nodes of one label, any non-empty text up to
/// [`MAX_KEY_LEN`] bytes (Unicode welcome).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeKey(String);

impl NodeKey {
    /// Validates `key`, or returns [`Error::InvalidKey`].
    pub fn new(key: impl Into<String>) -> Result<Self> {
        let key = key.into();
        if key.is_empty() {
            return Err(Error::InvalidKey {
                reason: "the key is empty".into(),
            });
        }
        if key.len() > MAX_KEY_LEN {
            return Err(Error::InvalidKey {
                reason: format!(
                    "the key is {} bytes long, at most {MAX_KEY_LEN} are allowed",
                    key.len()
                ),
            });
        }
        Ok(Self(key))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NodeKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeKey {
    type Error = Error;
    fn try_from(key: String) -> Result<Self> {
        Self::new(key)
    }
}

impl TryFrom<&str> for NodeKey {
    type Error = Error;
    fn try_from(key: &str) -> Result<Self> {
        Self::new(key)
    }
}

impl From<NodeKey> for String {
    fn from(key: NodeKey) -> String {
        key.0
    }
}

/// `JsonSchema` of a validated string type: inlined, with `$schema` as its schema.
#[cfg(feature = "schemars")]
macro_rules! string_schema {
    ($name:ident, $schema:tt) => {
        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}

#[cfg(feature = "schemars")]
string_schema!(Label, { "type": "string", "pattern": IDENTIFIER_PATTERN });
#[cfg(feature = "schemars")]
string_schema!(RelType, { "type": "string", "pattern": IDENTIFIER_PATTERN });
// No pattern: a map keyed by property keys ([`Properties`](super::Properties)) is then described
// with `additionalProperties` rather than `patternProperties`, which fewer validators support.
#[cfg(feature = "schemars")]
string_schema!(PropertyKey, { "type": "string" });
// At most `MAX_KEY_LEN` bytes, so at most as many characters.
#[cfg(feature = "schemars")]
string_schema!(NodeKey, { "type": "string", "minLength": 1, "maxLength": MAX_KEY_LEN });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_accept_the_documented_pattern() {
        for ok in ["Person", "_x", "a1_B2", &"a".repeat(64)] {
            assert!(Label::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn identifiers_refuse_anything_that_could_inject_cypher() {
        for bad in [
            "",
            "1a",
            "a-b",
            "a b",
            "Person`) DETACH DELETE n //",
            "é",
            "a:b",
            &"a".repeat(65),
        ] {
            let err = RelType::new(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidIdentifier {
                        kind: "relationship type",
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn identifiers_are_validated_when_deserialized() {
        assert!(serde_json::from_str::<PropertyKey>("\"ok\"").is_ok());
        let err = serde_json::from_str::<PropertyKey>("\"no way\"").unwrap_err();
        assert!(err.to_string().contains("invalid property key"), "{err}");
    }

    #[test]
    fn node_keys_must_be_non_empty_and_bounded() {
        assert!(NodeKey::new("Zoë 🚀").is_ok());
        assert!(matches!(NodeKey::new(""), Err(Error::InvalidKey { .. })));
        assert!(matches!(
            NodeKey::new("x".repeat(MAX_KEY_LEN + 1)),
            Err(Error::InvalidKey { .. })
        ));
    }
}
