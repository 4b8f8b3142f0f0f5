//! The store in an embedded SQLite file (feature `sqlite`).
//!
//! Each record is kept as JSON next to the columns that are looked up, compared or purged
//! (hash or id, redemption count, expiry, revoked flag). Redemption is one
//! `UPDATE … SET uses = uses + 1 … RETURNING`, so it is atomic.

use std::path::Path;

use async_trait::async_trait;
use mcp_core::sqlite::{self, Schema, SharedConnection};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    AccessTokenRef, ClientRecord, CodeRecord, ConsentRecord, GrantRecord, OAuthStore, Redemption,
    RefreshTokenRecord, StoreError, check_key, tombstone,
};

/// The store's schema; `PRAGMA user_version` records how many steps ran.
const SCHEMA: Schema = Schema {
    name: "oauth",
    migrations: &[TABLES],
};

const TABLES: &str = "
CREATE TABLE oauth_clients (
    client_id TEXT NOT NULL PRIMARY KEY,
    doc       TEXT NOT NULL
) STRICT;
CREATE TABLE oauth_codes (
    code_hash  TEXT    NOT NULL PRIMARY KEY,
    uses       INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL,
    doc        TEXT    NOT NULL
) STRICT;
CREATE INDEX oauth_codes_by_expiry ON oauth_codes (expires_at);
CREATE TABLE oauth_grants (
    grant_id   TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    revoked    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    doc        TEXT    NOT NULL
) STRICT;
CREATE INDEX oauth_grants_by_user ON oauth_grants (user_id);
CREATE INDEX oauth_grants_by_expiry ON oauth_grants (expires_at);
CREATE TABLE oauth_access_tokens (
    grant_id   TEXT    NOT NULL,
    token_id   TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (grant_id, token_id)
) STRICT;
CREATE INDEX oauth_access_tokens_by_expiry ON oauth_access_tokens (expires_at);
CREATE TABLE oauth_refresh_tokens (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    grant_id   TEXT    NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL,
    doc        TEXT    NOT NULL
) STRICT;
CREATE INDEX oauth_refresh_tokens_by_grant ON oauth_refresh_tokens (grant_id);
CREATE INDEX oauth_refresh_tokens_by_expiry ON oauth_refresh_tokens (expires_at);
CREATE TABLE oauth_consents (
    user_id   TEXT NOT NULL,
    client_id TEXT NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;
";

/// Keeps the authorization server's state in a SQLite database file (WAL mode).
///
/// rusqlite is blocking, so every call runs on Tokio's blocking pool with the one connection
/// behind a mutex.
#[derive(Clone, Debug)]
pub struct SqliteOAuthStore {
    db: SharedConnection,
}

/// A failure inside a blocking call: SQLite's, or a record that does not decode.
enum Failure {
    Sqlite(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl SqliteOAuthStore {
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
        F: FnOnce(&mut Connection) -> Result<T, Failure> + Send + 'static,
    {
        self.db
            .run(move |conn| {
                f(conn).map_err(|failure| match failure {
                    Failure::Sqlite(e) => map_error(what, e),
                    Failure::Store(e) => e,
                })
            })
            .await
    }
}

/// A uniqueness violation is a conflict; the rest as [`sqlite::map_error`] maps it.
fn map_error(what: &str, err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => {
            StoreError::Conflict(format!("{what}: the record already exists"))
        }
        _ => sqlite::map_error(format!("sqlite {what} failed"), err),
    }
}

fn to_doc<T: Serialize>(record: &T) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::backend("encode record", e))
}

fn from_doc<T: DeserializeOwned>(doc: &str) -> Result<T, Failure> {
    serde_json::from_str(doc).map_err(|e| Failure::Store(StoreError::backend("decode record", e)))
}

fn redemption<T: DeserializeOwned>(row: Option<(i64, String)>) -> Result<Redemption<T>, Failure> {
    Ok(match row {
        None => Redemption::Unknown,
        Some((1, doc)) => Redemption::First(from_doc(&doc)?),
        Some((_, doc)) => Redemption::Replayed(from_doc(&doc)?),
    })
}

fn grant_from_row(revoked: i64, doc: &str) -> Result<GrantRecord, Failure> {
    let mut grant: GrantRecord = from_doc(doc)?;
    grant.revoked = revoked != 0;
    Ok(grant)
}

