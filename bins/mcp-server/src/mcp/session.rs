//! What one MCP session remembers: the log level its client set and the resources it
//! subscribed to. A handshake client over HTTP (`Mcp-Session-Id`) and a stdio client each have
//! one; a stateless HTTP request gets a fresh one, so it sets its level in the request's `_meta`
//! (2026-07-28) instead.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

#[allow(deprecated)]
use rmcp::model::LoggingLevel;

/// Resources one session may subscribe to at most (each subscription is a little memory and a
/// check on every change).
pub const MAX_SUBSCRIPTIONS: usize = 256;

/// The state of one session.
#[derive(Default)]
pub struct Session {
    #[allow(deprecated)]
    level: Mutex<Option<LoggingLevel>>,
    /// Subscribed URIs, each with the fingerprint of its content when last looked at.
    subscriptions: Mutex<BTreeMap<String, Option<u64>>>,
    watched: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The session already holds [`MAX_SUBSCRIPTIONS`].
#[derive(Debug)]
pub struct TooManySubscriptions;

#[allow(deprecated)]
impl Session {
    /// The level the client set with `logging/setLevel`, if it did.
    pub fn level(&self) -> Option<LoggingLevel> {
        *lock(&self.level)
    }

    /// Records the level of `logging/setLevel`.
    pub fn set_level(&self, level: LoggingLevel) {
        *lock(&self.level) = Some(level);
    }

    /// Subscribes to `uri` whose content has fingerprint `seen` now (again: the fingerprint is
    /// renewed).
    pub fn subscribe(&self, uri: &str, seen: Option<u64>) -> Result<(), TooManySubscriptions> {
        let mut subs = lock(&self.subscriptions);
        if !subs.contains_key(uri) && subs.len() >= MAX_SUBSCRIPTIONS {
            return Err(TooManySubscriptions);
        }
        subs.insert(uri.to_owned(), seen);
        Ok(())
    }

    /// Ends the subscription to `uri`; whether there was one.
    pub fn unsubscribe(&self, uri: &str) -> bool {
        lock(&self.subscriptions).remove(uri).is_some()
    }

    /// The subscribed URIs with their last fingerprints.
    pub fn subscriptions(&self) -> Vec<(String, Option<u64>)> {
        lock(&self.subscriptions)
            .iter()
            .map(|(uri, seen)| (uri.clone(), *seen))
            .collect()
    }

    /// Records the fingerprint of a subscribed URI (ignored when it was unsubscribed meanwhile).
    pub fn seen(&self, uri: &str, fingerprint: Option<u64>) {
        if let Some(seen) = lock(&self.subscriptions).get_mut(uri) {
            *seen = fingerprint;
        }
    }

    /// Whether this is the first call (the session's watcher is to be started now).
    pub fn start_watching(&self) -> bool {
        !self.watched.swap(true, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_bounded_and_idempotent() {
        let s = Session::default();
        for i in 0..MAX_SUBSCRIPTIONS {
            s.subscribe(&format!("u{i}"), None).unwrap();
        }
        assert!(s.subscribe("one-more", None).is_err());
        // Subscribing again to a held one is not a new subscription.
        assert!(s.subscribe("u0", Some(1)).is_ok());
        assert_eq!(s.subscriptions()[0], ("u0".to_owned(), Some(1)));
        assert!(s.unsubscribe("u0"));
        assert!(!s.unsubscribe("u0"));
        assert!(s.subscribe("one-more", None).is_ok());
        assert!(s.start_watching());
        assert!(!s.start_watching());
    }
}
