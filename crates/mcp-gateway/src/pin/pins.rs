//! [`Pins`]: the pinning rules on top of any [`PinStore`].

use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use mcp_core::StoreError;

use super::{MAX_ACTOR_LEN, PinRecord, PinStore, PinnedDefinition};

/// How often a compare-and-set is retried when another writer got there first.
const ATTEMPTS: usize = 16;

/// What an observed definition means for its tool.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observation {
    /// The tool was never seen: its definition is now pinned. Serve it.
    FirstSeen(PinRecord),
    /// The definition is the approved one. Serve it.
    Approved(PinRecord),
    /// The definition differs from the approved one: withhold the tool. `new` is true the
    /// first time this definition is seen (then it was just stored as `pending` and the change
    /// must be reported), false when it was already pending.
    Changed {
        /// The record, with the new definition as `pending`.
        record: PinRecord,
        /// Whether this observation stored the pending definition.
        new: bool,
    },
    /// The definition is the one an admin rejected: withhold the tool, report nothing new.
    Rejected(PinRecord),
}

impl Observation {
    /// Whether the tool may be served.
    pub fn serve(&self) -> bool {
        matches!(self, Self::FirstSeen(_) | Self::Approved(_))
    }

    /// The record after the observation.
    pub fn record(&self) -> &PinRecord {
        match self {
            Self::FirstSeen(r) | Self::Approved(r) | Self::Rejected(r) => r,
            Self::Changed { record, .. } => record,
        }
    }
}

/// The pinning rules: first sight pins, a change waits for a decision, decisions are
/// compare-and-set so a definition that changed again since it was reviewed cannot be approved
/// by mistake.
#[derive(Clone)]
pub struct Pins {
    store: Arc<dyn PinStore>,
}

impl std::fmt::Debug for Pins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pins").finish_non_exhaustive()
    }
}

fn check_actor(by: &str) -> Result<(), StoreError> {
    if by.is_empty() || by.len() > MAX_ACTOR_LEN || by.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "approver must be 1 to {MAX_ACTOR_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

fn busy() -> StoreError {
    StoreError::unavailable("pin record kept changing; try again")
}

impl Pins {
    /// Rules over `store`.
    pub fn new(store: Arc<dyn PinStore>) -> Self {
        Self { store }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn PinStore> {
        &self.store
    }

    /// Records that upstream `namespace` offers `tool` with `definition`, and says whether to
    /// serve it.
    pub async fn observe(
        &self,
        namespace: &str,
        tool: &str,
        definition: &PinnedDefinition,
    ) -> Result<Observation, StoreError> {
        for _ in 0..ATTEMPTS {
            let now = Utc::now().trunc_subsecs(3);
            let Some(record) = self.store.get(namespace, tool).await? else {
                let record = PinRecord::first_seen(namespace, tool, definition.clone(), now);
                if self.store.insert(&record).await? {
                    return Ok(Observation::FirstSeen(record));
                }
                continue;
            };
            if record.approved.hash == definition.hash {
                if record.pending.is_none() {
                    return Ok(Observation::Approved(record));
                }
                // The upstream went back to the approved definition: the pending one is moot.
                let mut next = record.clone();
                next.pending = None;
                next.pending_since = None;
                next.version += 1;
                if self.store.update(&next, record.version).await? {
                    return Ok(Observation::Approved(next));
                }
                continue;
            }
            if record.pending.as_ref().map(|p| &p.hash) == Some(&definition.hash) {
                return Ok(Observation::Changed { record, new: false });
            }
            if record.rejected.as_ref().map(|r| &r.hash) == Some(&definition.hash) {
                return Ok(Observation::Rejected(record));
            }
            let mut next = record.clone();
            next.pending = Some(definition.clone());
            next.pending_since = Some(now);
            next.version += 1;
            if self.store.update(&next, record.version).await? {
                return Ok(Observation::Changed {
                    record: next,
                    new: true,
                });
            }
        }
        Err(busy())
    }

    /// Approves the pending (or last rejected) definition of `tool` whose hash is `hash`: it
    /// becomes the approved definition. [`StoreError::NotFound`] if nothing is pinned for the
    /// tool, [`StoreError::Conflict`] if no pending or rejected definition has that hash (it
    /// changed again since it was reviewed, or was decided already).
    pub async fn approve(
        &self,
        namespace: &str,
        tool: &str,
        hash: &str,
        by: &str,
    ) -> Result<PinRecord, StoreError> {
        check_actor(by)?;
        for _ in 0..ATTEMPTS {
            let record = self.require(namespace, tool).await?;
            let candidate = [&record.pending, &record.rejected]
                .into_iter()
                .flatten()
                .find(|d| d.hash == hash)
                .cloned()
                .ok_or_else(|| {
                    StoreError::Conflict(format!(
                        "tool `{tool}` of `{namespace}` has no pending or rejected definition with hash {hash}"
                    ))
                })?;
            let mut next = record.clone();
            next.approved = candidate;
            next.approved_at = Utc::now().trunc_subsecs(3);
            next.approved_by = Some(by.to_owned());
            next.pending = None;
            next.pending_since = None;
            next.rejected = None;
            next.version += 1;
            if self.store.update(&next, record.version).await? {
                return Ok(next);
            }
        }
        Err(busy())
    }

    /// Rejects the pending definition of `tool` whose hash is `hash`: the tool stays withheld
    /// while the upstream offers it. Errors as [`Pins::approve`].
    pub async fn reject(
        &self,
        namespace: &str,
        tool: &str,
        hash: &str,
        by: &str,
    ) -> Result<PinRecord, StoreError> {
        check_actor(by)?;
        for _ in 0..ATTEMPTS {
            let record = self.require(namespace, tool).await?;
            let Some(pending) = record.pending.clone().filter(|p| p.hash == hash) else {
                return Err(StoreError::Conflict(format!(
                    "tool `{tool}` of `{namespace}` has no pending definition with hash {hash}"
                )));
            };
            let mut next = record.clone();
            next.pending = None;
            next.pending_since = None;
            next.rejected = Some(pending);
            next.version += 1;
            if self.store.update(&next, record.version).await? {
                return Ok(next);
            }
        }
        Err(busy())
    }

    /// Every record with a pending definition, sorted by namespace and tool.
    pub async fn pending(&self) -> Result<Vec<PinRecord>, StoreError> {
        Ok(self
            .store
            .list(None)
            .await?
            .into_iter()
            .filter(|r| r.pending.is_some())
            .collect())
    }

    async fn require(&self, namespace: &str, tool: &str) -> Result<PinRecord, StoreError> {
        self.store.get(namespace, tool).await?.ok_or_else(|| {
            StoreError::NotFound(format!("no pinned tool `{tool}` in `{namespace}`"))
        })
    }
}
