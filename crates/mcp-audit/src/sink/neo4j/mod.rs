//! [`Neo4jAuditSink`]: audit events as `(:AuditEvent)` nodes in Neo4j or FalkorDB over Bolt
//! (feature `neo4j`).
//!
//! One node per event with every event field as a property, next to `seq`, `prev_hash` and
//! `hash`. `timestamp` is the same fixed-width RFC 3339 text with nine fractional digits as in
//! SQLite (text order is time order; FalkorDB cannot return temporal values over Bolt without
//! crashing), `details` is canonical JSON text, `ip_address` text, `success` a boolean,
//! `duration_ms` an integer. `event_id` and `seq` are unique (constraints on Neo4j, indexes on
//! FalkorDB); `event_type`, `user_id`, `timestamp` and `request_id` are indexed.
//!
//! Appends hold an in-process lock while they read the chain head (cached after the first
//! read), compute the links and write, so all appends through one sink form one valid chain.
//! Several processes may append to one Neo4j database: the `seq` uniqueness constraint refuses
//! the batch of the one that lost a race (atomically), and that append re-reads the head and
//! links after the winner's events (up to 8 times). FalkorDB has no constraints, so run one
//! writing sink per FalkorDB graph.
//! After any failed append the cached head is dropped and re-read, so a partial write or a
//! restarted server never leaves a gap.
//!
//! Round trips and atomicity: an append sends its events in the query `APPEND`, encoded
//! compactly (each distinct text once per query, the shared prefix of ids and timestamps
//! once, one fixed-width text per event; see the `append` module), and the query stores the
//! same properties as the key-value rows written by earlier versions (readers see one
//! layout). `seq` and `prev_hash` are not sent: the query derives them from the part's first
//! `seq` and the previous event's hash, and it writes nothing unless the event before its
//! first one is stored with that hash (a missing link makes the append fail with
//! [`StoreError::Conflict`] and re-read the head). On Neo4j a batch is one such query (one
//! round trip, all or nothing). FalkorDB caps a query at about 4 KiB (see
//! `mcp_core::bolt`), so there a batch is packed, in chain order, into as few queries as fit
//! under that cap (about twenty events of usual size each); a batch interrupted by an outage
//! keeps its stored prefix (still a valid chain) and reports the error, and a part whose
//! predecessor is missing stores nothing. An event whose query alone exceeds that size is
//! refused on FalkorDB with [`StoreError::Invalid`]. Before writing, the batch's ids are
//! checked against the stored ones (one query per about 150 ids on FalkorDB, one on Neo4j):
//! an id already stored is a [`StoreError::Conflict`] and nothing of the batch is written.

use async_trait::async_trait;
use mcp_core::StoreError;
use mcp_core::bolt::neo4rs::{BoltType, Row};
use mcp_core::bolt::{BoltClient, BoltConfig, BoltServer};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::canonical;
use crate::chain::{ChainHead, ChainReport, ChainVerifier, hash_canonical};
use crate::event::{AuditEvent, timestamp_format};
use crate::sink::{AuditFilter, AuditSink, StoredEvent, validate};

mod append;

use append::{APPEND, DUPLICATE_CHECK, EventText};

/// How often an append re-reads the head after losing a race for the next `seq` (Neo4j).
const MAX_SEQ_RACES: u32 = 8;

/// How many events `verify_chain` reads per query.
const VERIFY_PAGE: usize = 500;

/// The properties returned for an event, in the order `decode` reads them.
const RETURN_EVENT: &str = "RETURN e.seq AS seq, e.prev_hash AS prev_hash, e.hash AS hash, \
    e.event_id AS event_id, e.event_type AS event_type, e.timestamp AS timestamp, \
    e.user_id AS user_id, e.ip_address AS ip_address, e.user_agent AS user_agent, \
    e.resource AS resource, e.action AS action, e.success AS success, e.details AS details, \
    e.request_id AS request_id, e.session_id AS session_id, e.duration_ms AS duration_ms, \
    e.error_message AS error_message";

