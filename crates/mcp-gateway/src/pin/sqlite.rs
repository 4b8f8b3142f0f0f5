//! Pins in an embedded SQLite file (feature `sqlite`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::StoreError;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};

use super::{
    PinRecord, PinStore, PinnedDefinition, validate_namespace, validate_record, validate_tool_name,
};

/// Schema steps; `PRAGMA user_version` holds how many ran.
const MIGRATIONS: &[&str] = &["CREATE TABLE tool_pins (
    namespace     TEXT    NOT NULL,
    tool          TEXT    NOT NULL,
    approved_hash TEXT    NOT NULL,
    approved_text TEXT    NOT NULL,
    approved_at   INTEGER NOT NULL,
    approved_by   TEXT,
    pending_hash  TEXT,
    pending_text  TEXT,
    pending_since INTEGER,
    rejected_hash TEXT,
    rejected_text TEXT,
    version       INTEGER NOT NULL,
    PRIMARY KEY (namespace, tool)
) STRICT;"];

/// How long a call waits for another process's lock before reporting
/// [`StoreError::Unavailable`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const COLUMNS: &str = "namespace, tool, approved_hash, approved_text, approved_at, approved_by, \
     pending_hash, pending_text, pending_since, rejected_hash, rejected_text, version";

/// Pins in a SQLite database (WAL mode), on tokio's blocking pool.
#[derive(Clone)]
pub struct SqlitePinStore {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
}

impl fmt::Debug for SqlitePinStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlitePinStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqlitePinStore {
    /// Opens (or creates) the database at `path`, enables WAL and runs migrations. A database
    /// of a newer schema is refused.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let for_open = path.clone();
        let conn = blocking(move || {
            let conn = Connection::open(&for_open)
                .map_err(|e| map_err(&format!("cannot open {}", for_open.display()), e))?;
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
                .map_err(|e| map_err("cannot enable WAL", e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::backend(
                    "cannot enable WAL",
                    format!("SQLite kept journal_mode={mode}"),
                ));
            }
            prepare(conn)
        })
        .await?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: Some(path),
        })
    }

    /// A private in-memory database, for tests that need no file.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let conn = blocking(|| {
            let conn = Connection::open_in_memory()
                .map_err(|e| map_err("cannot open in-memory database", e))?;
            prepare(conn)
        })
        .await?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
        })
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
    }
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::backend("SQLite task did not complete", e))?
}

fn prepare(mut conn: Connection) -> Result<Connection, StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| map_err("cannot set busy timeout", e))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| map_err("cannot set synchronous mode", e))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| map_err("cannot start migration", e))?;
    let applied: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| map_err("cannot read schema version", e))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::backend(
            "pin database is newer than this build",
            format!(
                "schema version {applied}, this build knows {}",
                MIGRATIONS.len()
            ),
        ));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(step)
            .map_err(|e| map_err(&format!("migration {} failed", i + 1), e))?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)
        .map_err(|e| map_err("cannot record schema version", e))?;
    tx.commit()
        .map_err(|e| map_err("cannot commit migration", e))?;
    Ok(conn)
}

fn map_err(context: &str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::unavailable_from(context, e)
        }
        _ => StoreError::backend(context, e),
    }
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Integer,
            "timestamp out of range".into(),
        )
    })
}

