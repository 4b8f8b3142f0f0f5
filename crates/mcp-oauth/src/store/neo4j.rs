//! The store in Neo4j or FalkorDB over Bolt (feature `neo4j`).
//!
//! Schema: `(:OAuthClient {client_id, doc})`, `(:OAuthCode {code_hash, expires_at, doc,
//! redeemed_by})`, `(:OAuthGrant {grant_id, user_id, revoked, expires_at, doc})`,
//! `(:OAuthAccessToken {grant_id, token_id, expires_at})`, `(:OAuthRefreshToken {token_hash,
//! grant_id, expires_at, doc, redeemed_by})` and `(:OAuthConsent {user_id, client_id, doc})`.
//! `doc` is the record as JSON; times are Unix seconds (integers: FalkorDB cannot return
//! temporal values over Bolt). Keys are unique (constraints on Neo4j; on FalkorDB indexes
//! plus `MERGE`, which FalkorDB runs under its per-graph write lock).
//!
//! Every write is idempotent under the client's retries: an insert tags the node it creates
//! with a random nonce and reports a conflict only when the node carries another nonce, and
//! a redemption sets `redeemed_by = coalesce(redeemed_by, $nonce)` (Neo4j takes the write
//! lock before reading a property the `SET` depends on, per its documentation on lost
//! updates; FalkorDB serializes writes per graph), so exactly one redemption sees its own
//! nonce come back. FalkorDB refuses queries of about 4 KiB (see `mcp_core::bolt`), so a
//! record whose JSON is larger (a client with many long redirect URIs) is refused there
//! with [`StoreError::Invalid`].

use async_trait::async_trait;
use mcp_core::bolt::neo4rs::Row;
use mcp_core::bolt::{BoltClient, BoltConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    AccessTokenRef, ClientRecord, CodeRecord, ConsentRecord, GrantRecord, OAuthStore, Redemption,
    RefreshTokenRecord, StoreError, check_key, tombstone,
};
use crate::secret::random_token;

/// Keeps the authorization server's state as nodes in a Bolt server.
#[derive(Clone, Debug)]
pub struct Neo4jOAuthStore {
    client: BoltClient,
}

impl Neo4jOAuthStore {
    /// Connects with `config` and creates the constraints and indexes if they are missing.
    pub async fn connect(config: BoltConfig) -> Result<Self, StoreError> {
        Self::from_client(BoltClient::connect(config)?).await
    }

    /// Uses an existing client (sharing its pool) and creates the schema if missing.
    pub async fn from_client(client: BoltClient) -> Result<Self, StoreError> {
        client.ensure_unique("OAuthClient", "client_id").await?;
        client.ensure_unique("OAuthCode", "code_hash").await?;
        client.ensure_index("OAuthCode", "expires_at").await?;
        client.ensure_unique("OAuthGrant", "grant_id").await?;
        client.ensure_index("OAuthGrant", "user_id").await?;
        client.ensure_index("OAuthGrant", "expires_at").await?;
        client.ensure_index("OAuthAccessToken", "grant_id").await?;
        client
            .ensure_index("OAuthAccessToken", "expires_at")
            .await?;
        client
            .ensure_unique("OAuthRefreshToken", "token_hash")
            .await?;
        client.ensure_index("OAuthRefreshToken", "grant_id").await?;
        client
            .ensure_index("OAuthRefreshToken", "expires_at")
            .await?;
        client.ensure_index("OAuthConsent", "user_id").await?;
        Ok(Self { client })
    }

