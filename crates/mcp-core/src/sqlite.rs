//! What the `sqlite` backends of the stores share (feature `sqlite`): opening a database file
//! in WAL mode, versioned migrations, the mapping of SQLite errors to [`StoreError`], and one
//! connection used from async code through tokio's blocking pool.
//!
//! ```
//! use mcp_core::sqlite::{Schema, SharedConnection, map_error};
//!
//! const SCHEMA: Schema = Schema {
//!     name: "note",
//!     migrations: &["CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL) STRICT"],
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mcp_core::StoreError> {
//! let dir = tempfile::tempdir().unwrap();
//! let db = SharedConnection::open(dir.path().join("notes.db"), &SCHEMA).await?;
//! let stored = db
//!     .run(|conn| {
//!         conn.execute("INSERT INTO notes (text) VALUES ('hello')", [])
//!             .map_err(|e| map_error("cannot store note", e))
//!     })
//!     .await?;
//! assert_eq!(stored, 1);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use crate::StoreError;

/// How long a statement waits for another connection's lock before it fails as
/// [`StoreError::Unavailable`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A store's schema: what its database holds and the migrations that build it.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// What the database holds, for errors and logs (`"role"`, `"revocation"`).
    pub name: &'static str,
    /// Migrations, applied in order; `PRAGMA user_version` records how many ran. Append only:
    /// never edit a released step.
    pub migrations: &'static [&'static str],
}

/// Opens (creating if needed) the database file at `path` with [`configure_file`] and brings
/// its schema up to date with [`migrate`].
pub fn open(path: &Path, schema: &Schema) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path)
        .map_err(|e| map_error(format!("cannot open {}", path.display()), e))?;
    configure_file(&conn)?;
    migrate(&mut conn, schema)?;
    Ok(conn)
}

/// Opens a private in-memory database (no WAL) with `schema` applied.
pub fn open_in_memory(schema: &Schema) -> Result<Connection, StoreError> {
    let mut conn =
        Connection::open_in_memory().map_err(|e| map_error("cannot open in-memory database", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| map_error("cannot set busy timeout", e))?;
    migrate(&mut conn, schema)?;
    Ok(conn)
}

/// Sets the options every store's file connection runs with: [`BUSY_TIMEOUT`], WAL journal
/// mode (refused with [`StoreError::Backend`] if SQLite keeps another mode, as it does on
/// file systems without shared memory) and `synchronous = NORMAL`.
pub fn configure_file(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| map_error("cannot set busy timeout", e))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| map_error("cannot enable WAL", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::backend(
            "cannot enable WAL",
            format!("SQLite kept journal_mode={mode}"),
        ));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| map_error("cannot set synchronous mode", e))
}

/// Applies the migrations of `schema` that `PRAGMA user_version` says have not run, all in one
/// immediate transaction (a failing step applies none). A database written by a newer build
/// (a higher version than `schema` knows) is refused with [`StoreError::Invalid`].
pub fn migrate(conn: &mut Connection, schema: &Schema) -> Result<(), StoreError> {
    let name = schema.name;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| map_error(format!("cannot start {name} migration"), e))?;
    let applied: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| map_error(format!("cannot read {name} schema version"), e))?;
    let known = schema.migrations.len();
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > known {
        return Err(StoreError::Invalid(format!(
            "{name} database is newer than this build: schema version {applied}, this build \
             knows up to {known}"
        )));
    }
    if applied == known {
        return Ok(());
    }
    for (i, step) in schema.migrations.iter().enumerate().skip(applied) {
        tx.execute_batch(step)
            .map_err(|e| map_error(format!("{name} migration {} failed", i + 1), e))?;
        tracing::info!(version = i + 1, store = name, "applied sqlite migration");
    }
    tx.pragma_update(None, "user_version", known as i64)
        .map_err(|e| map_error(format!("cannot record {name} schema version"), e))?;
    tx.commit()
        .map_err(|e| map_error(format!("cannot commit {name} migration"), e))
}

/// Maps a SQLite error: a busy or locked database may succeed on retry
/// ([`StoreError::Unavailable`]); everything else is [`StoreError::Backend`]. `context` says
/// what failed; the SQLite error is the source.
pub fn map_error(context: impl Into<String>, err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::unavailable_from(context, err)
        }
        _ => StoreError::backend(context, err),
    }
}

/// Runs blocking `f` on tokio's blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::backend("SQLite task did not complete", e))?
}

