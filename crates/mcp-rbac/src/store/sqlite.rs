//! A [`RoleStore`] in an embedded SQLite database (feature `sqlite`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mcp_core::StoreError;
use rusqlite::{Connection, ErrorCode, TransactionBehavior, params};

use super::{RoleStore, validate_role, validate_user_id, with_default_role};

/// Schema migrations, applied in order at open; `PRAGMA user_version` records how many ran.
/// Append only: never edit a released step.
const MIGRATIONS: &[&str] = &["CREATE TABLE role_assignments (
        user_id     TEXT NOT NULL,
        role        TEXT NOT NULL,
        assigned_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (user_id, role)
    ) WITHOUT ROWID;
    CREATE INDEX role_assignments_by_role ON role_assignments (role, user_id);"];

/// How long a call waits for another process's lock before reporting
/// [`StoreError::Unavailable`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Role assignments in a SQLite file, in WAL mode.
///
/// [`SqliteRoleStore::open`] creates the file if needed and applies pending migrations. Every
/// call runs on tokio's blocking pool, so it never stalls the async runtime. Busy or locked
/// databases map to [`StoreError::Unavailable`], other SQLite failures to
/// [`StoreError::Backend`] with the original error as the source.
#[derive(Clone)]
pub struct SqliteRoleStore {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
}

impl fmt::Debug for SqliteRoleStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteRoleStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteRoleStore {
    /// Opens (or creates) the database at `path`, enables WAL and runs migrations.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let for_open = path.clone();
        let conn = blocking(move || {
            let conn = Connection::open(&for_open)
                .map_err(|e| map_err(&format!("cannot open {}", for_open.display()), e))?;
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
                .map_err(|e| map_err("cannot enable WAL", e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::backend(
                    "cannot enable WAL",
                    format!("SQLite kept journal_mode={mode}"),
                ));
            }
            prepare(conn)
        })
        .await?;
        tracing::debug!(path = %path.display(), "opened SQLite role store");
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: Some(path),
        })
    }

    /// A private in-memory database (no WAL), for tests that do not need a file.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let conn = blocking(|| {
            let conn = Connection::open_in_memory()
                .map_err(|e| map_err("cannot open in-memory database", e))?;
            prepare(conn)
        })
        .await?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
        })
    }

    /// The database file, or `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        blocking(move || {
            // A panic inside `f` cannot leave a transaction open: rusqlite rolls back on drop.
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
    }
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::backend("SQLite task did not complete", e))?
}

/// Sets connection options and brings the schema up to date.
fn prepare(mut conn: Connection) -> Result<Connection, StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| map_err("cannot set busy timeout", e))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| map_err("cannot set synchronous mode", e))?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| map_err("cannot start migration", e))?;
    let applied: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| map_err("cannot read schema version", e))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::backend(
            "role database is newer than this build",
            format!(
                "schema version {applied}, this build knows {}",
                MIGRATIONS.len()
            ),
        ));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(step)
            .map_err(|e| map_err(&format!("migration {} failed", i + 1), e))?;
        tracing::info!(version = i + 1, "applied role store migration");
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)
        .map_err(|e| map_err("cannot record schema version", e))?;
    tx.commit()
        .map_err(|e| map_err("cannot commit migration", e))
}

/// Busy and locked databases may succeed on retry; everything else is a backend failure.
fn map_err(context: &str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::unavailable_from(context, e)
        }
        _ => StoreError::backend(context, e),
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
        assert_eq!(version, MIGRATIONS.len() as i64);
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
