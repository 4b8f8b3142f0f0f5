//! The hash chain that makes the audit log tamper-evident.
//!
//! Every stored event carries a sequence number (`seq`, 1, 2, 3, … with no gaps), the hash of
//! the event before it (`prev_hash`) and its own `hash`:
//!
//! ```text
//! hash = lowercase_hex( SHA-256( prev_hash as 64 ASCII hex bytes  ||  canonical_json(event) ) )
//! ```
//!
//! The first event's `prev_hash` is [`GENESIS_HASH`] (64 `'0'`s). `canonical_json` is the
//! event's serde form written with no whitespace, object keys sorted by their UTF-8 bytes at
//! every depth, strings and numbers written exactly as `serde_json` writes them, absent
//! options as `null`, and `timestamp` as RFC 3339 UTC with nine fractional digits
//! (`2026-01-02T03:04:05.500000000Z`). [`canonical_json`] is the reference implementation;
//! another backend (or an external auditor) that follows these rules gets the same hashes.
//!
//! Sinks compute the chain at append time while holding their write lock, so concurrent
//! writers cannot fork it. [`AuditSink::verify_chain`](crate::AuditSink::verify_chain) walks
//! it again and reports the first link that does not hold. Dropping the newest events leaves a
//! valid shorter chain: keep [`ChainReport::head`] somewhere else if you need to detect that.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::event::AuditEvent;

/// The `prev_hash` of the first event in a chain: 64 ASCII zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical JSON text of `event`, the bytes the chain hashes (see the module docs).
pub fn canonical_json(event: &AuditEvent) -> String {
    crate::canonical::event(event)
}

/// The chain hash of `event` when it follows an event whose hash is `prev_hash`.
pub fn compute_hash(prev_hash: &str, event: &AuditEvent) -> String {
    hash_canonical(prev_hash, &canonical_json(event))
}

/// [`compute_hash`] for an event whose canonical JSON is already known.
pub(crate) fn hash_canonical(prev_hash: &str, canonical: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical.as_bytes());
    format!("{:x}", hasher.finalize())
}

/// The newest link of a chain: its sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ChainHead {
    /// Sequence number of the newest event; 0 for an empty chain.
    pub seq: u64,
    /// Hash of the newest event; [`GENESIS_HASH`] for an empty chain.
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// The result of [`AuditSink::verify_chain`](crate::AuditSink::verify_chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ChainReport {
    /// How many stored events were checked (up to and including a broken one).
    pub checked: u64,
    /// The last intact link: the whole chain's head when nothing is broken.
    pub head: ChainHead,
    /// The first link that does not hold, if any.
    pub broken: Option<BrokenLink>,
}

impl ChainReport {
    /// Whether every link holds.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// The first place where a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BrokenLink {
    /// Sequence number of the offending stored row.
    pub seq: u64,
    /// Its event id, when the row could still be read.
    #[cfg_attr(feature = "schemars", schemars(with = "Option<String>"))]
    pub event_id: Option<Uuid>,
    /// What is wrong with it.
    pub reason: BreakReason,
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "audit chain broken at seq {}", self.seq)?;
        if let Some(id) = self.event_id {
            write!(f, " (event {id})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Why a link is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum BreakReason {
    /// Sequence numbers are not contiguous: rows were deleted or inserted.
    SequenceGap {
        /// The sequence number that should come next.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// `prev_hash` is not the previous event's hash.
    PrevHashMismatch {
        /// The previous event's hash.
        expected: String,
        /// The stored `prev_hash`.
        found: String,
    },
    /// The stored hash does not match the event's content: the event was altered.
    HashMismatch {
        /// The hash recomputed from the stored content.
        expected: String,
        /// The stored hash.
        found: String,
    },
    /// The stored row cannot be read back as an event.
    Unreadable {
        /// Why it could not be read.
        message: String,
    },
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SequenceGap { expected, found } => {
                write!(
                    f,
                    "expected seq {expected}, found {found} (rows missing or inserted)"
                )
            }
            Self::PrevHashMismatch { expected, found } => {
                write!(
                    f,
                    "prev_hash {found} does not match the previous hash {expected}"
                )
            }
            Self::HashMismatch { expected, found } => {
                write!(
                    f,
                    "stored hash {found} does not match content hash {expected} (event altered)"
                )
            }
            Self::Unreadable { message } => write!(f, "row cannot be read: {message}"),
        }
    }
}

