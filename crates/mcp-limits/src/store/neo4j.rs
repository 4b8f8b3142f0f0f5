//! A [`CounterStore`] in Neo4j or FalkorDB over Bolt (feature `neo4j`): the counts every server
//! instance on the same database shares.
//!
//! Schema: one `(:McpLimitCounter {key, tat, count, start, locked_until, expires, touched})`
//! node per key, times in Unix milliseconds (integers: FalkorDB cannot return temporal values
//! over Bolt). `key` is unique (a constraint on Neo4j; on FalkorDB an index plus `MERGE`); on
//! Neo4j `expires` is indexed for [`CounterStore::purge_expired`] (not on FalkorDB, which
//! crashed with that index under concurrent purges).
//!
//! Each operation is one auto-commit query that applies the rules of the memory backend in
//! Cypher. Atomicity: every query first writes the node (`SET c.touched = $now`) and only then
//! reads the fields it decides on. On Neo4j that write takes the node's write lock, so a
//! concurrent operation on the same key waits and then reads the committed result (the way
//! Neo4j's documentation on lost updates prescribes); FalkorDB runs one write query at a time
//! per graph. The tests of this crate exercise FalkorDB only.
//!
//! The Bolt client retries a query that failed in transit, and a retried write may have been
//! applied already: a call can then count twice. That errs on the safe side (a limit reached
//! one call early), never the other.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::bolt::neo4rs::Row;
use mcp_core::bolt::{BoltClient, BoltConfig, BoltServer};

use super::{
    Admission, CounterStore, FailureLimit, PENDING_WAIT, Quota, Reservation, Reserved, StoreError,
    check_key, duration_ms, epoch_ms, millis,
};

const LABEL: &str = "McpLimitCounter";

const ACQUIRE: &str = "MERGE (c:McpLimitCounter {key: $key}) \
    ON CREATE SET c.tat = $now, c.count = 0, c.start = 0, c.locked_until = 0, c.expires = 0 \
    SET c.touched = $now \
    WITH c, CASE WHEN c.tat > $now THEN c.tat ELSE $now END + $interval AS next \
    WITH c, next, next - $now <= $horizon AS ok \
    SET c.tat = CASE WHEN ok THEN next ELSE c.tat END, \
        c.expires = CASE WHEN ok THEN next ELSE c.expires END \
    RETURN ok, next - $horizon - $now AS wait";

const RESERVE: &str = "MERGE (c:McpLimitCounter {key: $key}) \
    ON CREATE SET c.tat = 0, c.count = 0, c.start = $now, c.locked_until = 0, c.expires = 0 \
    SET c.touched = $now \
    WITH c, (($forget >= 0 AND c.start < $forget) \
        OR (c.locked_until <= $now AND $now - c.start >= $window)) AS renew \
    WITH c, CASE WHEN renew THEN 0 ELSE c.count END AS count, \
        CASE WHEN renew THEN $now ELSE c.start END AS start, \
        CASE WHEN renew THEN 0 ELSE c.locked_until END AS locked_until \
    WITH c, count, start, locked_until, locked_until > $now AS locked, count >= $max AS full \
    WITH c, start, locked_until, locked, full, \
        CASE WHEN locked OR full THEN count ELSE count + 1 END AS count \
    SET c.count = count, c.start = start, c.locked_until = locked_until, \
        c.expires = CASE WHEN start + $window > locked_until THEN start + $window \
            ELSE locked_until END \
    RETURN locked, full, start, locked_until";

const FAIL: &str = "MATCH (c:McpLimitCounter {key: $key}) \
    SET c.touched = $now \
    WITH c, (c.locked_until <= $now AND $now - c.start >= $window) AS over, \
        c.start <> $reserved AS moved \
    WITH c, CASE WHEN over THEN 1 WHEN moved THEN c.count + 1 ELSE c.count END AS count, \
        CASE WHEN over THEN $now ELSE c.start END AS start, \
        CASE WHEN over THEN 0 ELSE c.locked_until END AS locked_until \
    WITH c, count, start, locked_until, (count >= $max AND locked_until <= $now) AS lock \
    WITH c, count, start, lock, \
        CASE WHEN lock THEN $now + $window ELSE locked_until END AS locked_until \
    SET c.count = count, c.start = start, c.locked_until = locked_until, \
        c.expires = CASE WHEN start + $window > locked_until THEN start + $window \
            ELSE locked_until END \
    RETURN lock";

const RELEASE: &str = "MATCH (c:McpLimitCounter {key: $key}) \
    SET c.touched = $now \
    WITH c WHERE c.start = $reserved AND c.count > 0 \
    SET c.count = c.count - 1";

const REMEMBER: &str = "MERGE (c:McpLimitCounter {key: $key}) \
    ON CREATE SET c.tat = 0, c.count = 0, c.locked_until = 0 \
    SET c.touched = $now, c.start = $now, c.expires = $now + $ttl";

/// Counters as `(:McpLimitCounter)` nodes in a Bolt server (module docs).
#[derive(Clone, Debug)]
pub struct Neo4jCounterStore {
    client: BoltClient,
}

