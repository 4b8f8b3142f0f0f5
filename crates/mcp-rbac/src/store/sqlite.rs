//! A [`RoleStore`] in an embedded SQLite database (feature `sqlite`).

use std::path::Path;

use async_trait::async_trait;
use mcp_core::StoreError;
use mcp_core::sqlite::{Schema, SharedConnection, map_error as map_err};
use rusqlite::{Connection, params};

use super::{RoleStore, validate_role, validate_user_id, with_default_role};

/// The role store's schema; `PRAGMA user_version` records how many migrations ran.
/// Append only: never edit a released step.
const SCHEMA: Schema = Schema {
    name: "role",
    migrations: &["CREATE TABLE role_assignments (
        user_id     TEXT NOT NULL,
        role        TEXT NOT NULL,
        assigned_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (user_id, role)
    ) WITHOUT ROWID;
    CREATE INDEX role_assignments_by_role ON role_assignments (role, user_id);"],
};

/// Role assignments in a SQLite file, in WAL mode.
///
/// [`SqliteRoleStore::open`] creates the file if needed and applies pending migrations. Every
/// call runs on tokio's blocking pool, so it never stalls the async runtime. Busy or locked
/// databases map to [`StoreError::Unavailable`], other SQLite failures to
/// [`StoreError::Backend`] with the original error as the source.
#[derive(Clone, Debug)]
pub struct SqliteRoleStore {
    db: SharedConnection,
}

impl SqliteRoleStore {
    /// Opens (or creates) the database at `path`, enables WAL and runs migrations. A database
    /// of a newer schema is refused.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = SharedConnection::open(path, &SCHEMA).await?;
        Ok(Self { db })
    }

    /// A private in-memory database (no WAL), for tests that do not need a file.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let db = SharedConnection::open_in_memory(&SCHEMA).await?;
        Ok(Self { db })
    }

    /// The database file, or `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        self.db.path()
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.db.run(f).await
    }
}

/// The first column of every row `sql` returns for the one parameter `arg`; `context` names
/// the operation in errors.
fn strings(
    conn: &Connection,
    sql: &str,
    arg: &str,
    context: &str,
) -> Result<Vec<String>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| {
            stmt.query_map(params![arg], |row| row.get::<_, String>(0))?
                .collect()
        })
        .map_err(|e| map_err(context, e))
}

#[async_trait]
impl RoleStore for SqliteRoleStore {
    async fn assign_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        validate_user_id(user)?;
        validate_role(role)?;
        let (user, role) = (user.to_owned(), role.to_owned());
        self.with_conn(move |conn| {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO role_assignments (user_id, role) VALUES (?1, ?2)",
            )
            .and_then(|mut stmt| stmt.execute(params![user, role]))
            .map(|changed| changed == 1)
            .map_err(|e| map_err("cannot assign role", e))
        })
        .await
    }

    async fn revoke_role(&self, user: &str, role: &str) -> Result<bool, StoreError> {
        validate_user_id(user)?;
        validate_role(role)?;
        let (user, role) = (user.to_owned(), role.to_owned());
        self.with_conn(move |conn| {
            conn.prepare_cached("DELETE FROM role_assignments WHERE user_id = ?1 AND role = ?2")
                .and_then(|mut stmt| stmt.execute(params![user, role]))
                .map(|changed| changed == 1)
                .map_err(|e| map_err("cannot revoke role", e))
        })
        .await
    }

    async fn roles_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        validate_user_id(user)?;
        let user = user.to_owned();
        let roles = self
            .with_conn(move |conn| {
                strings(
                    conn,
                    "SELECT role FROM role_assignments WHERE user_id = ?1 ORDER BY role",
                    &user,
                    "cannot read roles",
                )
            })
            .await?;
        Ok(with_default_role(roles))
    }

    async fn users_with(&self, role: &str) -> Result<Vec<String>, StoreError> {
        validate_role(role)?;
        let role = role.to_owned();
        self.with_conn(move |conn| {
            strings(
                conn,
                "SELECT user_id FROM role_assignments WHERE role = ?1 ORDER BY user_id",
                &role,
                "cannot list users",
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn open_puts_a_file_database_in_wal_mode_at_the_latest_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteRoleStore::open(dir.path().join("roles.db"))
            .await
            .unwrap();
        let (mode, version) = store
            .with_conn(|c| {
                let mode: String = c
                    .pragma_query_value(None, "journal_mode", |r| r.get(0))
                    .unwrap();
                let version: i64 = c
                    .pragma_query_value(None, "user_version", |r| r.get(0))
                    .unwrap();
                Ok((mode, version))
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(version, SCHEMA.migrations.len() as i64);
    }

    #[tokio::test]
    async fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roles.db");
        drop(SqliteRoleStore::open(&path).await.unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = SqliteRoleStore::open(&path).await.unwrap_err();
        assert!(err.to_string().contains("newer than this build"), "{err}");
    }

    #[tokio::test]
    async fn a_locked_database_reports_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roles.db");
        let store = SqliteRoleStore::open(&path).await.unwrap();
        store
            .with_conn(|c| {
                c.busy_timeout(Duration::from_millis(10))
                    .map_err(|e| map_err("t", e))
            })
            .await
            .unwrap();
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch(
                "BEGIN EXCLUSIVE; INSERT INTO role_assignments (user_id, role) VALUES ('x', 'y');",
            )
            .unwrap();
        let err = store.assign_role("alice", "admin").await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        other.execute_batch("ROLLBACK").unwrap();
        assert!(store.assign_role("alice", "admin").await.unwrap());
    }

    #[tokio::test]
    async fn opening_a_path_in_a_missing_directory_is_a_backend_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = SqliteRoleStore::open(dir.path().join("missing/roles.db"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot open"), "{err}");
    }

    #[tokio::test]
    async fn in_memory_database_works_without_a_file() {
        let store = SqliteRoleStore::open_in_memory().await.unwrap();
        assert_eq!(store.path(), None);
        store.assign_role("a", "admin").await.unwrap();
        assert_eq!(store.roles_of("a").await.unwrap(), ["admin"]);
    }
}
