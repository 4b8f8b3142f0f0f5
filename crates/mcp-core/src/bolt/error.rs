//! neo4rs errors mapped into [`StoreError`] at the edge.

use crate::StoreError;

/// Neo4j's status code for a violated uniqueness or existence constraint.
const CONSTRAINT_VIOLATION: &str = "Neo.ClientError.Schema.ConstraintValidationFailed";

/// Maps a neo4rs error to a [`StoreError`]: anything about reaching the server (I/O,
/// timeouts, pool, closed connections, Neo4j transient errors) becomes
/// [`StoreError::Unavailable`]; a constraint violation becomes [`StoreError::Conflict`];
/// the rest becomes [`StoreError::Backend`]. The original error is kept as the source.
pub fn map_error(err: neo4rs::Error) -> StoreError {
    use neo4rs::Error as E;
    match &err {
        E::Neo4j(e) if e.code() == CONSTRAINT_VIOLATION => {
            StoreError::Conflict(e.message().to_owned())
        }
        E::Neo4j(e) if e.code().starts_with("Neo.TransientError.") => {
            StoreError::unavailable_from("Bolt server reported a transient error", err)
        }
        E::IOError { .. }
        | E::ConnectionError
        | E::ConnectionTimedOut
        | E::IncompleteBoltExchange
        | E::ConnectionClosed(_)
        | E::RequestIgnoredError
        | E::ServerUnavailableError(_)
        | E::RoutingTableRefreshFailed(_)
        | E::RoutingTableError(_) => StoreError::unavailable_from("Bolt server unreachable", err),
        E::AuthenticationError(_) => StoreError::backend("Bolt authentication failed", err),
        E::UrlParseError(_) | E::UnsupportedScheme(_) | E::InvalidDnsName(_) | E::InvalidConfig => {
            StoreError::Invalid(format!("bolt configuration: {err}"))
        }
        _ => StoreError::backend("Bolt query failed", err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_transient() {
        let err = map_error(neo4rs::Error::from(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(err.is_transient());
        assert!(map_error(neo4rs::Error::ConnectionTimedOut).is_transient());
    }

    #[test]
    fn decoding_errors_are_not_transient() {
        let err = map_error(neo4rs::Error::ConversionError);
        assert!(matches!(err, StoreError::Backend { .. }));
    }
}
