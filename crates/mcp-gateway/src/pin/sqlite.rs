//! Pins in an embedded SQLite file (feature `sqlite`).

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::StoreError;
use mcp_core::sqlite::{Schema, SharedConnection, map_error as map_err};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    PinRecord, PinStore, PinnedDefinition, validate_namespace, validate_record, validate_tool_name,
};

/// The pin store's schema; `PRAGMA user_version` holds how many steps ran.
const SCHEMA: Schema = Schema {
    name: "pin",
    migrations: &["CREATE TABLE tool_pins (
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
) STRICT;"],
};

const COLUMNS: &str = "namespace, tool, approved_hash, approved_text, approved_at, approved_by, \
     pending_hash, pending_text, pending_since, rejected_hash, rejected_text, version";

/// Pins in a SQLite database (WAL mode), on tokio's blocking pool.
#[derive(Clone, Debug)]
pub struct SqlitePinStore {
    db: SharedConnection,
}

impl SqlitePinStore {
    /// Opens (or creates) the database at `path`, enables WAL and runs migrations. A database
    /// of a newer schema is refused.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = SharedConnection::open(path, &SCHEMA).await?;
        Ok(Self { db })
    }

    /// A private in-memory database, for tests that need no file.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let db = SharedConnection::open_in_memory(&SCHEMA).await?;
        Ok(Self { db })
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.db.path()
    }

    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.db.run(f).await
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
