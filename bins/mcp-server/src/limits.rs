//! Rate-limit helpers shared by the routes. The budgets themselves are counted in
//! `mcp_limits` stores ([`crate::state::CodeRunners`], [`crate::gateway::budgets`],
//! [`crate::users::lockout`]).
use std::time::Duration;

/// Whole seconds to put in `Retry-After` (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(5500)), 6);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