/// An audit sink that stores the hash-chained log as `(:AuditEvent)` nodes over Bolt.
#[derive(Debug)]
pub struct Neo4jAuditSink {
    client: BoltClient,
    /// The chain head as last written; `None` means "read it from the server".
    head: Mutex<Option<ChainHead>>,
}

impl Neo4jAuditSink {
    /// Connects with `config` and creates the constraints and indexes if they are missing.
    pub async fn connect(config: BoltConfig) -> Result<Self, StoreError> {
        Self::from_client(BoltClient::connect(config)?).await
    }

    /// Uses an existing client (sharing its pool) and creates the schema if missing.
    pub async fn from_client(client: BoltClient) -> Result<Self, StoreError> {
        client.ensure_unique("AuditEvent", "event_id").await?;
        client.ensure_unique("AuditEvent", "seq").await?;
        for property in ["event_type", "user_id", "timestamp", "request_id"] {
            client.ensure_index("AuditEvent", property).await?;
        }
        Ok(Self {
            client,
            head: Mutex::new(None),
        })
    }

    async fn read_head(&self) -> Result<ChainHead, StoreError> {
        let query = self.client.query(
            "MATCH (e:AuditEvent) RETURN e.seq AS seq, e.hash AS hash ORDER BY e.seq DESC LIMIT 1",
        );
        let rows = self.client.read(query).await?;
        match rows.first() {
            None => Ok(ChainHead::genesis()),
            Some(row) => {
                let seq: i64 = row
                    .get("seq")
                    .map_err(|e| StoreError::backend("audit head seq", e))?;
                let hash: String = row
                    .get("hash")
                    .map_err(|e| StoreError::backend("audit head hash", e))?;
                Ok(ChainHead {
                    seq: u64::try_from(seq).unwrap_or(0),
                    hash,
                })
            }
        }
    }

    async fn append_locked(
        &self,
        head: &mut Option<ChainHead>,
        events: &[AuditEvent],
    ) -> Result<ChainHead, StoreError> {
        let current = match head.take() {
            Some(h) => h,
            None => self.read_head().await?,
        };
        if events.is_empty() {
            *head = Some(current.clone());
            return Ok(current);
        }
        // heads[i] is the chain head after the batch's first i events.
        let mut heads = Vec::with_capacity(events.len() + 1);
        heads.push(current);
        let mut texts = Vec::with_capacity(events.len());
        for event in events {
            let before = &heads[heads.len() - 1];
            let details = canonical::map(&event.details);
            let hash = hash_canonical(
                &before.hash,
                &canonical::event_with_details(event, &details),
            );
            let text = EventText::new(event, hash, details);
            let seq = before.seq + 1;
            heads.push(ChainHead {
                seq,
                hash: text.hash().to_owned(),
            });
            texts.push(text);
        }
        let parts: Vec<std::ops::Range<usize>> = match self.client.server() {
            BoltServer::FalkorDb => append::pack(&texts, &heads, append::FALKORDB_BUDGET),
            // Neo4j: the whole batch in one query.
            _ => std::iter::once(0..texts.len()).collect(),
        };
        for part in parts {
            let len = part.len();
            // The head this part continues: the batch's, then the last event of the part before.
            let after = &heads[part.start];
            let mut query = self.client.query(APPEND);
            for (name, value) in append::params(&texts[part.clone()], after) {
                query = query.param(name, value);
            }
            // One event too large for the compact query: the shorter single-event query.
            if len == 1
                && self.client.server() == BoltServer::FalkorDb
                && mcp_core::bolt::query_text_len(&query) > append::FALKORDB_BUDGET
            {
                query = self.client.query(append::APPEND_ONE);
                for (name, value) in append::one_params(&texts[part.start], after) {
                    query = query.param(name, value);
                }
            }
            let stored = self
                .client
                .write(query)
                .await?
                .first()
                .and_then(|row| row.get::<i64>("n").ok())
                .unwrap_or(0);
            if usize::try_from(stored).ok() != Some(len) {
                return Err(StoreError::Conflict(format!(
                    "audit chain head moved: event {} is no longer the stored head \
                     ({stored} of {len} events stored)",
                    after.seq
                )));
            }
        }
        let current = heads.swap_remove(heads.len() - 1);
        *head = Some(current.clone());
        Ok(current)
    }

