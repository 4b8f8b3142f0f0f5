//! The sessions of `/mcp`: which user owns each, and at most `[mcp] max_sessions_per_user` per
//! user. A user opening one more closes their least recently used idle session (no request
//! and no event stream open); when every one of them is busy, the new one is refused.
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

struct Entry {
    user: String,
    last_used: Instant,
    busy: Arc<AtomicUsize>,
}

#[derive(Default)]
struct Table {
    entries: HashMap<String, Entry>,
    /// Sessions being opened (an `initialize` on its way through rmcp), per user.
    opening: HashMap<String, usize>,
}

/// Owners and bounds of the sessions rmcp keeps.
pub struct Sessions {
    manager: Arc<LocalSessionManager>,
    table: Mutex<Table>,
    max_per_user: usize,
}

/// A user already holds the most sessions allowed, all busy.
#[derive(Debug)]
pub struct TooManySessions {
    /// The bound.
    pub max: usize,
}

/// A place for one new session of a user, held while its `initialize` runs.
pub struct Opening<'a> {
    sessions: &'a Sessions,
    user: String,
    /// The session closed to make room, if any.
    pub evicted: Option<String>,
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        let mut table = self.sessions.table();
        if let Some(n) = table.opening.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                table.opening.remove(&self.user);
            }
        }
    }
}

impl Opening<'_> {
    /// Records the session rmcp opened as the user's.
    pub fn opened(self, id: &str) {
        self.sessions.table().entries.insert(
            id.to_owned(),
            Entry {
                user: self.user.clone(),
                last_used: Instant::now(),
                busy: Arc::default(),
            },
        );
    }
}

/// Marks a session busy while it lives (a request, or its response stream).
pub struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Sessions {
    /// The table for the sessions of `manager`.
    pub fn new(manager: Arc<LocalSessionManager>, max_per_user: usize) -> Self {
        Self {
            manager,
            table: Mutex::new(Table::default()),
            max_per_user: max_per_user.max(1),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The user who opened session `id`, if it is known.
    pub fn owner(&self, id: &str) -> Option<String> {
        self.table().entries.get(id).map(|e| e.user.clone())
    }

    /// Marks session `id` used now and busy until the returned guard is dropped.
    pub fn use_session(&self, id: &str) -> Option<Busy> {
        let mut table = self.table();
        let entry = table.entries.get_mut(id)?;
        entry.last_used = Instant::now();
        entry.busy.fetch_add(1, Ordering::Relaxed);
        Some(Busy(Arc::clone(&entry.busy)))
    }

    /// Forgets session `id` (ended by its client).
    pub fn remove(&self, id: &str) {
        self.table().entries.remove(id);
    }

    /// Forgets sessions of `user` (all users when `None`) that rmcp has closed (idle timeout).
    async fn prune(&self, user: Option<&str>) {
        let ids: Vec<String> = self
            .table()
            .entries
            .iter()
            .filter(|(_, e)| user.is_none_or(|u| e.user == u))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let alive = self
                .manager
                .has_session(&id.clone().into())
                .await
                .unwrap_or(true);
            if !alive {
                self.table().entries.remove(&id);
            }
        }
    }

    /// Forgets closed sessions of every user, once in a while (every 256 sessions opened).
    pub async fn prune_sometimes(&self) {
        if self.table().entries.len().is_multiple_of(256) {
            self.prune(None).await;
        }
    }

    /// Makes room for one more session of `user`: closes their least recently used idle
    /// session when they are at the bound, or refuses when all of theirs are busy.
    pub async fn open(&self, user: &str) -> Result<Opening<'_>, TooManySessions> {
        self.prune(Some(user)).await;
        let evicted = {
            let mut table = self.table();
            let held = table.entries.values().filter(|e| e.user == user).count();
            let opening = table.opening.get(user).copied().unwrap_or(0);
            let evicted = if held + opening < self.max_per_user {
                None
            } else {
                let oldest_idle = table
                    .entries
                    .iter()
                    .filter(|(_, e)| e.user == user && e.busy.load(Ordering::Relaxed) == 0)
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(id, _)| id.clone());
                let Some(id) = oldest_idle else {
                    return Err(TooManySessions {
                        max: self.max_per_user,
                    });
                };
                table.entries.remove(&id);
                Some(id)
            };
            *table.opening.entry(user.to_owned()).or_default() += 1;
            evicted
        };
        if let Some(id) = &evicted {
            if let Err(e) = self.manager.close_session(&id.clone().into()).await {
                tracing::debug!(session = %id, error = %e, "closing an evicted session");
            }
            tracing::info!(
                session = %id,
                user,
                max = self.max_per_user,
                "MCP session closed to make room for a newer one of the same user"
            );
        }
        Ok(Opening {
            sessions: self,
            user: user.to_owned(),
            evicted,
        })
    }

    /// How many sessions `user` holds (tests).
    #[cfg(test)]
    fn held(&self, user: &str) -> usize {
        self.table()
            .entries
            .values()
            .filter(|e| e.user == user)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(max: usize) -> Sessions {
        Sessions::new(Arc::new(LocalSessionManager::default()), max)
    }

    /// Registers a session without rmcp (so `prune` would drop it: tests call `open` only when
    /// the sessions they registered may be forgotten, or check before pruning).
    fn register(s: &Sessions, user: &str, id: &str) {
        s.table().entries.insert(
            id.to_owned(),
            Entry {
                user: user.to_owned(),
                last_used: Instant::now(),
                busy: Arc::default(),
            },
        );
    }

    #[tokio::test]
    async fn below_the_bound_a_session_opens_without_closing_another() {
        let s = sessions(2);
        let opening = s.open("alice").await.unwrap();
        assert!(opening.evicted.is_none());
        opening.opened("a1");
        assert_eq!(s.owner("a1").as_deref(), Some("alice"));
        assert_eq!(s.held("alice"), 1);
    }

    #[test]
    fn the_least_recently_used_idle_session_is_chosen_and_busy_ones_are_kept() {
        let s = sessions(2);
        register(&s, "alice", "old");
        std::thread::sleep(std::time::Duration::from_millis(2));
        register(&s, "alice", "new");
        // "old" is used (and busy) now: the idle "new" is the one to go.
        let busy = s.use_session("old").unwrap();
        let table = s.table();
        let idle: Vec<&String> = table
            .entries
            .iter()
            .filter(|(_, e)| e.busy.load(Ordering::Relaxed) == 0)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(idle, ["new"]);
        drop(table);
        drop(busy);
        assert_eq!(s.table().entries["old"].busy.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn at_the_bound_with_every_session_busy_a_new_one_is_refused() {
        let s = sessions(1);
        let opening = s.open("alice").await.unwrap();
        // While the first is still opening, the bound counts it.
        assert!(s.open("alice").await.is_err());
        // Other users are not affected.
        assert!(s.open("bob").await.is_ok());
        drop(opening);
        assert!(s.open("alice").await.is_ok());
    }
}
