//! [`MemoryAuditSink`]: the reference backend, kept in process memory.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use mcp_core::StoreError;
use uuid::Uuid;

use crate::chain::{ChainHead, ChainReport, ChainVerifier, compute_hash};
use crate::event::AuditEvent;
use crate::sink::{AuditFilter, AuditSink, StoredEvent, validate};

/// An [`AuditSink`] that keeps the chain in memory. For tests and embedding; everything is
/// lost when it is dropped.
#[derive(Debug, Default)]
pub struct MemoryAuditSink {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    events: Vec<StoredEvent>,
    ids: HashSet<Uuid>,
}

impl MemoryAuditSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many events are stored.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement that can panic, so a poisoned lock
        // still holds a valid chain.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Edits the stored row with sequence number `seq` in place, bypassing the chain, so tests
    /// can check that [`AuditSink::verify_chain`] notices. Returns `false` if there is no
    /// such row. Only with feature `testing`.
    #[cfg(feature = "testing")]
    pub fn dangerous_edit_stored(&self, seq: u64, edit: impl FnOnce(&mut StoredEvent)) -> bool {
        let mut state = self.lock();
        match state.events.iter_mut().find(|e| e.seq == seq) {
            Some(row) => {
                edit(row);
                true
            }
            None => false,
        }
    }

    /// Removes the stored row with sequence number `seq`, bypassing the chain. Only with
    /// feature `testing`.
    #[cfg(feature = "testing")]
    pub fn dangerous_remove_stored(&self, seq: u64) -> bool {
        let mut state = self.lock();
        let before = state.events.len();
        state.events.retain(|e| e.seq != seq);
        before != state.events.len()
    }
}

#[async_trait]
impl AuditSink for MemoryAuditSink {
    async fn append(&self, events: &[AuditEvent]) -> Result<ChainHead, StoreError> {
        validate(events)?;
        let mut state = self.lock();
        let mut batch_ids = HashSet::with_capacity(events.len());
        for event in events {
            if state.ids.contains(&event.event_id) || !batch_ids.insert(event.event_id) {
                return Err(StoreError::Conflict(format!(
                    "audit event {} is already stored",
                    event.event_id
                )));
            }
        }
        let mut head = state
            .events
            .last()
            .map_or_else(ChainHead::genesis, |e| ChainHead {
                seq: e.seq,
                hash: e.hash.clone(),
            });
        state.events.reserve(events.len());
        for event in events {
            let hash = compute_hash(&head.hash, event);
            let seq = head.seq + 1;
            let prev_hash = std::mem::replace(
                &mut head,
                ChainHead {
                    seq,
                    hash: hash.clone(),
                },
            )
            .hash;
            state.events.push(StoredEvent {
                seq,
                prev_hash,
                hash,
                event: event.clone(),
            });
        }
        state.ids.extend(batch_ids);
        Ok(head)
    }

    async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let state = self.lock();
        Ok(state
            .events
            .iter()
            .rev()
            .filter(|e| filter.matches_stored(e))
            .take(filter.effective_limit())
            .cloned()
            .collect())
    }

    async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        let state = self.lock();
        let mut verifier = ChainVerifier::new();
        for row in &state.events {
            if !verifier.check(row.seq, &row.prev_hash, &row.hash, &row.event) {
                break;
            }
        }
        Ok(verifier.finish())
    }
}
