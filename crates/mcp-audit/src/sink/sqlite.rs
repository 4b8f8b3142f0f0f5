//! [`SqliteAuditSink`]: the default durable backend, an embedded SQLite file (feature `sqlite`).
//!
//! One table, `audit_events`, one row per event, keyed by `seq`. Every event field has its own
//! column (`timestamp` as fixed-width RFC 3339 text with nine fractional digits, so text order
//! is time order; `details` as canonical JSON text), next to `prev_hash` and `hash`.
//! [`AuditSink::verify_chain`] rebuilds each event from its columns and re-hashes it, so an
//! edit to any column is detected. The schema is migrated at open (tracked in
//! `PRAGMA user_version`); the database runs in WAL mode with indexes on `event_type`,
//! `user_id`, `timestamp` and `request_id`.
//!
//! Appends take SQLite's write lock (`BEGIN IMMEDIATE`) before reading the chain head, so even
//! several processes or sinks on the same file keep one valid chain. All SQLite work runs on
//! tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use mcp_core::StoreError;
use mcp_core::sqlite::{self, Schema};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior};
use serde_json::{Map, Value};

use crate::canonical;
use crate::chain::{ChainHead, ChainReport, ChainVerifier, hash_canonical};
use crate::event::{AuditEvent, timestamp_format};
use crate::sink::{AuditFilter, AuditSink, StoredEvent, validate};

/// The audit log's schema; `PRAGMA user_version` records how many migrations ran.
const SCHEMA: Schema = Schema {
    name: "audit",
    migrations: &[
        "
    CREATE TABLE audit_events (
        seq           INTEGER PRIMARY KEY,
        event_id      TEXT    NOT NULL UNIQUE,
        event_type    TEXT    NOT NULL,
        timestamp     TEXT    NOT NULL,
        user_id       TEXT,
        ip_address    TEXT,
        user_agent    TEXT,
        resource      TEXT,
        action        TEXT,
        success       INTEGER NOT NULL,
        details       TEXT    NOT NULL,
        request_id    TEXT,
        session_id    TEXT,
        duration_ms   INTEGER,
        error_message TEXT,
        prev_hash     TEXT    NOT NULL,
        hash          TEXT    NOT NULL
    );
    CREATE INDEX audit_events_event_type ON audit_events (event_type, seq);
    CREATE INDEX audit_events_user_id ON audit_events (user_id, seq);
    CREATE INDEX audit_events_timestamp ON audit_events (timestamp);
",
        "
    CREATE INDEX audit_events_request_id ON audit_events (request_id, seq);
",
    ],
};

const COLUMNS: &str = "seq, event_id, event_type, timestamp, user_id, ip_address, user_agent, \
    resource, action, success, details, request_id, session_id, duration_ms, error_message, \
    prev_hash, hash";

const INSERT: &str = "INSERT INTO audit_events (seq, event_id, event_type, timestamp, user_id, \
    ip_address, user_agent, resource, action, success, details, request_id, session_id, \
    duration_ms, error_message, prev_hash, hash) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// WAL pages the appends write (estimated, see [`Checkpoints`]) between two checkpoints,
/// which run on a connection of their own, off the appends' path.
const CHECKPOINT_EVERY_PAGES: u64 = 4_000;

/// WAL pages after which the writer connection checkpoints by itself, inside an append (SQLite's
/// automatic checkpoint): only when the background checkpoints fall this far behind, and to
/// rewind the WAL, which a checkpoint beside a busy writer cannot do.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 16_000;

/// An [`AuditSink`] stored in a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteAuditSink {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    checkpointer: Mutex<Connection>,
    checkpoints: Checkpoints,
}

