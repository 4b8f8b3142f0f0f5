use std::error::Error as StdError;

/// A boxed, thread-safe error used as the source of backend failures.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The kinds of failure a storage backend can report.
///
/// Backends convert their own errors (rusqlite, neo4rs, I/O) into one of these at their
/// edge and keep the original as the source. The server maps [`StoreError::Unavailable`]
/// to 503 and the rest to their natural status codes; it never sees a backend's own error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The requested item does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The write conflicts with what is stored (e.g. a uniqueness constraint).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input was refused by the store before anything was written.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The backend cannot be reached or is busy; the call may succeed if retried.
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What was unavailable.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend failed in a way that retrying will not fix.
    #[error("store backend error: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
}

impl StoreError {
    /// An [`StoreError::Unavailable`] error with a message and no source.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: None,
        }
    }

    /// An [`StoreError::Unavailable`] error wrapping its cause.
    pub fn unavailable_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A [`StoreError::Backend`] error wrapping its cause.
    pub fn backend(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_is_transient() {
        assert!(StoreError::unavailable("x").is_transient());
        assert!(!StoreError::NotFound("x".into()).is_transient());
        assert!(!StoreError::backend("x", std::io::Error::other("boom")).is_transient());
    }

    #[test]
    fn backend_error_keeps_its_source() {
        let err = StoreError::backend("write failed", std::io::Error::other("disk full"));
        let source = std::error::Error::source(&err).expect("source kept");
        assert_eq!(source.to_string(), "disk full");
    }
}