/// One SQLite connection behind a mutex, used from async code: each [`run`](Self::run) takes
/// the connection on tokio's blocking pool, so the runtime never stalls on SQLite. Clones share
/// the connection.
#[derive(Clone)]
pub struct SharedConnection {
    conn: Arc<Mutex<Connection>>,
    path: Option<Arc<PathBuf>>,
}

impl fmt::Debug for SharedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedConnection")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SharedConnection {
    /// Opens the database file at `path` with [`open`], on the blocking pool.
    pub async fn open(path: impl AsRef<Path>, schema: &Schema) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let (for_open, schema) = (path.clone(), *schema);
        let conn = blocking(move || open(&for_open, &schema)).await?;
        tracing::debug!(path = %path.display(), store = schema.name, "opened sqlite store");
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: Some(Arc::new(path)),
        })
    }

    /// A private in-memory database with [`open_in_memory`].
    pub async fn open_in_memory(schema: &Schema) -> Result<Self, StoreError> {
        let schema = *schema;
        let conn = blocking(move || open_in_memory(&schema)).await?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
        })
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref().map(PathBuf::as_path)
    }

    /// Runs `f` with the connection on the blocking pool. A panic in an earlier `f` does not
    /// lock the connection out: rusqlite rolls back an open transaction when it is dropped.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_STEPS: Schema = Schema {
        name: "note",
        migrations: &[
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL) STRICT",
            "ALTER TABLE notes ADD COLUMN author TEXT",
        ],
    };

    fn version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_file_gets_every_step_wal_and_a_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("a.db"), &TWO_STEPS).unwrap();
        assert_eq!(version(&conn), 2);
        conn.execute("INSERT INTO notes (text, author) VALUES ('x', 'y')", [])
            .unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
        let timeout: i64 = conn
            .pragma_query_value(None, "busy_timeout", |r| r.get(0))
            .unwrap();
        assert_eq!(timeout, 5_000);
    }

    #[test]
    fn only_the_missing_steps_run_and_the_data_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let first = Schema {
            migrations: &TWO_STEPS.migrations[..1],
            ..TWO_STEPS
        };
        let conn = open(&path, &first).unwrap();
        conn.execute("INSERT INTO notes (text) VALUES ('kept')", [])
            .unwrap();
        drop(conn);
        // Running step 1 again would fail ("table notes already exists").
        let conn = open(&path, &TWO_STEPS).unwrap();
        assert_eq!(version(&conn), 2);
        let text: String = conn
            .query_row("SELECT text FROM notes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(text, "kept");
        drop(conn);
        assert_eq!(version(&open(&path, &TWO_STEPS).unwrap()), 2);
    }

    #[test]
    fn a_failing_step_applies_no_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        const BROKEN: Schema = Schema {
            name: "note",
            migrations: &[
                "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL) STRICT",
                "THIS IS NOT SQL",
            ],
        };
        let err = open(&path, &BROKEN).unwrap_err();
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        assert!(err.to_string().contains("note migration 2 failed"), "{err}");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(version(&conn), 0);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'notes'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "step 1 was rolled back with step 2");
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        drop(open(&path, &TWO_STEPS).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 3)
            .unwrap();
        let err = open(&path, &TWO_STEPS).unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("note database is newer than this build"),
            "{err}"
        );
        assert_eq!(version(&Connection::open(&path).unwrap()), 3);
    }

    #[test]
    fn busy_and_locked_are_unavailable_and_the_rest_is_a_backend_failure() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(matches!(
            map_error("x", busy),
            StoreError::Unavailable { .. }
        ));
        let locked = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_LOCKED),
            None,
        );
        assert!(matches!(
            map_error("x", locked),
            StoreError::Unavailable { .. }
        ));
        let other = map_error("cannot read", rusqlite::Error::QueryReturnedNoRows);
        assert!(matches!(other, StoreError::Backend { .. }), "{other:?}");
        assert!(other.to_string().contains("cannot read"), "{other}");
    }

    #[tokio::test]
    async fn a_shared_connection_runs_calls_and_survives_a_panicking_one() {
        let db = SharedConnection::open_in_memory(&TWO_STEPS).await.unwrap();
        assert_eq!(db.path(), None);
        let panicked = db
            .run(|conn| -> Result<(), StoreError> {
                let tx = conn.transaction().unwrap();
                tx.execute("INSERT INTO notes (text) VALUES ('lost')", [])
                    .unwrap();
                panic!("a bug inside a call");
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Backend { .. })));
        let count: i64 = db
            .run(|conn| {
                conn.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))
                    .map_err(|e| map_error("count", e))
            })
            .await
            .unwrap();
        assert_eq!(count, 0, "the panicking call's transaction was rolled back");
    }
}