impl Neo4jCounterStore {
    /// Connects with `config` and creates the constraint and index if they are missing.
    pub async fn connect(config: BoltConfig) -> Result<Self, StoreError> {
        Self::from_client(BoltClient::connect(config)?).await
    }

    /// Uses an existing client (sharing its pool) and creates the schema if missing.
    pub async fn from_client(client: BoltClient) -> Result<Self, StoreError> {
        client.ensure_unique(LABEL, "key").await?;
        // FalkorDB 4.16 crashed (a Redis dict assertion, the whole server gone) when this
        // index existed and purges ran alongside other graphs' queries: on FalkorDB a purge
        // scans the label instead.
        if client.server() == BoltServer::Neo4j {
            client.ensure_index(LABEL, "expires").await?;
        }
        Ok(Self { client })
    }
}

fn flag(row: &Row, column: &str) -> Result<bool, StoreError> {
    row.get::<bool>(column)
        .map_err(|e| StoreError::backend(format!("unexpected `{column}` column"), e))
}

fn int(row: &Row, column: &str) -> Result<i64, StoreError> {
    row.get::<i64>(column)
        .map_err(|e| StoreError::backend(format!("unexpected `{column}` column"), e))
}

fn one_row(rows: Vec<Row>, what: &str) -> Result<Row, StoreError> {
    rows.into_iter()
        .next()
        .ok_or_else(|| StoreError::backend(what.to_owned(), NoRow))
}

#[derive(Debug, thiserror::Error)]
#[error("the query returned no row")]
struct NoRow;

#[async_trait]
impl CounterStore for Neo4jCounterStore {
    async fn acquire(
        &self,
        key: &str,
        quota: Quota,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        check_key(key)?;
        let query = self
            .client
            .query(ACQUIRE)
            .param("key", key)
            .param("now", epoch_ms(now))
            .param("interval", quota.interval_ms())
            .param("horizon", quota.horizon_ms());
        let row = one_row(self.client.write(query).await?, "acquire")?;
        if flag(&row, "ok")? {
            Ok(Admission::Allowed)
        } else {
            Ok(Admission::Wait(duration_ms(int(&row, "wait")?)))
        }
    }

    async fn reserve(
        &self,
        key: &str,
        limit: FailureLimit,
        forget_before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        check_key(key)?;
        let now = epoch_ms(now);
        let query = self
            .client
            .query(RESERVE)
            .param("key", key)
            .param("now", now)
            .param("window", millis(limit.window))
            .param("max", i64::from(limit.max))
            .param("forget", forget_before.map_or(-1, epoch_ms));
        let row = one_row(self.client.write(query).await?, "reserve")?;
        if flag(&row, "locked")? {
            let until = int(&row, "locked_until")?;
            return Ok(Reservation::Locked {
                wait: duration_ms(until - now),
            });
        }
        if flag(&row, "full")? {
            return Ok(Reservation::Full { wait: PENDING_WAIT });
        }
        Ok(Reservation::Reserved(Reserved::new(int(&row, "start")?)))
    }

    async fn fail(
        &self,
        key: &str,
        reserved: Reserved,
        limit: FailureLimit,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        check_key(key)?;
        let query = self
            .client
            .query(FAIL)
            .param("key", key)
            .param("now", epoch_ms(now))
            .param("window", millis(limit.window))
            .param("max", i64::from(limit.max))
            .param("reserved", reserved.window_start());
        match self.client.write(query).await?.first() {
            Some(row) => flag(row, "lock"),
            None => Ok(false),
        }
    }

    async fn release(
        &self,
        key: &str,
        reserved: Reserved,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        check_key(key)?;
        let query = self
            .client
            .query(RELEASE)
            .param("key", key)
            .param("now", epoch_ms(now))
            .param("reserved", reserved.window_start());
        self.client.run(query).await
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        let query = self
            .client
            .query("MATCH (c:McpLimitCounter {key: $key}) DELETE c")
            .param("key", key);
        self.client.run(query).await
    }

    async fn remember(
        &self,
        key: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        check_key(key)?;
        let query = self
            .client
            .query(REMEMBER)
            .param("key", key)
            .param("now", epoch_ms(now))
            .param("ttl", millis(ttl));
        self.client.run(query).await
    }

    async fn remembered(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        check_key(key)?;
        let query = self
            .client
            .query(
                "MATCH (c:McpLimitCounter {key: $key}) WHERE c.expires > $now \
                 RETURN count(c) AS n",
            )
            .param("key", key)
            .param("now", epoch_ms(now));
        let rows = self.client.read(query).await?;
        Ok(match rows.first() {
            Some(row) => int(row, "n")? > 0,
            None => false,
        })
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let query = self
            .client
            .query(
                "MATCH (c:McpLimitCounter) WHERE c.expires <= $now \
                 DELETE c RETURN count(*) AS n",
            )
            .param("now", epoch_ms(now));
        let rows = self.client.write(query).await?;
        Ok(match rows.first() {
            Some(row) => u64::try_from(int(row, "n")?).unwrap_or(0),
            None => 0,
        })
    }
}
