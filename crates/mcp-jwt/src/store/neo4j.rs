//! A revocation store in Neo4j or FalkorDB over Bolt (feature `neo4j`).
//!
//! Schema: one `(:RevokedToken {jti, expires_at})` node per revoked token, `expires_at` in
//! Unix seconds (an integer: FalkorDB cannot return temporal values over Bolt). `jti` is
//! unique (a constraint on Neo4j; on FalkorDB an index plus `MERGE`, which FalkorDB runs
//! under its per-graph write lock) and `expires_at` is indexed for `purge_expired`.
//!
//! A `jti` longer than [`MAX_VERBATIM_JTI`] bytes is stored as `sha256:<hex digest>`: the store
//! only ever compares ids, and FalkorDB's Bolt endpoint cannot take a query of 4 KiB (see
//! `mcp_core::bolt`). Ids of that length do not occur in tokens this platform issues.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::bolt::{BoltClient, BoltConfig};

use super::{RevocationStore, StoreError, check_jti};

/// Longest `jti` stored as is; longer ones are stored as their SHA-256 digest.
pub const MAX_VERBATIM_JTI: usize = 512;

/// The value of the `jti` property for `jti`.
fn jti_key(jti: &str) -> String {
    if jti.len() <= MAX_VERBATIM_JTI {
        jti.to_owned()
    } else {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(jti.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

/// Keeps revocations as `(:RevokedToken)` nodes in a Bolt server.
#[derive(Clone, Debug)]
pub struct Neo4jRevocationStore {
    client: BoltClient,
}

impl Neo4jRevocationStore {
    /// Connects with `config` and creates the constraint and indexes if they are missing.
    pub async fn connect(config: BoltConfig) -> Result<Self, StoreError> {
        Self::from_client(BoltClient::connect(config)?).await
    }

    /// Uses an existing client (sharing its pool) and creates the schema if missing.
    pub async fn from_client(client: BoltClient) -> Result<Self, StoreError> {
        client.ensure_unique("RevokedToken", "jti").await?;
        client.ensure_index("RevokedToken", "expires_at").await?;
        Ok(Self { client })
    }
}

fn count(rows: &[mcp_core::bolt::neo4rs::Row]) -> Result<i64, StoreError> {
    match rows.first() {
        Some(row) => row
            .get::<i64>("c")
            .map_err(|e| StoreError::backend("unexpected count column", e)),
        None => Ok(0),
    }
}

#[async_trait]
impl RevocationStore for Neo4jRevocationStore {
    async fn revoke(&self, jti: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        check_jti(jti)?;
        let query = self
            .client
            .query(
                "MERGE (t:RevokedToken {jti: $jti}) \
                 SET t.expires_at = CASE WHEN t.expires_at IS NULL OR t.expires_at < $exp \
                 THEN $exp ELSE t.expires_at END",
            )
            .param("jti", jti_key(jti))
            .param("exp", expires_at.timestamp());
        self.client.run(query).await
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        check_jti(jti)?;
        let query = self
            .client
            .query("MATCH (t:RevokedToken {jti: $jti}) RETURN count(t) AS c")
            .param("jti", jti_key(jti));
        Ok(count(&self.client.read(query).await?)? > 0)
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let query = self
            .client
            .query(
                "MATCH (t:RevokedToken) WHERE t.expires_at <= $now \
                 DELETE t RETURN count(*) AS c",
            )
            .param("now", now.timestamp());
        Ok(u64::try_from(count(&self.client.write(query).await?)?).unwrap_or(0))
    }
}
