//! Scopes: a set of scope tokens (RFC 6749 §3.3), written space-separated.
//!
//! The server proposes one scope per permission (`tools:execute`, `graph:query`, …): the
//! mapping from scopes to what a token may do is the embedding server's (see the crate docs).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest scope token accepted, in bytes.
pub const MAX_SCOPE_TOKEN_LEN: usize = 128;
/// Most scope tokens accepted in one set.
pub const MAX_SCOPES: usize = 64;

/// A set of scope tokens, ordered, without duplicates. Serialized as the space-separated
/// string OAuth uses (`"graph:query tools:read"`).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(BTreeSet<String>);

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// A token is empty, too long or has a character outside RFC 6749's `scope-token`.
    #[error("invalid scope token {0:?}")]
    InvalidToken(String),
    /// More than [`MAX_SCOPES`] tokens.
    #[error("more than {MAX_SCOPES} scopes")]
    TooMany,
}

/// Whether `token` is an RFC 6749 `scope-token`: 1*( %x21 / %x23-5B / %x5D-7E ), bounded.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_SCOPE_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl ScopeSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a space-separated scope string (runs of spaces are tolerated).
    pub fn parse(scope: &str) -> Result<Self, ScopeError> {
        Self::try_from_iter(scope.split(' ').filter(|s| !s.is_empty()))
    }

    /// A set from tokens, each validated.
    pub fn try_from_iter<I, S>(tokens: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for token in tokens {
            let token = token.as_ref();
            if !is_scope_token(token) {
                let shown: String = token.chars().take(40).collect();
                return Err(ScopeError::InvalidToken(shown));
            }
            set.insert(token.to_owned());
            if set.len() > MAX_SCOPES {
                return Err(ScopeError::TooMany);
            }
        }
        Ok(Self(set))
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes in both sets.
    #[must_use]
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// The scopes in either set.
    #[must_use]
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// The scopes of `self` not in `other`.
    #[must_use]
    pub fn difference(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.difference(&other.0).cloned().collect())
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many scopes the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The scopes as a vector, in order.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeSet({self})")
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for ScopeSet {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_space_separated_tokens_into_an_ordered_set() {
        let set = ScopeSet::parse("tools:read  graph:query tools:read").unwrap();
        assert_eq!(set.to_string(), "graph:query tools:read");
        assert_eq!(set.len(), 2);
        assert!(ScopeSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn refuses_characters_outside_scope_token() {
        for bad in ["a\"b", "a\\b", "tab\there", "ünï", "a\u{7f}"] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ScopeSet::parse(&"x".repeat(MAX_SCOPE_TOKEN_LEN + 1)).is_err());
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
        assert_eq!(
            ScopeSet::parse(&many.join(" ")).unwrap_err(),
            ScopeError::TooMany
        );
    }

    #[test]
    fn set_operations() {
        let a = ScopeSet::parse("a b c").unwrap();
        let b = ScopeSet::parse("b c d").unwrap();
        assert_eq!(a.intersection(&b).to_string(), "b c");
        assert_eq!(a.union(&b).to_string(), "a b c d");
        assert_eq!(a.difference(&b).to_string(), "a");
        assert!(ScopeSet::parse("b").unwrap().is_subset(&a));
    }

    #[test]
    fn serde_uses_the_space_separated_form() {
        let set = ScopeSet::parse("x y").unwrap();
        assert_eq!(serde_json::to_string(&set).unwrap(), "\"x y\"");
        let back: ScopeSet = serde_json::from_str("\"y x\"").unwrap();
        assert_eq!(back, set);
        assert!(serde_json::from_str::<ScopeSet>("\"a\\\\b\"").is_err());
    }
}
