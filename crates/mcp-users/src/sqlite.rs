//! Users in a SQLite file.
use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::StoreError;
use mcp_core::sqlite::{self, Schema, SharedConnection};
use rusqlite::{Connection, OptionalExtension, params};

use super::{User, UserStore};

/// A [`UserStore`] in one SQLite file (WAL mode); calls run on blocking threads.
#[derive(Clone, Debug)]
pub struct SqliteUserStore {
    db: SharedConnection,
}

/// The user store's schema. Step 1 creates the table only if it is missing: files written
/// before the schema was versioned have it at version 0; [`add_missing_columns`] then brings
/// their columns up to date.
const SCHEMA: Schema = Schema {
    name: "user",
    migrations: &["CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        password_hash TEXT NOT NULL
    );"],
};

fn backend(e: rusqlite::Error) -> StoreError {
    sqlite::map_error("user database error", e)
}

const COLUMNS: &str =
    "id, username, disabled, created_at, password_hash, tokens_valid_from, unlocked_at";

/// Columns added after the first schema, with their SQL type (added at open when missing).
const ADDED_COLUMNS: [(&str, &str); 2] =
    [("tokens_valid_from", "INTEGER"), ("unlocked_at", "TEXT")];

/// The SQL of [`super::next_tokens_valid_from`], with `?N` the second after now.
fn next_valid_from_sql(now_param: &str) -> String {
    format!("MAX(COALESCE(tokens_valid_from + 1, {now_param}), {now_param})")
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// RFC 3339 with nanoseconds, the stored form of the session marks.
fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn row_to_user(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let created: String = row.get(3)?;
    let mark = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(row
            .get::<_, Option<String>>(i)?
            .as_deref()
            .and_then(parse_time))
    };
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        disabled: row.get(2)?,
        created_at: parse_time(&created).unwrap_or_default(),
        password_hash: row.get(4)?,
        tokens_valid_from: row.get(5)?,
        unlocked_at: mark(6)?,
    })
}

/// Adds the columns of [`ADDED_COLUMNS`] that a file from an older build lacks.
fn add_missing_columns(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info('users')")
        .map_err(backend)?;
    let existing: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    for (name, kind) in ADDED_COLUMNS {
        if !existing.iter().any(|e| e == name) {
            conn.execute_batch(&format!("ALTER TABLE users ADD COLUMN {name} {kind}"))
                .map_err(backend)?;
        }
    }
    Ok(())
}

impl SqliteUserStore {
    /// Opens (creating if needed) the database at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let db = SharedConnection::open(path, &SCHEMA).await?;
        db.run(|conn| add_missing_columns(conn)).await?;
        Ok(Self { db })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.db.run(move |conn| f(conn)).await
    }
}

impl SqliteUserStore {
    /// Sets the time column `column` (`unlocked_at`) of user `id` to now.
    async fn set_mark(&self, id: &str, column: &'static str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.with(move |c| {
            let n = c
                .execute(
                    &format!("UPDATE users SET {column} = ?1 WHERE id = ?2"),
                    params![format_time(Utc::now()), id],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("user {id}")));
            }
            Ok(())
        })
        .await
    }
}

fn one(conn: &Connection, sql: &str, arg: &str) -> Result<Option<User>, StoreError> {
    conn.query_row(sql, params![arg], row_to_user)
        .optional()
        .map_err(backend)
}

