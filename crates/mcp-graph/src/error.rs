//! The crate's one error type.

use mcp_core::StoreError;
use std::time::Duration;

/// Everything that can go wrong in `mcp-graph`, referred to by path as `mcp_graph::Error`.
///
/// Input problems (bad identifiers, values, limits, queries) are reported before anything is
/// written. Backend failures arrive as [`Error::Store`], already mapped to the shared
/// [`StoreError`] kinds: a missing endpoint node is `Error::Store(StoreError::NotFound(_))`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A label, relationship type or property key is not a valid identifier.
    #[error(
        "invalid {kind} {name:?}: must start with an ASCII letter or '_', continue with ASCII letters, \
         digits or '_', and be at most 64 characters long"
    )]
    InvalidIdentifier {
        /// Which kind of identifier was refused ("label", "relationship type", "property key").
        kind: &'static str,
        /// The refused text.
        name: String,
    },
    /// A node key is empty or too long.
    #[error("invalid node key: {reason}")]
    InvalidKey {
        /// Why the key was refused.
        reason: String,
    },
    /// A property value is not a JSON scalar or a flat, single-kind array of scalars.
    #[error("invalid property value{}: {reason}", key.as_deref().map(|k| format!(" for {k:?}")).unwrap_or_default())]
    InvalidValue {
        /// The property key the value belongs to, when known.
        key: Option<String>,
        /// Why the value was refused.
        reason: String,
    },
    /// A traversal depth outside `1..=MAX_DEPTH`.
    #[error("invalid depth {depth}: must be between 1 and {max}")]
    InvalidDepth {
        /// The requested depth.
        depth: usize,
        /// The largest depth allowed ([`crate::MAX_DEPTH`]).
        max: usize,
    },
    /// A row limit above the maximum.
    #[error("invalid limit {limit}: must be at most {max}")]
    InvalidLimit {
        /// The requested limit.
        limit: usize,
        /// The largest limit allowed ([`crate::MAX_ROW_LIMIT`]).
        max: usize,
    },
    /// A read-only query contains a clause that could write or administer the database.
    #[error(
        "query refused: {clause} is a write or admin clause, and only read-only queries are allowed"
    )]
    WriteInReadQuery {
        /// The refused clause keyword, upper-cased (e.g. "CREATE", "CALL").
        clause: String,
    },
    /// A query is valid Cypher (as far as we can tell) but outside what this backend supports.
    #[error("unsupported query: {feature} (see the supported Cypher in the mcp-graph README)")]
    Unsupported {
        /// What was not supported.
        feature: String,
    },
    /// A query could not be read at all (unterminated string, stray character, bad syntax).
    #[error("invalid query at byte {offset}: {message}")]
    InvalidQuery {
        /// Byte offset in the query text where the problem was found.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// A query refers to a `$parameter` that was not supplied.
    #[error("missing query parameter ${name}")]
    MissingParameter {
        /// The parameter name, without `$`.
        name: String,
    },
    /// A query failed while running: a type error (`1 + {}`), integer overflow, division by
    /// zero, an invalid regular expression, and the like.
    #[error("query failed: {message}")]
    Evaluation {
        /// What went wrong.
        message: String,
    },
    /// A query needed more than a safety limit allows (memory held, list length).
    #[error("query stopped: {limit}")]
    LimitExceeded {
        /// Which limit was reached.
        limit: String,
    },
    /// A query ran longer than its timeout.
    #[error("query timed out after {after:?}")]
    Timeout {
        /// The timeout that was exceeded.
        after: Duration,
    },
    /// The backend failed or refused the operation (including not-found endpoints).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// Whether this is a [`StoreError::NotFound`] from the backend.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Store(StoreError::NotFound(_)))
    }

    pub(crate) fn value(key: Option<&str>, reason: impl Into<String>) -> Self {
        Self::InvalidValue {
            key: key.map(str::to_owned),
            reason: reason.into(),
        }
    }

    pub(crate) fn query(offset: usize, message: impl Into<String>) -> Self {
        Self::InvalidQuery {
            offset,
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(feature: impl Into<String>) -> Self {
        Self::Unsupported {
            feature: feature.into(),
        }
    }
}

/// `Result` with [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_error_explains_the_rule() {
        let err = Error::InvalidIdentifier {
            kind: "label",
            name: "1x".into(),
        };
        let text = err.to_string();
        assert!(text.contains("invalid label \"1x\""), "{text}");
        assert!(text.contains("at most 64"), "{text}");
    }

    #[test]
    fn value_error_names_the_key_when_known() {
        assert_eq!(
            Error::value(Some("tags"), "nested arrays are not allowed").to_string(),
            "invalid property value for \"tags\": nested arrays are not allowed"
        );
        assert_eq!(
            Error::value(None, "x").to_string(),
            "invalid property value: x"
        );
    }

    #[test]
    fn not_found_is_recognised() {
        assert!(Error::Store(StoreError::NotFound("n".into())).is_not_found());
        assert!(!Error::unsupported("x").is_not_found());
    }
}
