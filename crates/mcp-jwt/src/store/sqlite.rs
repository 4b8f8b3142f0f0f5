//! A revocation store in an embedded SQLite file (feature `sqlite`).

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::sqlite::{Schema, SharedConnection, map_error};
use rusqlite::{Connection, OptionalExtension, params};

use super::{RevocationStore, StoreError, check_jti};

/// The revocation store's schema; `PRAGMA user_version` records how many steps ran.
const SCHEMA: Schema = Schema {
    name: "revocation",
    migrations: &["CREATE TABLE revoked_tokens (
             jti        TEXT    NOT NULL PRIMARY KEY,
             expires_at INTEGER NOT NULL
         ) STRICT;
         CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);"],
};

/// Keeps revocations in a SQLite database file (WAL mode), so they survive restarts.
///
/// rusqlite is blocking, so every call runs on Tokio's blocking pool with the one
/// connection behind a mutex.
#[derive(Clone, Debug)]
pub struct SqliteRevocationStore {
    db: SharedConnection,
}

impl SqliteRevocationStore {
    /// Opens (creating if needed) the database at `path`, turns on WAL and migrates the
    /// schema. A database written by a newer schema version is refused.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = SharedConnection::open(path, &SCHEMA).await?;
        Ok(Self { db })
    }

    /// Runs `f` with the connection on the blocking pool; `what` names the call in errors.
    async fn with_conn<T, F>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.db
            .run(move |conn| f(conn).map_err(|e| map_error(format!("sqlite {what} failed"), e)))
            .await
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