/// Walks stored links in order and stops at the first broken one. Backends feed it rows.
#[derive(Debug)]
pub(crate) struct ChainVerifier {
    head: ChainHead,
    checked: u64,
    broken: Option<BrokenLink>,
}

impl ChainVerifier {
    pub(crate) fn new() -> Self {
        Self {
            head: ChainHead::genesis(),
            checked: 0,
            broken: None,
        }
    }

    /// Checks the next row; returns `false` once a break is found (stop feeding).
    pub(crate) fn check(
        &mut self,
        seq: u64,
        prev_hash: &str,
        hash: &str,
        event: &AuditEvent,
    ) -> bool {
        self.check_text(seq, prev_hash, hash, event.event_id, &canonical_json(event))
    }

    /// Checks the next row given the exact text to hash for it (see
    /// [`crate::canonical::as_stored`]).
    pub(crate) fn check_text(
        &mut self,
        seq: u64,
        prev_hash: &str,
        hash: &str,
        event_id: Uuid,
        canonical: &str,
    ) -> bool {
        self.checked += 1;
        let reason = if seq != self.head.seq + 1 {
            Some(BreakReason::SequenceGap {
                expected: self.head.seq + 1,
                found: seq,
            })
        } else if prev_hash != self.head.hash {
            Some(BreakReason::PrevHashMismatch {
                expected: self.head.hash.clone(),
                found: prev_hash.to_owned(),
            })
        } else {
            let expected = hash_canonical(prev_hash, canonical);
            (expected != hash).then(|| BreakReason::HashMismatch {
                expected,
                found: hash.to_owned(),
            })
        };
        match reason {
            Some(reason) => {
                self.broken = Some(BrokenLink {
                    seq,
                    event_id: Some(event_id),
                    reason,
                });
                false
            }
            None => {
                self.head = ChainHead {
                    seq,
                    hash: hash.to_owned(),
                };
                true
            }
        }
    }

    /// Records a row that could not be decoded.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn unreadable(&mut self, seq: u64, event_id: Option<Uuid>, message: String) {
        self.checked += 1;
        self.broken = Some(BrokenLink {
            seq,
            event_id,
            reason: BreakReason::Unreadable { message },
        });
    }

    pub(crate) fn finish(self) -> ChainReport {
        ChainReport {
            checked: self.checked,
            head: self.head,
            broken: self.broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventType;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let event = AuditEvent::new(EventType::DataRead)
            .with_detail("zeta", 1)
            .with_detail(
                "alpha",
                serde_json::json!({"b": [ {"y": 1, "x": 2} ], "a": null}),
            );
        let json = canonical_json(&event);
        assert!(json.starts_with("{\"action\":null,\"details\":{\"alpha\":{\"a\":null,\"b\":[{\"x\":2,\"y\":1}]},\"zeta\":1},"));
        assert!(!json.contains(' '));
    }

    #[test]
    fn hash_is_sha256_of_prev_hash_then_canonical_json() {
        let event = AuditEvent::new(EventType::DataRead);
        let mut bytes = GENESIS_HASH.as_bytes().to_vec();
        bytes.extend_from_slice(canonical_json(&event).as_bytes());
        assert_eq!(
            compute_hash(GENESIS_HASH, &event),
            crate::event::sha256_hex(&bytes)
        );
    }

    #[test]
    fn verifier_reports_the_first_altered_event() {
        let a = AuditEvent::new(EventType::DataRead);
        let b = AuditEvent::new(EventType::DataWrite);
        let ha = compute_hash(GENESIS_HASH, &a);
        let hb = compute_hash(&ha, &b);
        let mut v = ChainVerifier::new();
        assert!(v.check(1, GENESIS_HASH, &ha, &a));
        let altered = b.clone().with_user("mallory");
        assert!(!v.check(2, &ha, &hb, &altered));
        let report = v.finish();
        let broken = report.broken.unwrap();
        assert_eq!((broken.seq, broken.event_id), (2, Some(b.event_id)));
        assert!(matches!(broken.reason, BreakReason::HashMismatch { .. }));
        assert_eq!(report.head.seq, 1);
    }
}