    /// Runs an insert that returns `created` and turns `false` into a conflict.
    async fn insert(
        &self,
        what: &str,
        query: mcp_core::bolt::neo4rs::Query,
    ) -> Result<(), StoreError> {
        let rows = self.client.write(query).await?;
        if bool_col(&rows, "created")? {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!("{what} already exists")))
        }
    }

    async fn redeem<T: DeserializeOwned>(
        &self,
        label: &str,
        key: &str,
        value: &str,
    ) -> Result<Redemption<T>, StoreError> {
        let nonce = random_token();
        let cypher = format!(
            "MATCH (n:{label} {{{key}: $key}}) \
             SET n.redeemed_by = coalesce(n.redeemed_by, $nonce) \
             RETURN n.redeemed_by = $nonce AS first, n.doc AS doc"
        );
        let query = self
            .client
            .query(&cypher)
            .param("key", value)
            .param("nonce", nonce);
        let rows = self.client.write(query).await?;
        let Some(row) = rows.first() else {
            return Ok(Redemption::Unknown);
        };
        let first = row
            .get::<bool>("first")
            .map_err(|e| StoreError::backend("unexpected column first", e))?;
        let record = decode(&string(row, "doc")?)?;
        Ok(if first {
            Redemption::First(record)
        } else {
            Redemption::Replayed(record)
        })
    }

    async fn count(&self, cypher: &str, cutoff: i64) -> Result<u64, StoreError> {
        let query = self.client.query(cypher).param("cut", cutoff);
        Ok(u64::try_from(int_col(&self.client.write(query).await?, "c")?).unwrap_or(0))
    }
}

fn encode<T: Serialize>(record: &T) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::backend("encode record", e))
}

fn decode<T: DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::backend("decode record", e))
}

fn string(row: &Row, column: &str) -> Result<String, StoreError> {
    row.get::<String>(column)
        .map_err(|e| StoreError::backend(format!("unexpected column {column}"), e))
}

fn int_col(rows: &[Row], column: &str) -> Result<i64, StoreError> {
    match rows.first() {
        Some(row) => row
            .get::<i64>(column)
            .map_err(|e| StoreError::backend(format!("unexpected column {column}"), e)),
        None => Ok(0),
    }
}

fn bool_col(rows: &[Row], column: &str) -> Result<bool, StoreError> {
    match rows.first() {
        Some(row) => row
            .get::<bool>(column)
            .map_err(|e| StoreError::backend(format!("unexpected column {column}"), e)),
        None => Err(StoreError::backend(
            "write returned no row",
            std::io::Error::other("no row"),
        )),
    }
}

fn docs<T: DeserializeOwned>(rows: &[Row]) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(|row| decode(&string(row, "doc")?))
        .collect()
}

fn grant_of(row: &Row) -> Result<GrantRecord, StoreError> {
    let mut grant: GrantRecord = decode(&string(row, "doc")?)?;
    grant.revoked = row
        .get::<bool>("revoked")
        .map_err(|e| StoreError::backend("unexpected column revoked", e))?;
    Ok(grant)
}