/// When to checkpoint in the background. A checkpoint copies the WAL's pages into the database
/// file and syncs it, which takes long enough (tens of milliseconds) to hold up appends if the
/// writer did it; `PASSIVE` checkpoints on another connection run beside the appends instead.
/// The pages an append writes are estimated (each transaction rewrites the last page of the
/// table and its five indexes; rows add about a fifth of a page each).
#[derive(Debug, Default)]
struct Checkpoints {
    /// Estimated WAL pages written since the last checkpoint started.
    pages: AtomicU64,
    /// A checkpoint has started and not ended (see [`StartedCheckpoint`]).
    running: AtomicBool,
}

impl Checkpoints {
    /// Counts an append of `events` events; true when a checkpoint should start now.
    fn appended(&self, events: usize) -> bool {
        let pages = 8 + u64::try_from(events).unwrap_or(u64::MAX) / 4;
        let total = self.pages.fetch_add(pages, Ordering::Relaxed) + pages;
        if total < CHECKPOINT_EVERY_PAGES || self.running.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.pages.store(0, Ordering::Relaxed);
        true
    }
}

/// A background checkpoint that [`Checkpoints::appended`] started. Dropping it ends it, so one
/// that never ran (the blocking pool refuses work while the runtime shuts down) or that
/// panicked does not keep the next ones from starting.
struct StartedCheckpoint(Arc<Inner>);

impl StartedCheckpoint {
    fn run(self) {
        let inner = &self.0;
        let result =
            lock(&inner.checkpointer)
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
        if let Err(e) = result {
            tracing::warn!(target: "audit", path = %inner.path.display(), "audit database checkpoint failed (the next one retries): {e}");
        }
    }
}

impl Drop for StartedCheckpoint {
    fn drop(&mut self) {
        self.0.checkpoints.running.store(false, Ordering::Release);
    }
}

impl SqliteAuditSink {
    /// Opens (creating if needed) the database file at `path`, switches it to WAL mode and
    /// applies pending migrations. An in-memory database (`:memory:`) is refused as
    /// [`StoreError::Invalid`]: use [`MemoryAuditSink`](crate::MemoryAuditSink) instead.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            return Err(StoreError::Invalid(
                "SqliteAuditSink needs a database file path; use MemoryAuditSink for an in-memory log"
                    .to_owned(),
            ));
        }
        let inner = sqlite::blocking(move || -> Result<Inner, StoreError> {
            let mut writer = open_connection(&path)?;
            sqlite::configure_file(&writer)?;
            // Checkpoints run in the background (see `Checkpoints`); the writer checkpoints
            // only as a backstop. Durability is the same (a commit is in the WAL either way).
            writer
                .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
                .map_err(map_err("set wal_autocheckpoint"))?;
            sqlite::migrate(&mut writer, &SCHEMA)?;
            let reader = open_connection(&path)?;
            let checkpointer = open_connection(&path)?;
            Ok(Inner {
                path,
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
                checkpointer: Mutex::new(checkpointer),
                checkpoints: Checkpoints::default(),
            })
        })
        .await?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The database file this sink writes to.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        sqlite::blocking(move || work(&inner)).await
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::unavailable_from(format!("open {}", path.display()), e))?;
    conn.busy_timeout(sqlite::BUSY_TIMEOUT)
        .map_err(map_err("set busy timeout"))?;
    Ok(conn)
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A rusqlite connection stays usable after a panic elsewhere; open transactions roll back
    // when their guard drops.
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Maps a rusqlite error at the backend's edge: busy, locked and I/O trouble are transient.
fn map_err(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |err| match err.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure,
        ) => StoreError::unavailable_from(format!("sqlite: {context}"), err),
        Some(ErrorCode::ConstraintViolation) => {
            StoreError::Conflict(format!("sqlite: {context}: {err}"))
        }
        _ => StoreError::backend(format!("sqlite: {context}"), err),
    }
}

/// An event's row, every column owned, made before the write lock (serializing is the costly
/// part of an append).
struct PreparedRow {
    canonical: String,
    details: String,
    event_id: String,
    event_type: &'static str,
    timestamp: String,
    user_id: Option<String>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    resource: Option<String>,
    action: Option<String>,
    success: bool,
    request_id: Option<String>,
    session_id: Option<String>,
    duration_ms: Option<i64>,
    error_message: Option<String>,
}