    async fn refuse_duplicates(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(StoreError::Conflict(format!(
                "event_id {} appears twice in the batch",
                pair[0]
            )));
        }
        // Checked in groups that fit FalkorDB's query size cap.
        let budget = match self.client.server() {
            BoltServer::FalkorDb => append::FALKORDB_BUDGET,
            _ => usize::MAX,
        };
        for group in append::duplicate_checks(&ids, budget) {
            let mut query = self.client.query(DUPLICATE_CHECK);
            for (name, value) in group {
                query = query.param(name, value);
            }
            if let Some(row) = self.client.read(query).await?.first() {
                let id: String = row.get("id").unwrap_or_default();
                return Err(StoreError::Conflict(format!(
                    "event_id {id} is already stored"
                )));
            }
        }
        Ok(())
    }
}

/// Decodes one returned row; `Err` carries a message for an unreadable stored event.
fn decode(row: &Row) -> Result<StoredEvent, (u64, Option<uuid::Uuid>, String)> {
    let seq = row
        .get::<i64>("seq")
        .ok()
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(0);
    let text = |name: &str| -> Result<Option<String>, String> {
        row.get::<Option<String>>(name)
            .map_err(|e| format!("property {name}: {e}"))
    };
    let event_id_text = text("event_id").ok().flatten();
    let event_id = event_id_text.as_deref().and_then(|id| id.parse().ok());
    let fail = |message: String| (seq, event_id, message);
    let required = |name: &str| -> Result<String, String> {
        text(name)?.ok_or_else(|| format!("property {name} is missing"))
    };
    let event = (|| -> Result<AuditEvent, String> {
        let id = required("event_id")?;
        let event_type = required("event_type")?;
        let timestamp = required("timestamp")?;
        let details: Map<String, Value> = serde_json::from_str(&required("details")?)
            .map_err(|e| format!("property details: {e}"))?;
        let duration_ms: Option<i64> = row
            .get::<Option<i64>>("duration_ms")
            .map_err(|e| format!("property duration_ms: {e}"))?;
        Ok(AuditEvent {
            event_id: id
                .parse()
                .map_err(|e| format!("property event_id {id:?}: {e}"))?,
            event_type: event_type
                .parse()
                .map_err(|e: crate::Error| e.to_string())?,
            timestamp: timestamp_format::parse(&timestamp)
                .map_err(|e| format!("property timestamp {timestamp:?}: {e}"))?,
            user_id: text("user_id")?,
            ip_address: text("ip_address")?
                .map(|ip| {
                    ip.parse()
                        .map_err(|e| format!("property ip_address {ip:?}: {e}"))
                })
                .transpose()?,
            user_agent: text("user_agent")?,
            resource: text("resource")?,
            action: text("action")?,
            success: row
                .get::<bool>("success")
                .map_err(|e| format!("property success: {e}"))?,
            details,
            request_id: text("request_id")?,
            session_id: text("session_id")?,
            duration_ms: duration_ms
                .map(|d| {
                    u64::try_from(d).map_err(|_| format!("property duration_ms is negative: {d}"))
                })
                .transpose()?,
            error_message: text("error_message")?,
        })
    })()
    .map_err(fail)?;
    let prev_hash = text("prev_hash").ok().flatten().unwrap_or_default();
    let hash = text("hash").ok().flatten().unwrap_or_default();
    Ok(StoredEvent {
        seq,
        prev_hash,
        hash,
        event,
    })
}

/// The text the chain hashes for a returned row whose event decoded: the stored texts as they
/// are (see [`canonical::StoredText`]).
fn hashed_text(row: &Row, event: &AuditEvent) -> String {
    let text = |name: &str| row.get::<Option<String>>(name).ok().flatten();
    let (event_id, timestamp, ip_address, details) = (
        text("event_id").unwrap_or_default(),
        text("timestamp").unwrap_or_default(),
        text("ip_address"),
        text("details").unwrap_or_default(),
    );
    canonical::as_stored(
        event,
        canonical::StoredText {
            event_id: &event_id,
            timestamp: &timestamp,
            ip_address: ip_address.as_deref(),
            details: &details,
        },
    )
}

