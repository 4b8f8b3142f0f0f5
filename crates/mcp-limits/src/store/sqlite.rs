//! A [`CounterStore`] in an embedded SQLite file (feature `sqlite`): the counts survive a
//! restart, and processes on one host that open the same file share them.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::sqlite::{Schema, SharedConnection, map_error};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::state::{self, Entry, Write};
use super::{
    Admission, CounterStore, FailureLimit, Quota, Reservation, Reserved, StoreError, check_key,
    epoch_ms, millis,
};

/// The counter store's schema; `PRAGMA user_version` records how many steps ran.
const SCHEMA: Schema = Schema {
    name: "counter",
    migrations: &["CREATE TABLE counters (
             key          TEXT    NOT NULL PRIMARY KEY,
             tat          INTEGER NOT NULL,
             count        INTEGER NOT NULL,
             start        INTEGER NOT NULL,
             locked_until INTEGER NOT NULL,
             expires      INTEGER NOT NULL
         ) STRICT;
         CREATE INDEX counters_by_expiry ON counters (expires);"],
};

/// Counters in a SQLite database file (WAL mode). Each operation is one `IMMEDIATE`
/// transaction (read the key's row, apply the rule, write it back), so operations on a key are
/// atomic across connections and processes.
///
/// rusqlite is blocking, so every call runs on Tokio's blocking pool with the one connection
/// behind a mutex.
#[derive(Clone, Debug)]
pub struct SqliteCounterStore {
    db: SharedConnection,
}

impl SqliteCounterStore {
    /// Opens (creating if needed) the database at `path`, turns on WAL and migrates the schema.
    /// A database written by a newer schema version is refused.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = SharedConnection::open(path, &SCHEMA).await?;
        Ok(Self { db })
    }

    /// Runs `f` with the connection on the blocking pool; `what` names the call in errors.
    async fn with_conn<T, F>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.db
            .run(move |conn| f(conn).map_err(|e| map_error(format!("sqlite {what} failed"), e)))
            .await
    }

    /// Runs one operation on `key`'s row in one transaction.
    async fn update<T, F>(&self, what: &'static str, key: &str, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Option<Entry>) -> (T, Write) + Send + 'static,
    {
        check_key(key)?;
        let key = key.to_owned();
        self.with_conn(what, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let entry = tx
                .query_row(
                    "SELECT tat, count, start, locked_until, expires FROM counters WHERE key = ?1",
                    params![key],
                    |r| {
                        Ok(Entry {
                            tat: r.get(0)?,
                            count: r.get(1)?,
                            start: r.get(2)?,
                            locked_until: r.get(3)?,
                            expires: r.get(4)?,
                        })
                    },
                )
                .optional()?;
            let (answer, write) = op(entry);
            match write {
                Write::Keep => {}
                Write::Delete => {
                    tx.execute("DELETE FROM counters WHERE key = ?1", params![key])?;
                }
                Write::Put(e) => {
                    tx.execute(
                        "INSERT INTO counters (key, tat, count, start, locked_until, expires)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (key) DO UPDATE SET tat = excluded.tat,
                           count = excluded.count, start = excluded.start,
                           locked_until = excluded.locked_until, expires = excluded.expires",
                        params![key, e.tat, e.count, e.start, e.locked_until, e.expires],
                    )?;
                }
            }
            tx.commit()?;
            Ok(answer)
        })
        .await
    }
}

#[async_trait]
impl CounterStore for SqliteCounterStore {
    async fn acquire(
        &self,
        key: &str,
        quota: Quota,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        let now = epoch_ms(now);
        self.update("acquire", key, move |e| state::acquire(e, quota, now))
            .await
    }

    async fn reserve(
        &self,
        key: &str,
        limit: FailureLimit,
        forget_before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        let now = epoch_ms(now);
        let forget = forget_before.map(epoch_ms);
        self.update("reserve", key, move |e| {
            state::reserve(e, limit, forget, now)
        })
        .await
    }

    async fn fail(
        &self,
        key: &str,
        reserved: Reserved,
        limit: FailureLimit,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = epoch_ms(now);
        self.update("fail", key, move |e| state::fail(e, reserved, limit, now))
            .await
    }

    async fn release(
        &self,
        key: &str,
        reserved: Reserved,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update("release", key, move |e| ((), state::release(e, reserved)))
            .await
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.update("reset", key, |_| ((), Write::Delete)).await
    }

    async fn remember(
        &self,
        key: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let entry = state::remember(millis(ttl), epoch_ms(now));
        self.update("remember", key, move |_| ((), Write::Put(entry)))
            .await
    }

    async fn remembered(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let now = epoch_ms(now);
        self.update("remembered", key, move |e| {
            (state::remembered(e, now), Write::Keep)
        })
        .await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let now = epoch_ms(now);
        self.with_conn("purge", move |conn| {
            conn.execute("DELETE FROM counters WHERE expires <= ?1", params![now])
                .map(|n| n as u64)
        })
        .await
    }
}