fn prepare(event: &AuditEvent) -> PreparedRow {
    let details = canonical::map(&event.details);
    let event_id = event.event_id.hyphenated().to_string();
    let timestamp = timestamp_format::format(&event.timestamp);
    let ip_address = event.ip_address.map(|ip| ip.to_string());
    let canonical = canonical::as_stored(
        event,
        canonical::StoredText {
            event_id: &event_id,
            timestamp: &timestamp,
            ip_address: ip_address.as_deref(),
            details: &details,
        },
    );
    PreparedRow {
        canonical,
        details,
        event_id,
        event_type: event.event_type.as_str(),
        timestamp,
        user_id: event.user_id.clone(),
        ip_address,
        user_agent: event.user_agent.clone(),
        resource: event.resource.clone(),
        action: event.action.clone(),
        success: event.success,
        request_id: event.request_id.clone(),
        session_id: event.session_id.clone(),
        // `validate` has refused durations above i64::MAX.
        duration_ms: event
            .duration_ms
            .map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
        error_message: event.error_message.clone(),
    }
}

fn read_head(conn: &Connection) -> Result<ChainHead, StoreError> {
    conn.prepare_cached("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .map_err(map_err("prepare chain head"))?
        .query_row([], |r| {
            Ok(ChainHead {
                seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                hash: r.get(1)?,
            })
        })
        .optional()
        .map_err(map_err("read chain head"))
        .map(|head| head.unwrap_or_else(ChainHead::genesis))
}

fn append_rows(conn: &mut Connection, rows: &[PreparedRow]) -> Result<ChainHead, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err("begin append"))?;
    let mut head = read_head(&tx)?;
    {
        let mut insert = tx
            .prepare_cached(INSERT)
            .map_err(map_err("prepare insert"))?;
        for row in rows {
            let seq = head.seq + 1;
            let hash = hash_canonical(&head.hash, &row.canonical);
            let seq_sql = i64::try_from(seq).map_err(|_| {
                StoreError::Invalid(format!("audit chain is full at seq {}", head.seq))
            })?;
            insert
                .execute(rusqlite::params![
                    seq_sql,
                    row.event_id,
                    row.event_type,
                    row.timestamp,
                    row.user_id,
                    row.ip_address,
                    row.user_agent,
                    row.resource,
                    row.action,
                    row.success,
                    row.details,
                    row.request_id,
                    row.session_id,
                    row.duration_ms,
                    row.error_message,
                    head.hash,
                    hash,
                ])
                .map_err(map_err("insert event"))?;
            head = ChainHead { seq, hash };
        }
    }
    tx.commit().map_err(map_err("commit append"))?;
    Ok(head)
}

/// A stored row read back: the chain fields and the event, or why the event is unreadable.
struct RawRow {
    seq: u64,
    prev_hash: String,
    hash: String,
    event_id: Option<uuid::Uuid>,
    event: Result<AuditEvent, String>,
    /// The stored texts the chain hashes as they are (see [`canonical::StoredText`]).
    event_id_text: String,
    timestamp_text: Option<String>,
    ip_address_text: Option<String>,
    details_text: Option<String>,
}

impl RawRow {
    /// The text the chain hashes for this row, when its event could be read.
    fn hashed_text(&self, event: &AuditEvent) -> String {
        canonical::as_stored(
            event,
            canonical::StoredText {
                event_id: &self.event_id_text,
                timestamp: self.timestamp_text.as_deref().unwrap_or_default(),
                ip_address: self.ip_address_text.as_deref(),
                details: self.details_text.as_deref().unwrap_or_default(),
            },
        )
    }
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    let seq: i64 = row.get("seq")?;
    let event_id: String = row.get("event_id")?;
    let parsed_id = uuid::Uuid::parse_str(&event_id).ok();
    let text = |name: &str| row.get::<_, Option<String>>(name).ok().flatten();
    Ok(RawRow {
        seq: u64::try_from(seq).unwrap_or(0),
        prev_hash: row.get("prev_hash")?,
        hash: row.get("hash")?,
        event_id: parsed_id,
        event: decode_event(row, &event_id),
        timestamp_text: text("timestamp"),
        ip_address_text: text("ip_address"),
        details_text: text("details"),
        event_id_text: event_id,
    })
}