#[async_trait]
impl OAuthStore for Neo4jOAuthStore {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        check_key("client id", &client.client_id)?;
        let nonce = random_token();
        let query = self
            .client
            .query(
                "MERGE (c:OAuthClient {client_id: $id}) \
                 ON CREATE SET c.doc = $doc, c.nonce = $nonce \
                 RETURN coalesce(c.nonce = $nonce, false) AS created",
            )
            .param("id", client.client_id.as_str())
            .param("doc", encode(client)?)
            .param("nonce", nonce);
        self.insert("client", query).await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        check_key("client id", client_id)?;
        let query = self
            .client
            .query("MATCH (c:OAuthClient {client_id: $id}) RETURN c.doc AS doc")
            .param("id", client_id);
        Ok(docs(&self.client.read(query).await?)?.into_iter().next())
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        check_key("client id", client_id)?;
        let query = self
            .client
            .query("MATCH (c:OAuthClient {client_id: $id}) DELETE c RETURN count(*) AS c")
            .param("id", client_id);
        Ok(int_col(&self.client.write(query).await?, "c")? > 0)
    }

    async fn count_clients(&self) -> Result<u64, StoreError> {
        let query = self
            .client
            .query("MATCH (c:OAuthClient) RETURN count(c) AS c");
        Ok(u64::try_from(int_col(&self.client.read(query).await?, "c")?).unwrap_or(0))
    }

    async fn insert_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        check_key("code hash", &code.code_hash)?;
        let query = self
            .client
            .query(
                "MERGE (c:OAuthCode {code_hash: $hash}) \
                 ON CREATE SET c.doc = $doc, c.expires_at = $exp, c.nonce = $nonce \
                 RETURN coalesce(c.nonce = $nonce, false) AS created",
            )
            .param("hash", code.code_hash.as_str())
            .param("doc", encode(code)?)
            .param("exp", code.expires_at)
            .param("nonce", random_token());
        self.insert("code", query).await
    }

    async fn redeem_code(&self, code_hash: &str) -> Result<Redemption<CodeRecord>, StoreError> {
        check_key("code hash", code_hash)?;
        self.redeem("OAuthCode", "code_hash", code_hash).await
    }

    async fn insert_grant(&self, grant: &GrantRecord) -> Result<(), StoreError> {
        check_key("grant id", &grant.grant_id)?;
        let query = self
            .client
            .query(
                "MERGE (g:OAuthGrant {grant_id: $id}) \
                 ON CREATE SET g.doc = $doc, g.user_id = $user, g.revoked = $revoked, \
                 g.expires_at = $exp, g.nonce = $nonce \
                 RETURN coalesce(g.nonce = $nonce, false) AS created",
            )
            .param("id", grant.grant_id.as_str())
            .param("doc", encode(grant)?)
            .param("user", grant.user_id.as_str())
            .param("revoked", grant.revoked)
            .param("exp", grant.expires_at)
            .param("nonce", random_token());
        self.insert("grant", query).await
    }

    async fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        check_key("grant id", grant_id)?;
        let query = self
            .client
            .query("MATCH (g:OAuthGrant {grant_id: $id}) RETURN g.revoked AS revoked, g.doc AS doc")
            .param("id", grant_id);
        self.client
            .read(query)
            .await?
            .first()
            .map(grant_of)
            .transpose()
    }

    async fn grants_of(&self, user_id: &str) -> Result<Vec<GrantRecord>, StoreError> {
        check_key("user id", user_id)?;
        let query = self
            .client
            .query(
                "MATCH (g:OAuthGrant {user_id: $user}) \
                 RETURN g.grant_id AS id, g.revoked AS revoked, g.doc AS doc ORDER BY id",
            )
            .param("user", user_id);
        self.client
            .read(query)
            .await?
            .iter()
            .map(grant_of)
            .collect()
    }

    async fn revoke_grant(
        &self,
        grant_id: &str,
        now: i64,
    ) -> Result<Vec<AccessTokenRef>, StoreError> {
        check_key("grant id", grant_id)?;
        let marker = tombstone(grant_id, now);
        // First mark the grant revoked, then read its tokens (see add_access_token).
        let mark = self
            .client
            .query(
                "MERGE (g:OAuthGrant {grant_id: $id}) \
                 ON CREATE SET g.doc = $doc, g.user_id = '', g.expires_at = $exp \
                 SET g.revoked = true",
            )
            .param("id", grant_id)
            .param("doc", encode(&marker)?)
            .param("exp", marker.expires_at);
        self.client.run(mark).await?;
        let tokens = self
            .client
            .query(
                "MATCH (t:OAuthAccessToken {grant_id: $id}) \
                 RETURN t.token_id AS id, t.expires_at AS exp ORDER BY id",
            )
            .param("id", grant_id);
        self.client
            .write(tokens)
            .await?
            .iter()
            .map(|row| {
                let exp = row
                    .get::<i64>("exp")
                    .map_err(|e| StoreError::backend("unexpected column exp", e))?;
                Ok(AccessTokenRef::new(string(row, "id")?, exp))
            })
            .collect()
    }

    async fn add_access_token(
        &self,
        grant_id: &str,
        token: &AccessTokenRef,
    ) -> Result<bool, StoreError> {
        check_key("grant id", grant_id)?;
        // First record the token, then read the grant (see revoke_grant).
        let add = self
            .client
            .query(
                "MERGE (t:OAuthAccessToken {grant_id: $id, token_id: $token}) \
                 SET t.expires_at = $exp",
            )
            .param("id", grant_id)
            .param("token", token.id.as_str())
            .param("exp", token.expires_at);
        self.client.run(add).await?;
        let state = self
            .client
            .query("MATCH (g:OAuthGrant {grant_id: $id}) RETURN g.revoked AS revoked")
            .param("id", grant_id);
        let rows = self.client.write(state).await?;
        Ok(match rows.first() {
            Some(row) => !row
                .get::<bool>("revoked")
                .map_err(|e| StoreError::backend("unexpected column revoked", e))?,
            None => false,
        })
    }

    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError> {
        check_key("refresh token hash", &token.token_hash)?;
        let query = self
            .client
            .query(
                "MERGE (t:OAuthRefreshToken {token_hash: $hash}) \
                 ON CREATE SET t.doc = $doc, t.grant_id = $grant, t.expires_at = $exp, \
                 t.nonce = $nonce \
                 RETURN coalesce(t.nonce = $nonce, false) AS created",
            )
            .param("hash", token.token_hash.as_str())
            .param("doc", encode(token)?)
            .param("grant", token.grant_id.as_str())
            .param("exp", token.expires_at)
            .param("nonce", random_token());
        self.insert("refresh token", query).await
    }

    async fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        check_key("refresh token hash", token_hash)?;
        let query = self
            .client
            .query("MATCH (t:OAuthRefreshToken {token_hash: $hash}) RETURN t.doc AS doc")
            .param("hash", token_hash);
        Ok(docs(&self.client.read(query).await?)?.into_iter().next())
    }

    async fn redeem_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Redemption<RefreshTokenRecord>, StoreError> {
        check_key("refresh token hash", token_hash)?;
        self.redeem("OAuthRefreshToken", "token_hash", token_hash)
            .await
    }

    async fn put_consent(&self, consent: &ConsentRecord) -> Result<(), StoreError> {
        check_key("user id", &consent.user_id)?;
        check_key("client id", &consent.client_id)?;
        let query = self
            .client
            .query("MERGE (c:OAuthConsent {user_id: $user, client_id: $client}) SET c.doc = $doc")
            .param("user", consent.user_id.as_str())
            .param("client", consent.client_id.as_str())
            .param("doc", encode(consent)?);
        self.client.run(query).await
    }

    async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        check_key("user id", user_id)?;
        check_key("client id", client_id)?;
        let query = self
            .client
            .query(
                "MATCH (c:OAuthConsent {user_id: $user, client_id: $client}) RETURN c.doc AS doc",
            )
            .param("user", user_id)
            .param("client", client_id);
        Ok(docs(&self.client.read(query).await?)?.into_iter().next())
    }

    async fn consents_of(&self, user_id: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        check_key("user id", user_id)?;
        let query = self
            .client
            .query(
                "MATCH (c:OAuthConsent {user_id: $user}) \
                 RETURN c.client_id AS client, c.doc AS doc ORDER BY client",
            )
            .param("user", user_id);
        docs(&self.client.read(query).await?)
    }

    async fn delete_consent(&self, user_id: &str, client_id: &str) -> Result<bool, StoreError> {
        check_key("user id", user_id)?;
        check_key("client id", client_id)?;
        let query = self
            .client
            .query(
                "MATCH (c:OAuthConsent {user_id: $user, client_id: $client}) \
                 DELETE c RETURN count(*) AS c",
            )
            .param("user", user_id)
            .param("client", client_id);
        Ok(int_col(&self.client.write(query).await?, "c")? > 0)
    }

    async fn purge_expired(&self, cutoff: i64) -> Result<u64, StoreError> {
        let mut removed = 0;
        removed += self
            .count(
                "MATCH (c:OAuthCode) WHERE c.expires_at <= $cut DELETE c RETURN count(*) AS c",
                cutoff,
            )
            .await?;
        removed += self
            .count(
                "MATCH (g:OAuthGrant) WHERE g.expires_at <= $cut \
                 MATCH (t:OAuthRefreshToken {grant_id: g.grant_id}) \
                 DELETE t RETURN count(*) AS c",
                cutoff,
            )
            .await?;
        removed += self
            .count(
                "MATCH (t:OAuthRefreshToken) WHERE t.expires_at <= $cut \
                 DELETE t RETURN count(*) AS c",
                cutoff,
            )
            .await?;
        removed += self
            .count(
                "MATCH (g:OAuthGrant) WHERE g.expires_at <= $cut \
                 MATCH (t:OAuthAccessToken {grant_id: g.grant_id}) \
                 DELETE t RETURN count(*) AS c",
                cutoff,
            )
            .await?;
        removed += self
            .count(
                "MATCH (t:OAuthAccessToken) WHERE t.expires_at <= $cut \
                 DELETE t RETURN count(*) AS c",
                cutoff,
            )
            .await?;
        removed += self
            .count(
                "MATCH (g:OAuthGrant) WHERE g.expires_at <= $cut DELETE g RETURN count(*) AS c",
                cutoff,
            )
            .await?;
        Ok(removed)
    }
}