#[async_trait]
impl AuditSink for Neo4jAuditSink {
    async fn append(&self, events: &[AuditEvent]) -> Result<ChainHead, StoreError> {
        validate(events)?;
        let mut head = self.head.lock().await;
        if !events.is_empty() {
            self.refuse_duplicates(events).await?;
        }
        let mut attempt = 1;
        loop {
            let result = self.append_locked(&mut head, events).await;
            if result.is_err() {
                *head = None; // re-read: part of the batch may be stored
            }
            match result {
                // On Neo4j the `seq` constraint refuses a batch (atomically) when another
                // process appended first: re-read the head and link after its events.
                Err(StoreError::Conflict(message))
                    if self.client.server() == BoltServer::Neo4j && attempt < MAX_SEQ_RACES =>
                {
                    tracing::debug!(%message, attempt, "audit chain head moved; retrying append");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = filter.effective_limit();
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conditions = Vec::new();
        let mut query_params: Vec<(&str, BoltType)> = Vec::new();
        if let Some(t) = filter.event_type {
            conditions.push("e.event_type = $event_type");
            query_params.push(("event_type", t.as_str().into()));
        }
        if let Some(u) = &filter.user_id {
            conditions.push("e.user_id = $user_id");
            query_params.push(("user_id", u.as_str().into()));
        }
        if let Some(s) = &filter.since {
            conditions.push("e.timestamp >= $since");
            query_params.push(("since", timestamp_format::format(s).into()));
        }
        if let Some(u) = &filter.until {
            conditions.push("e.timestamp < $until");
            query_params.push(("until", timestamp_format::format(u).into()));
        }
        if let Some(s) = filter.success {
            conditions.push("e.success = $success");
            query_params.push(("success", s.into()));
        }
        if let Some(r) = &filter.request_id {
            conditions.push("e.request_id = $request_id");
            query_params.push(("request_id", r.as_str().into()));
        }
        if let Some(b) = filter.before_seq {
            conditions.push("e.seq < $before_seq");
            query_params.push(("before_seq", i64::try_from(b).unwrap_or(i64::MAX).into()));
        }
        if let Some(a) = filter.after_seq {
            conditions.push("e.seq > $after_seq");
            query_params.push(("after_seq", i64::try_from(a).unwrap_or(i64::MAX).into()));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        // `limit` is a number we computed, not user text.
        let cypher = format!(
            "MATCH (e:AuditEvent) {where_clause} {RETURN_EVENT} ORDER BY seq DESC LIMIT {limit}"
        );
        let mut query = self.client.query(&cypher);
        for (name, value) in query_params {
            query = query.param(name, value);
        }
        let rows = self.client.read(query).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let stored = decode(row).map_err(|(seq, _, message)| {
                StoreError::backend(format!("stored audit event {seq} is unreadable"), message)
            })?;
            // Text order is instant order for canonical rows; a row whose stored text is not
            // canonical (which `verify_chain` reports) is judged by its instant.
            if filter.matches_stored(&stored) {
                out.push(stored);
            }
        }
        Ok(out)
    }

    async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        let mut verifier = ChainVerifier::new();
        let mut after: i64 = 0;
        loop {
            let cypher = format!(
                "MATCH (e:AuditEvent) WHERE e.seq > $after {RETURN_EVENT} ORDER BY seq LIMIT {VERIFY_PAGE}"
            );
            let rows = self
                .client
                .read(self.client.query(&cypher).param("after", after))
                .await?;
            let page_len = rows.len();
            for row in &rows {
                match decode(row) {
                    Ok(stored) => {
                        after = i64::try_from(stored.seq).unwrap_or(i64::MAX);
                        if !verifier.check_text(
                            stored.seq,
                            &stored.prev_hash,
                            &stored.hash,
                            stored.event.event_id,
                            &hashed_text(row, &stored.event),
                        ) {
                            return Ok(verifier.finish());
                        }
                    }
                    Err((seq, event_id, message)) => {
                        verifier.unreadable(seq, event_id, message);
                        return Ok(verifier.finish());
                    }
                }
            }
            if page_len < VERIFY_PAGE {
                return Ok(verifier.finish());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_core::bolt::neo4rs::BoltMap;

    /// The append query and row layout of 8d183ad and before: one key-value map per event.
    const LEGACY_APPEND: &str =
        "UNWIND $rows AS r MERGE (e:AuditEvent {event_id: r.event_id}) SET e += r";

    /// `events` as 8d183ad stored them, chained from the genesis head.
    fn legacy_rows(events: &[AuditEvent]) -> Vec<BoltType> {
        let mut head = ChainHead::genesis();
        let mut rows = Vec::new();
        for event in events {
            let details = canonical::map(&event.details);
            let hash = hash_canonical(&head.hash, &canonical::event_with_details(event, &details));
            rows.push(legacy_row(event, head.seq + 1, &head.hash, &hash, details));
            head = ChainHead {
                seq: head.seq + 1,
                hash,
            };
        }
        rows
    }

    fn legacy_row(
        event: &AuditEvent,
        seq: u64,
        prev_hash: &str,
        hash: &str,
        details: String,
    ) -> BoltType {
        let mut map = BoltMap::new();
        let mut put = |key: &str, value: BoltType| map.put(key.into(), value);
        put("seq", BoltType::from(i64::try_from(seq).unwrap()));
        put("prev_hash", BoltType::from(prev_hash));
        put("hash", BoltType::from(hash));
        put("event_id", BoltType::from(event.event_id.to_string()));
        put("event_type", BoltType::from(event.event_type.as_str()));
        put(
            "timestamp",
            BoltType::from(timestamp_format::format(&event.timestamp)),
        );
        put("success", BoltType::from(event.success));
        put("details", BoltType::from(details));
        let optional = [
            ("user_id", event.user_id.clone()),
            ("ip_address", event.ip_address.map(|ip| ip.to_string())),
            ("user_agent", event.user_agent.clone()),
            ("resource", event.resource.clone()),
            ("action", event.action.clone()),
            ("request_id", event.request_id.clone()),
            ("session_id", event.session_id.clone()),
            ("error_message", event.error_message.clone()),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                put(key, BoltType::from(value));
            }
        }
        if let Some(d) = event.duration_ms {
            put("duration_ms", BoltType::from(i64::try_from(d).unwrap()));
        }
        BoltType::Map(map)
    }

    fn sample(i: usize) -> AuditEvent {
        let event = AuditEvent::new(crate::EventType::DataRead)
            .with_user(format!("user-{}", i % 2))
            .with_resource("graph:node/7")
            .with_detail("i", i)
            .with_detail("quote", "it's \\ fine");
        if i.is_multiple_of(3) {
            event
                .with_ip("10.1.2.3".parse().ok())
                .with_user_agent("agent/1")
                .with_action("read")
                .with_request_id(format!("req-{i}"))
                .with_session_id("s-1")
                .with_duration_ms(12)
                .with_error_message("none")
        } else {
            event
        }
    }

    async fn bolt_sink(name: &str) -> Option<Neo4jAuditSink> {
        let config = mcp_core::bolt::testing::bolt_test_config(name)?;
        Some(Neo4jAuditSink::connect(config).await.expect("connect"))
    }

    #[tokio::test]
    async fn events_stored_in_the_key_value_layout_stay_readable_and_the_chain_continues() {
        let Some(sink) = bolt_sink("audit_legacy_layout").await else {
            return;
        };
        // Five events written the way 8d183ad wrote them.
        let legacy: Vec<AuditEvent> = (0..5).map(sample).collect();
        let rows = legacy_rows(&legacy);
        let query = sink.client.query(LEGACY_APPEND).param("rows", rows);
        sink.client.run(query).await.expect("legacy append");

        // A new sink on the same graph reads them, continues the chain and verifies it.
        let sink = Neo4jAuditSink::from_client(sink.client.clone())
            .await
            .unwrap();
        let newer: Vec<AuditEvent> = (5..8).map(sample).collect();
        let appended = sink.append(&newer).await.expect("append after legacy rows");
        assert_eq!(appended.seq, 8);
        let report = sink.verify_chain().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.checked, 8);
        let mut stored = sink.query(&AuditFilter::new().limit(100)).await.unwrap();
        stored.reverse();
        let expected: Vec<AuditEvent> = legacy.into_iter().chain(newer).collect();
        assert_eq!(stored.len(), expected.len());
        for (n, (got, want)) in stored.iter().zip(&expected).enumerate() {
            assert_eq!(got.seq, n as u64 + 1);
            assert_eq!(&got.event, want, "event {}", n + 1);
        }
        let user0 = sink
            .query(&AuditFilter::new().user("user-0"))
            .await
            .unwrap();
        assert_eq!(user0.len(), 4);
    }

    #[tokio::test]
    async fn durations_sent_as_text_are_stored_as_exact_integers() {
        let Some(sink) = bolt_sink("audit_durations").await else {
            return;
        };
        let max = u64::try_from(i64::MAX).unwrap();
        let durations = [0, 3, (1 << 53) + 1, max];
        let events: Vec<AuditEvent> = durations
            .iter()
            .map(|d| sample(1).with_duration_ms(*d))
            .collect();
        sink.append(&events).await.unwrap();
        let mut stored = sink.query(&AuditFilter::new()).await.unwrap();
        stored.reverse();
        let got: Vec<Option<u64>> = stored.iter().map(|s| s.event.duration_ms).collect();
        assert_eq!(got, durations.map(Some).to_vec());
        // An integer property, as the key-value layout stored it.
        let query = sink
            .client
            .query("MATCH (e:AuditEvent) WHERE e.duration_ms = $d RETURN count(e) AS n")
            .param("d", i64::MAX);
        let n: i64 = sink.client.read(query).await.unwrap()[0].get("n").unwrap();
        assert_eq!(n, 1);
        assert!(sink.verify_chain().await.unwrap().is_intact());
    }

    #[tokio::test]
    async fn a_stored_id_in_the_last_group_of_a_large_batch_is_a_conflict_and_stores_nothing() {
        let Some(sink) = bolt_sink("audit_duplicate_groups").await else {
            return;
        };
        let mut batch: Vec<AuditEvent> = (1..=1000).map(sample).collect();
        let mut ids: Vec<String> = batch.iter().map(|e| e.event_id.to_string()).collect();
        ids.sort_unstable();
        let groups = append::duplicate_checks(&ids, append::FALKORDB_BUDGET).len();
        assert!(groups >= 2, "{groups} duplicate checks on FalkorDB");
        // Ids are UUID v7 (time-ordered) and checked in sorted order: a later id sorts last.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let stored = sample(0);
        assert!(batch.iter().all(|e| e.event_id < stored.event_id));
        sink.append(std::slice::from_ref(&stored)).await.unwrap();
        batch.push(stored);
        let err = sink.append(&batch).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        let report = sink.verify_chain().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.checked, 1);
    }

    #[tokio::test]
    async fn a_part_whose_predecessor_is_missing_stores_nothing() {
        let Some(sink) = bolt_sink("audit_missing_link").await else {
            return;
        };
        sink.append(&(0..3).map(sample).collect::<Vec<_>>())
            .await
            .unwrap();
        // Remove the head behind the sink's back: its cached head (3) no longer exists.
        let delete = sink.client.query("MATCH (e:AuditEvent {seq: 3}) DELETE e");
        sink.client.run(delete).await.unwrap();
        let batch: Vec<AuditEvent> = (3..6).map(sample).collect();
        match sink.append(&batch).await {
            // FalkorDB: the part is refused and nothing of the batch is stored.
            Err(StoreError::Conflict(message)) => {
                assert!(message.contains("head moved"), "{message}");
                assert_eq!(sink.query(&AuditFilter::new()).await.unwrap().len(), 2);
                // The head was dropped and is read again: the retry links after event 2.
                assert_eq!(sink.append(&batch).await.unwrap().seq, 5);
            }
            // Neo4j re-reads the head after a conflict and links after event 2.
            Ok(head) => assert_eq!(head.seq, 5),
            Err(other) => panic!("{other:?}"),
        }
        let report = sink.verify_chain().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.checked, 5);
    }

    #[tokio::test]
    async fn the_append_query_refuses_a_first_seq_that_does_not_follow_the_stored_head() {
        let Some(sink) = bolt_sink("audit_guard").await else {
            return;
        };
        let head = sink.append(&[sample(0)]).await.unwrap();
        let event = sample(1);
        let details = canonical::map(&event.details);
        let hash = hash_canonical(&head.hash, &canonical::event_with_details(&event, &details));
        let text = EventText::new(&event, hash, details);
        let run = |s: u64, p: &str| {
            let after = ChainHead {
                seq: s - 1,
                hash: p.to_owned(),
            };
            let mut query = sink.client.query(APPEND);
            for (name, value) in append::params(std::slice::from_ref(&text), &after) {
                query = query.param(name, value);
            }
            query
        };
        // Only the event right after the stored head, with the head's hash, is written.
        let cases = [
            (3, head.hash.as_str(), 0),
            (2, crate::chain::GENESIS_HASH, 0),
            (2, head.hash.as_str(), 1),
        ];
        for (s, p, expected) in cases {
            let rows = sink.client.write(run(s, p)).await.unwrap();
            let n: i64 = rows[0].get("n").unwrap();
            assert_eq!(n, expected, "s = {s}, p = {p}");
        }
        let report = sink.verify_chain().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.checked, 2);
    }