fn decode_event(row: &Row<'_>, event_id: &str) -> Result<AuditEvent, String> {
    let text = |name: &str| -> Result<Option<String>, String> {
        row.get::<_, Option<String>>(name)
            .map_err(|e| format!("column {name}: {e}"))
    };
    let required = |name: &str| -> Result<String, String> {
        text(name)?.ok_or_else(|| format!("column {name} is NULL"))
    };
    let event_type = required("event_type")?;
    let timestamp = required("timestamp")?;
    let ip_address = text("ip_address")?
        .map(|ip| {
            ip.parse()
                .map_err(|e| format!("column ip_address {ip:?}: {e}"))
        })
        .transpose()?;
    let success: i64 = row
        .get("success")
        .map_err(|e| format!("column success: {e}"))?;
    let details = required("details")?;
    let details: Map<String, Value> =
        serde_json::from_str(&details).map_err(|e| format!("column details: {e}"))?;
    let duration_ms: Option<i64> = row
        .get("duration_ms")
        .map_err(|e| format!("column duration_ms: {e}"))?;
    Ok(AuditEvent {
        event_id: event_id
            .parse()
            .map_err(|e| format!("column event_id {event_id:?}: {e}"))?,
        event_type: event_type
            .parse()
            .map_err(|e: crate::Error| e.to_string())?,
        timestamp: timestamp_format::parse(&timestamp)
            .map_err(|e| format!("column timestamp {timestamp:?}: {e}"))?,
        user_id: text("user_id")?,
        ip_address,
        user_agent: text("user_agent")?,
        resource: text("resource")?,
        action: text("action")?,
        success: match success {
            0 => false,
            1 => true,
            other => return Err(format!("column success is {other}, not 0 or 1")),
        },
        details,
        request_id: text("request_id")?,
        session_id: text("session_id")?,
        duration_ms: duration_ms
            .map(|d| u64::try_from(d).map_err(|_| format!("column duration_ms is negative: {d}")))
            .transpose()?,
        error_message: text("error_message")?,
    })
}

