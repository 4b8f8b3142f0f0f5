//! A revocation store in an embedded SQLite file (feature `sqlite`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use super::{RevocationStore, StoreError, check_jti};

/// The schema version this code writes, kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

/// Keeps revocations in a SQLite database file (WAL mode), so they survive restarts.
///
/// rusqlite is blocking, so every call runs on Tokio's blocking pool with the one
/// connection behind a mutex.
#[derive(Clone)]
pub struct SqliteRevocationStore {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for SqliteRevocationStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRevocationStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteRevocationStore {
    /// Opens (creating if needed) the database at `path`, turns on WAL and migrates the
    /// schema. A database written by a newer schema version is refused.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        let for_open = path.clone();
        let conn = tokio::task::spawn_blocking(move || open_blocking(&for_open))
            .await
            .map_err(|e| StoreError::backend("sqlite open task failed", e))??;
        tracing::debug!(path = %path.display(), "opened sqlite revocation store");
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&conn).map_err(|e| map_error(what, e))
        })
        .await
        .map_err(|e| StoreError::backend(format!("sqlite {what} task failed"), e))?
    }
}

fn open_blocking(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path).map_err(|e| map_error("open", e))?;
    configure(&conn).map_err(|e| map_error("configure", e))?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "sqlite revocation store could not switch to WAL");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| map_error("migrate", e))?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| map_error("migrate", e))?;
    match version {
        0 => {
            tx.execute_batch(
                "CREATE TABLE revoked_tokens (
                     jti        TEXT    NOT NULL PRIMARY KEY,
                     expires_at INTEGER NOT NULL
                 ) STRICT;
                 CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);",
            )
            .map_err(|e| map_error("migrate", e))?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(|e| map_error("migrate", e))?;
        }
        SCHEMA_VERSION => {}
        newer => {
            return Err(StoreError::Invalid(format!(
                "revocation database has schema version {newer}; this build knows up to \
                 {SCHEMA_VERSION}"
            )));
        }
    }
    tx.commit().map_err(|e| map_error("migrate", e))
}

/// Busy or locked databases may succeed on retry; everything else will not.
fn map_error(what: &str, err: rusqlite::Error) -> StoreError {
    let transient = matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    if transient {
        StoreError::unavailable_from(format!("sqlite {what}: database busy"), err)
    } else {
        StoreError::backend(format!("sqlite {what} failed"), err)
    }
}

#[async_trait]
impl RevocationStore for SqliteRevocationStore {
    async fn revoke(&self, jti: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        check_jti(jti)?;
        let jti = jti.to_owned();
        let expires_at = expires_at.timestamp();
        self.with_conn("revoke", move |conn| {
            conn.execute(
                "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2)
                 ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
                params![jti, expires_at],
            )
            .map(drop)
        })
        .await
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let jti = jti.to_owned();
        self.with_conn("is_revoked", move |conn| {
            conn.query_row(
                "SELECT 1 FROM revoked_tokens WHERE jti = ?1",
                params![jti],
                |_| Ok(()),
            )
            .optional()
            .map(|row| row.is_some())
        })
        .await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let now = now.timestamp();
        let removed = self
            .with_conn("purge_expired", move |conn| {
                conn.execute(
                    "DELETE FROM revoked_tokens WHERE expires_at <= ?1",
                    params![now],
                )
            })
            .await?;
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }
}