#[async_trait]
impl OAuthStore for SqliteOAuthStore {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        check_key("client id", &client.client_id)?;
        let (id, doc) = (client.client_id.clone(), to_doc(client)?);
        self.with_conn("insert_client", move |conn| {
            conn.execute(
                "INSERT INTO oauth_clients (client_id, doc) VALUES (?1, ?2)",
                params![id, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let id = client_id.to_owned();
        self.with_conn("client", move |conn| {
            let doc: Option<String> = conn
                .query_row(
                    "SELECT doc FROM oauth_clients WHERE client_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            doc.map(|d| from_doc(&d)).transpose()
        })
        .await
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let id = client_id.to_owned();
        self.with_conn("delete_client", move |conn| {
            Ok(conn.execute(
                "DELETE FROM oauth_clients WHERE client_id = ?1",
                params![id],
            )? > 0)
        })
        .await
    }

    async fn count_clients(&self) -> Result<u64, StoreError> {
        self.with_conn("count_clients", |conn| {
            let n: i64 = conn.query_row("SELECT count(*) FROM oauth_clients", [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn insert_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        check_key("code hash", &code.code_hash)?;
        let (hash, exp, doc) = (code.code_hash.clone(), code.expires_at, to_doc(code)?);
        self.with_conn("insert_code", move |conn| {
            conn.execute(
                "INSERT INTO oauth_codes (code_hash, expires_at, doc) VALUES (?1, ?2, ?3)",
                params![hash, exp, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn redeem_code(&self, code_hash: &str) -> Result<Redemption<CodeRecord>, StoreError> {
        let hash = code_hash.to_owned();
        self.with_conn("redeem_code", move |conn| {
            let row = conn
                .query_row(
                    "UPDATE oauth_codes SET uses = uses + 1 WHERE code_hash = ?1 RETURNING uses, doc",
                    params![hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            redemption(row)
        })
        .await
    }

    async fn insert_grant(&self, grant: &GrantRecord) -> Result<(), StoreError> {
        check_key("grant id", &grant.grant_id)?;
        let doc = to_doc(grant)?;
        let (id, user, revoked, exp) = (
            grant.grant_id.clone(),
            grant.user_id.clone(),
            i64::from(grant.revoked),
            grant.expires_at,
        );
        self.with_conn("insert_grant", move |conn| {
            conn.execute(
                "INSERT INTO oauth_grants (grant_id, user_id, revoked, expires_at, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, user, revoked, exp, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        let id = grant_id.to_owned();
        self.with_conn("grant", move |conn| {
            let row: Option<(i64, String)> = conn
                .query_row(
                    "SELECT revoked, doc FROM oauth_grants WHERE grant_id = ?1",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            row.map(|(revoked, doc)| grant_from_row(revoked, &doc))
                .transpose()
        })
        .await
    }

    async fn grants_of(&self, user_id: &str) -> Result<Vec<GrantRecord>, StoreError> {
        check_key("user id", user_id)?;
        let user = user_id.to_owned();
        self.with_conn("grants_of", move |conn| {
            let mut stmt = conn.prepare(
                "SELECT revoked, doc FROM oauth_grants WHERE user_id = ?1 ORDER BY grant_id",
            )?;
            let rows = stmt.query_map(params![user], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (revoked, doc) = row?;
                out.push(grant_from_row(revoked, &doc)?);
            }
            Ok(out)
        })
        .await
    }

    async fn revoke_grant(
        &self,
        grant_id: &str,
        now: i64,
    ) -> Result<Vec<AccessTokenRef>, StoreError> {
        check_key("grant id", grant_id)?;
        let marker = tombstone(grant_id, now);
        let doc = to_doc(&marker)?;
        let (id, exp) = (grant_id.to_owned(), marker.expires_at);
        self.with_conn("revoke_grant", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO oauth_grants (grant_id, user_id, revoked, expires_at, doc)
                 VALUES (?1, '', 1, ?2, ?3)
                 ON CONFLICT (grant_id) DO UPDATE SET revoked = 1",
                params![id, exp, doc],
            )?;
            let tokens = {
                let mut stmt = tx.prepare(
                    "SELECT token_id, expires_at FROM oauth_access_tokens
                     WHERE grant_id = ?1 ORDER BY token_id",
                )?;
                let rows = stmt.query_map(params![id], |r| {
                    Ok(AccessTokenRef::new(r.get::<_, String>(0)?, r.get(1)?))
                })?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            tx.commit()?;
            Ok(tokens)
        })
        .await
    }

    async fn add_access_token(
        &self,
        grant_id: &str,
        token: &AccessTokenRef,
    ) -> Result<bool, StoreError> {
        check_key("grant id", grant_id)?;
        let (id, token_id, exp) = (grant_id.to_owned(), token.id.clone(), token.expires_at);
        self.with_conn("add_access_token", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO oauth_access_tokens (grant_id, token_id, expires_at)
                 VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![id, token_id, exp],
            )?;
            let revoked: Option<i64> = tx
                .query_row(
                    "SELECT revoked FROM oauth_grants WHERE grant_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            tx.commit()?;
            Ok(revoked == Some(0))
        })
        .await
    }

    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError> {
        check_key("refresh token hash", &token.token_hash)?;
        let doc = to_doc(token)?;
        let (hash, grant, exp) = (
            token.token_hash.clone(),
            token.grant_id.clone(),
            token.expires_at,
        );
        self.with_conn("insert_refresh_token", move |conn| {
            conn.execute(
                "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, expires_at, doc)
                 VALUES (?1, ?2, ?3, ?4)",
                params![hash, grant, exp, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let hash = token_hash.to_owned();
        self.with_conn("refresh_token", move |conn| {
            let doc: Option<String> = conn
                .query_row(
                    "SELECT doc FROM oauth_refresh_tokens WHERE token_hash = ?1",
                    params![hash],
                    |r| r.get(0),
                )
                .optional()?;
            doc.map(|d| from_doc(&d)).transpose()
        })
        .await
    }

    async fn redeem_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Redemption<RefreshTokenRecord>, StoreError> {
        let hash = token_hash.to_owned();
        self.with_conn("redeem_refresh_token", move |conn| {
            let row = conn
                .query_row(
                    "UPDATE oauth_refresh_tokens SET uses = uses + 1 WHERE token_hash = ?1
                     RETURNING uses, doc",
                    params![hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            redemption(row)
        })
        .await
    }

    async fn put_consent(&self, consent: &ConsentRecord) -> Result<(), StoreError> {
        check_key("user id", &consent.user_id)?;
        check_key("client id", &consent.client_id)?;
        let doc = to_doc(consent)?;
        let (user, client) = (consent.user_id.clone(), consent.client_id.clone());
        self.with_conn("put_consent", move |conn| {
            conn.execute(
                "INSERT INTO oauth_consents (user_id, client_id, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id, client_id) DO UPDATE SET doc = excluded.doc",
                params![user, client, doc],
            )?;
            Ok(())
        })
        .await
    }

    async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        let (user, client) = (user_id.to_owned(), client_id.to_owned());
        self.with_conn("consent", move |conn| {
            let doc: Option<String> = conn
                .query_row(
                    "SELECT doc FROM oauth_consents WHERE user_id = ?1 AND client_id = ?2",
                    params![user, client],
                    |r| r.get(0),
                )
                .optional()?;
            doc.map(|d| from_doc(&d)).transpose()
        })
        .await
    }

    async fn consents_of(&self, user_id: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        let user = user_id.to_owned();
        self.with_conn("consents_of", move |conn| {
            let mut stmt = conn
                .prepare("SELECT doc FROM oauth_consents WHERE user_id = ?1 ORDER BY client_id")?;
            let rows = stmt.query_map(params![user], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for doc in rows {
                out.push(from_doc(&doc?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn delete_consent(&self, user_id: &str, client_id: &str) -> Result<bool, StoreError> {
        let (user, client) = (user_id.to_owned(), client_id.to_owned());
        self.with_conn("delete_consent", move |conn| {
            Ok(conn.execute(
                "DELETE FROM oauth_consents WHERE user_id = ?1 AND client_id = ?2",
                params![user, client],
            )? > 0)
        })
        .await
    }

    async fn purge_expired(&self, cutoff: i64) -> Result<u64, StoreError> {
        self.with_conn("purge_expired", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut removed = 0usize;
            removed += tx.execute(
                "DELETE FROM oauth_codes WHERE expires_at <= ?1",
                params![cutoff],
            )?;
            removed += tx.execute(
                "DELETE FROM oauth_refresh_tokens WHERE expires_at <= ?1
                 OR grant_id IN (SELECT grant_id FROM oauth_grants WHERE expires_at <= ?1)",
                params![cutoff],
            )?;
            removed += tx.execute(
                "DELETE FROM oauth_access_tokens WHERE expires_at <= ?1
                 OR grant_id IN (SELECT grant_id FROM oauth_grants WHERE expires_at <= ?1)",
                params![cutoff],
            )?;
            removed += tx.execute(
                "DELETE FROM oauth_grants WHERE expires_at <= ?1",
                params![cutoff],
            )?;
            tx.commit()?;
            Ok(removed as u64)
        })
        .await
    }
}