fn run_query(conn: &Connection, filter: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError> {
    let limit = filter.effective_limit();
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut sql = format!("SELECT {COLUMNS} FROM audit_events");
    let mut conditions: Vec<&str> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    if let Some(t) = filter.event_type {
        conditions.push("event_type = ?");
        params.push(SqlValue::Text(t.as_str().to_owned()));
    }
    if let Some(user) = &filter.user_id {
        conditions.push("user_id = ?");
        params.push(SqlValue::Text(user.clone()));
    }
    if let Some(since) = &filter.since {
        conditions.push("timestamp >= ?");
        params.push(SqlValue::Text(timestamp_format::format(since)));
    }
    if let Some(until) = &filter.until {
        conditions.push("timestamp < ?");
        params.push(SqlValue::Text(timestamp_format::format(until)));
    }
    if let Some(success) = filter.success {
        conditions.push("success = ?");
        params.push(SqlValue::Integer(i64::from(success)));
    }
    if let Some(request_id) = &filter.request_id {
        conditions.push("request_id = ?");
        params.push(SqlValue::Text(request_id.clone()));
    }
    if let Some(before) = filter.before_seq {
        conditions.push("seq < ?");
        params.push(SqlValue::Integer(i64::try_from(before).unwrap_or(i64::MAX)));
    }
    if let Some(after) = filter.after_seq {
        conditions.push("seq > ?");
        params.push(SqlValue::Integer(i64::try_from(after).unwrap_or(i64::MAX)));
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    params.push(SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));

    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(map_err("prepare query"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params), read_row)
        .map_err(map_err("run query"))?;
    let mut out = Vec::new();
    for row in rows {
        let row = row.map_err(map_err("read row"))?;
        let event = row.event.map_err(|message| StoreError::Backend {
            message: format!("audit row seq {} is unreadable: {message}", row.seq),
            source: None,
        })?;
        // The text comparison above is the instant comparison for canonical rows; a row whose
        // stored text is not canonical (which `verify_chain` reports) is judged by its instant.
        if !filter.matches(&event) {
            continue;
        }
        out.push(StoredEvent {
            seq: row.seq,
            prev_hash: row.prev_hash,
            hash: row.hash,
            event,
        });
    }
    Ok(out)
}

fn run_verify(conn: &mut Connection) -> Result<ChainReport, StoreError> {
    // One read transaction: a consistent snapshot even while appends continue.
    let tx = conn.transaction().map_err(map_err("begin verify"))?;
    let mut verifier = ChainVerifier::new();
    {
        let mut stmt = tx
            .prepare(&format!("SELECT {COLUMNS} FROM audit_events ORDER BY seq"))
            .map_err(map_err("prepare verify"))?;
        let mut rows = stmt.query([]).map_err(map_err("run verify"))?;
        while let Some(row) = rows.next().map_err(map_err("read row"))? {
            let row = read_row(row).map_err(map_err("read row"))?;
            let intact = match &row.event {
                Ok(event) => verifier.check_text(
                    row.seq,
                    &row.prev_hash,
                    &row.hash,
                    event.event_id,
                    &row.hashed_text(event),
                ),
                Err(message) => {
                    verifier.unreadable(row.seq, row.event_id, message.clone());
                    false
                }
            };
            if !intact {
                break;
            }
        }
    }
    tx.finish().map_err(map_err("end verify"))?;
    Ok(verifier.finish())
}

#[async_trait]
impl AuditSink for SqliteAuditSink {
    async fn append(&self, events: &[AuditEvent]) -> Result<ChainHead, StoreError> {
        validate(events)?;
        if events.is_empty() {
            return self.blocking(|inner| read_head(&lock(&inner.writer))).await;
        }
        // Rows that own their columns, so the events need no copy for the blocking pool.
        let rows: Vec<PreparedRow> = events.iter().map(prepare).collect();
        let head = self
            .blocking(move |inner| append_rows(&mut lock(&inner.writer), &rows))
            .await?;
        if self.inner.checkpoints.appended(events.len()) {
            let started = StartedCheckpoint(Arc::clone(&self.inner));
            // Not awaited: the append is done; the checkpoint runs beside the next ones.
            drop(tokio::task::spawn_blocking(move || started.run()));
        }
        Ok(head)
    }

    async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let filter = filter.clone();
        self.blocking(move |inner| run_query(&lock(&inner.reader), &filter))
            .await
    }

    async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.blocking(|inner| run_verify(&mut lock(&inner.reader)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_checkpoint_that_never_ran_does_not_block_the_next_ones() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SqliteAuditSink::open(dir.path().join("audit.db"))
            .await
            .unwrap();
        let checkpoints = &sink.inner.checkpoints;
        let many = usize::try_from(CHECKPOINT_EVERY_PAGES * 4).unwrap();
        assert!(
            checkpoints.appended(many),
            "enough pages start a checkpoint"
        );
        let started = StartedCheckpoint(Arc::clone(&sink.inner));
        assert!(
            !checkpoints.appended(many),
            "a second checkpoint started while one runs"
        );
        // What the blocking pool does with a task while the runtime shuts down: drops it.
        drop(started);
        assert!(
            checkpoints.appended(many),
            "the dropped checkpoint kept the next one from starting"
        );
        StartedCheckpoint(Arc::clone(&sink.inner)).run();
        assert!(checkpoints.appended(many), "a finished checkpoint ends");
    }
}