#[async_trait]
impl UserStore for SqliteUserStore {
    async fn create(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        let user = User::new(username, password_hash);
        let u = user.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO users (id, username, disabled, created_at, password_hash) VALUES (?1, ?2, 0, ?3, ?4)",
                params![u.id, u.username, u.created_at.to_rfc3339(), u.password_hash],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(code, _)
                    if code.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::Conflict(format!("user `{}` exists", u.username))
                }
                other => backend(other),
            })
        })
        .await?;
        Ok(user)
    }

    async fn by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let name = username.to_owned();
        self.with(move |c| {
            one(
                c,
                &format!("SELECT {COLUMNS} FROM users WHERE username = ?1"),
                &name,
            )
        })
        .await
    }

    async fn by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let id = id.to_owned();
        self.with(move |c| {
            one(
                c,
                &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
                &id,
            )
        })
        .await
    }

    async fn list(&self) -> Result<Vec<User>, StoreError> {
        self.with(|c| {
            let mut stmt = c
                .prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))
                .map_err(backend)?;
            let rows = stmt.query_map([], row_to_user).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn set_disabled(&self, id: &str, disabled: bool) -> Result<User, StoreError> {
        let id = id.to_owned();
        self.with(move |c| {
            // A disable also ends every session, in the same statement.
            let n = c
                .execute(
                    &format!(
                        "UPDATE users SET disabled = ?1, tokens_valid_from = \
                         CASE WHEN ?1 THEN {} ELSE tokens_valid_from END WHERE id = ?2",
                        next_valid_from_sql("?3")
                    ),
                    params![disabled, id, Utc::now().timestamp() + 1],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("user {id}")));
            }
            one(
                c,
                &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
                &id,
            )?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))
        })
        .await
    }

    async fn set_password_hash(&self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        let (id, hash) = (id.to_owned(), password_hash.to_owned());
        self.with(move |c| {
            let n = c
                .execute(
                    &format!(
                        "UPDATE users SET password_hash = ?1, tokens_valid_from = {} WHERE id = ?2",
                        next_valid_from_sql("?3")
                    ),
                    params![hash, id, Utc::now().timestamp() + 1],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("user {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn invalidate_tokens(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.with(move |c| {
            let n = c
                .execute(
                    &format!(
                        "UPDATE users SET tokens_valid_from = {} WHERE id = ?2",
                        next_valid_from_sql("?1")
                    ),
                    params![Utc::now().timestamp() + 1, id],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("user {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn record_unlock(&self, id: &str) -> Result<(), StoreError> {
        self.set_mark(id, "unlocked_at").await
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.with(move |c| {
            let n = c
                .execute("DELETE FROM users WHERE id = ?1", params![id])
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("user {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_store_passes_the_user_store_conformance_cases() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteUserStore::open(&dir.path().join("users.sqlite3"))
            .await
            .unwrap();
        crate::conformance::run(&store).await;
    }

    #[tokio::test]
    async fn a_file_from_before_the_session_marks_gets_their_columns_and_keeps_its_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.sqlite3");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE,
                 disabled INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
                 password_hash TEXT NOT NULL);
             INSERT INTO users VALUES ('u1', 'alice', 0, '2026-01-01T00:00:00Z', 'h');",
        )
        .unwrap();
        drop(old);
        let store = SqliteUserStore::open(&path).await.unwrap();
        let alice = store.by_username("alice").await.unwrap().unwrap();
        assert_eq!((alice.id.as_str(), alice.tokens_valid_from), ("u1", None));
        store.invalidate_tokens("u1").await.unwrap();
        assert!(
            store
                .by_id("u1")
                .await
                .unwrap()
                .unwrap()
                .tokens_valid_from
                .is_some()
        );
        drop(store);
        // Opening again finds the columns and adds nothing; the file now has a schema version.
        SqliteUserStore::open(&path).await.unwrap();
        let version: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1);
    }

    #[tokio::test]
    async fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.sqlite3");
        drop(SqliteUserStore::open(&path).await.unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 2)
            .unwrap();
        let err = SqliteUserStore::open(&path).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("user database is newer than this build"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn users_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.sqlite3");
        let id = SqliteUserStore::open(&path)
            .await
            .unwrap()
            .create("alice", "h")
            .await
            .unwrap()
            .id;
        let again = SqliteUserStore::open(&path).await.unwrap();
        assert_eq!(again.by_username("alice").await.unwrap().unwrap().id, id);
    }
}