fn definition(hash: Option<String>, text: Option<String>) -> Option<PinnedDefinition> {
    Some(PinnedDefinition {
        hash: hash?,
        text: text?,
    })
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<PinRecord> {
    Ok(PinRecord {
        namespace: row.get(0)?,
        tool: row.get(1)?,
        approved: PinnedDefinition {
            hash: row.get(2)?,
            text: row.get(3)?,
        },
        approved_at: from_millis(row.get(4)?)?,
        approved_by: row.get(5)?,
        pending: definition(row.get(6)?, row.get(7)?),
        pending_since: row.get::<_, Option<i64>>(8)?.map(from_millis).transpose()?,
        rejected: definition(row.get(9)?, row.get(10)?),
        version: u64::try_from(row.get::<_, i64>(11)?).unwrap_or(0),
    })
}

/// The record's version as an SQLite integer.
fn version_param(record: &PinRecord) -> Result<i64, StoreError> {
    i64::try_from(record.version).map_err(|_| StoreError::Invalid("version out of range".into()))
}

#[async_trait]
impl PinStore for SqlitePinStore {
    async fn get(&self, namespace: &str, tool: &str) -> Result<Option<PinRecord>, StoreError> {
        validate_namespace(namespace)?;
        validate_tool_name(tool)?;
        let (ns, tool) = (namespace.to_owned(), tool.to_owned());
        self.with_conn(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tool_pins WHERE namespace = ?1 AND tool = ?2"
            ))
            .and_then(|mut stmt| stmt.query_row(params![ns, tool], read_row).optional())
            .map_err(|e| map_err("cannot read pin", e))
        })
        .await
    }

    async fn list(&self, namespace: Option<&str>) -> Result<Vec<PinRecord>, StoreError> {
        if let Some(ns) = namespace {
            validate_namespace(ns)?;
        }
        let ns = namespace.map(str::to_owned);
        self.with_conn(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tool_pins WHERE ?1 IS NULL OR namespace = ?1 \
                 ORDER BY namespace, tool"
            ))
            .and_then(|mut stmt| stmt.query_map(params![ns], read_row)?.collect())
            .map_err(|e| map_err("cannot list pins", e))
        })
        .await
    }

    async fn insert(&self, record: &PinRecord) -> Result<bool, StoreError> {
        validate_record(record)?;
        let version = version_param(record)?;
        let r = record.clone();
        self.with_conn(move |conn| {
            conn.prepare_cached(&format!(
                "INSERT OR IGNORE INTO tool_pins ({COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))
            .and_then(|mut stmt| {
                stmt.execute(params![
                    r.namespace,
                    r.tool,
                    r.approved.hash,
                    r.approved.text,
                    millis(r.approved_at),
                    r.approved_by,
                    r.pending.as_ref().map(|d| &d.hash),
                    r.pending.as_ref().map(|d| &d.text),
                    r.pending_since.map(millis),
                    r.rejected.as_ref().map(|d| &d.hash),
                    r.rejected.as_ref().map(|d| &d.text),
                    version,
                ])
            })
            .map(|changed| changed == 1)
            .map_err(|e| map_err("cannot insert pin", e))
        })
        .await
    }

    async fn update(&self, record: &PinRecord, expected_version: u64) -> Result<bool, StoreError> {
        validate_record(record)?;
        let version = version_param(record)?;
        let Ok(expected) = i64::try_from(expected_version) else {
            return Ok(false);
        };
        let r = record.clone();
        self.with_conn(move |conn| {
            conn.prepare_cached(
                "UPDATE tool_pins SET approved_hash = ?3, approved_text = ?4, approved_at = ?5, \
                 approved_by = ?6, pending_hash = ?7, pending_text = ?8, pending_since = ?9, \
                 rejected_hash = ?10, rejected_text = ?11, version = ?12 \
                 WHERE namespace = ?1 AND tool = ?2 AND version = ?13",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    r.namespace,
                    r.tool,
                    r.approved.hash,
                    r.approved.text,
                    millis(r.approved_at),
                    r.approved_by,
                    r.pending.as_ref().map(|d| &d.hash),
                    r.pending.as_ref().map(|d| &d.text),
                    r.pending_since.map(millis),
                    r.rejected.as_ref().map(|d| &d.hash),
                    r.rejected.as_ref().map(|d| &d.text),
                    version,
                    expected,
                ])
            })
            .map(|changed| changed == 1)
            .map_err(|e| map_err("cannot update pin", e))
        })
        .await
    }

    async fn remove(&self, namespace: &str, tool: &str) -> Result<bool, StoreError> {
        validate_namespace(namespace)?;
        validate_tool_name(tool)?;
        let (ns, tool) = (namespace.to_owned(), tool.to_owned());
        self.with_conn(move |conn| {
            conn.prepare_cached("DELETE FROM tool_pins WHERE namespace = ?1 AND tool = ?2")
                .and_then(|mut stmt| stmt.execute(params![ns, tool]))
                .map(|changed| changed == 1)
                .map_err(|e| map_err("cannot remove pin", e))
        })
        .await
    }
}