    /// Reads every stored node's properties, in chain order.
    async fn stored_properties(sink: &Neo4jAuditSink) -> Vec<BoltType> {
        let query = sink
            .client
            .query("MATCH (e:AuditEvent) RETURN properties(e) AS p ORDER BY e.seq");
        let rows = sink.client.read(query).await.unwrap();
        rows.iter()
            .map(|row| row.get::<BoltType>("p").unwrap())
            .collect()
    }

    #[tokio::test]
    async fn the_compact_encoding_stores_exactly_the_key_value_layout() {
        let (Some(new), Some(old)) = (
            bolt_sink("audit_layout_new").await,
            bolt_sink("audit_layout_old").await,
        ) else {
            return;
        };
        // Optional fields absent and present, texts to escape, one text in several columns,
        // failures, and durations of every width.
        let mut events: Vec<AuditEvent> = (0..40).map(sample).collect();
        events.push(
            AuditEvent::new(crate::EventType::AuthFailure)
                .with_user("same")
                .with_resource("same")
                .with_action("same")
                .with_user_agent("ü€😀 'quoted' \\ back")
                .with_ip("::1".parse().ok())
                .with_duration_ms(u64::try_from(i64::MAX).unwrap())
                .with_error_message("it's \\ failed")
                .with_success(false),
        );
        events.push(AuditEvent::new(crate::EventType::DataRead).with_duration_ms(0));
        // Too large for the compact query: stored with the single-event query.
        events.push(
            AuditEvent::new(crate::EventType::DataWrite)
                .with_user("u")
                .with_detail("t", "x".repeat(3_100)),
        );
        events.push(sample(41));
        new.append(&events).await.unwrap();

        let rows = legacy_rows(&events);
        for chunk in rows.chunks(1) {
            let query = old
                .client
                .query(LEGACY_APPEND)
                .param("rows", chunk.to_vec());
            old.client.run(query).await.expect("legacy append");
        }
        let (got, want) = (stored_properties(&new).await, stored_properties(&old).await);
        assert_eq!(got.len(), events.len());
        for (n, (got, want)) in got.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "event {}", n + 1);
        }
        assert!(new.verify_chain().await.unwrap().is_intact());
    }
}
