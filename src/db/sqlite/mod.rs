//! SQLite backend: one writer connection (every write in `BEGIN IMMEDIATE`), a few read-only
//! readers, WAL. Several processes may share the file: SQLite's own locking plus
//! `busy_timeout` serialise writers; nothing holds a write transaction across slow work.

mod export;
mod reserve;
mod store;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::Notify;

use crate::domain::{DbError, DbErrorKind, DomainError, DomainResult, NewEvent, now_millis};

pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/sqlite/0001_init.sql")),
    (3, "listing_indexes", include_str!("../../../migrations/sqlite/0003_listing_indexes.sql")),
    (4, "lists_and_search", include_str!("../../../migrations/sqlite/0004_lists_and_search.sql")),
    (5, "login_attempts", include_str!("../../../migrations/sqlite/0005_login_attempts.sql")),
    (6, "blob_reference_indexes", include_str!("../../../migrations/sqlite/0006_blob_reference_indexes.sql")),
    (7, "metadata", include_str!("../../../migrations/sqlite/0007_metadata.sql")),
    (8, "matching", include_str!("../../../migrations/sqlite/0008_matching.sql")),
    (9, "metadata_order_indexes", include_str!("../../../migrations/sqlite/0009_metadata_order_indexes.sql")),
    (10, "classifier", include_str!("../../../migrations/sqlite/0010_classifier.sql")),
    (11, "path_templates", include_str!("../../../migrations/sqlite/0011_path_templates.sql")),
    (12, "workflows", include_str!("../../../migrations/sqlite/0012_workflows.sql")),
    (13, "llm", include_str!("../../../migrations/sqlite/0013_llm.sql")),
];

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    max_readers: usize,
    /// At most `max_readers` reads at once: a burst of requests waits for a connection instead
    /// of opening (and caching pages for) one connection per request.
    read_slots: Arc<tokio::sync::Semaphore>,
    jobs_wake: Arc<Notify>,
    events_wake: Arc<Notify>,
    reserve: Arc<reserve::SpaceReserve>,
}

fn open_conn(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Page cache per connection: 16 MB for the writer, 8 MB for each reader.
    conn.pragma_update(None, "cache_size", if read_only { -8_000 } else { -16_000 })?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// What a SQLite error means to a caller: busy/locked can succeed later, a full or read-only
/// disk needs an operator, a constraint is a conflict, an interrupt is a stopped statement.
impl From<rusqlite::Error> for DomainError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let kind = match &e {
            rusqlite::Error::SqliteFailure(code, _) => match code.code {
                C::DiskFull | C::ReadOnly => return DomainError::StorageFull(format!("the SQLite database cannot be written: {e}")),
                C::DatabaseBusy | C::DatabaseLocked => DbErrorKind::Busy,
                C::ConstraintViolation => DbErrorKind::Conflict,
                C::OperationInterrupted => DbErrorKind::Cancelled,
                C::CannotOpen | C::SystemIoFailure => DbErrorKind::Unavailable,
                _ => DbErrorKind::Other,
            },
            rusqlite::Error::QueryReturnedNoRows => DbErrorKind::NotFound,
            _ => DbErrorKind::Other,
        };
        let message = if kind == DbErrorKind::Busy { format!("the database is busy: {e}") } else { e.to_string() };
        DomainError::Database(DbError::new(kind, message).with_source(e))
    }
}

/// Set when the request that started a read went away; read by SQLite's progress handler.
#[derive(Default)]
pub(crate) struct CancelFlag(Arc<std::sync::atomic::AtomicBool>);

pub(crate) struct SharedCancel(Arc<std::sync::atomic::AtomicBool>);

impl CancelFlag {
    pub(crate) fn shared(&self) -> SharedCancel {
        SharedCancel(self.0.clone())
    }
}

impl SharedCancel {
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for CancelFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A statement stopped by the progress handler is the search's own cost limit (or its client
/// left, and then nobody reads the answer).
pub(crate) fn interrupted_as_too_expensive(e: DomainError, limit: std::time::Duration) -> DomainError {
    match e {
        DomainError::Database(DbError { kind: DbErrorKind::Cancelled, .. }) => crate::domain::search::too_slow(limit),
        DomainError::Invalid(m) if m.contains("interrupted") => crate::domain::search::too_slow(limit),
        other => other,
    }
}

pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(code, _)
        if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

impl SqliteStore {
    pub async fn open(path: &str, readers: usize) -> DomainResult<SqliteStore> {
        let path = PathBuf::from(path);
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| DomainError::database(format!("cannot create the database folder {}: {e}", parent.display())))?;
        }
        let p = path.clone();
        let writer = tokio::task::spawn_blocking(move || open_conn(&p, false))
            .await
            .map_err(|e| DomainError::database(e.to_string()))?
            .map_err(|e| {
                DomainError::Database(
                    DbError::new(DbErrorKind::Unavailable, format!("cannot open the SQLite database {}: {e}", path.display()))
                        .with_source(e),
                )
            })?;
        let reserve = Arc::new(reserve::SpaceReserve::beside(&path));
        let r = reserve.clone();
        let _ = tokio::task::spawn_blocking(move || r.replenish()).await;
        Ok(SqliteStore {
            reserve,
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            max_readers: readers.max(1),
            read_slots: Arc::new(tokio::sync::Semaphore::new(readers.max(1))),
            jobs_wake: Arc::new(Notify::new()),
            events_wake: Arc::new(Notify::new()),
        })
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer; commits when it returns Ok,
    /// rolls back (on drop) otherwise. After the commit, wakes the waiters of the event and job
    /// tables if `f` wrote to them (see [`WriteTx`]).
    pub(crate) async fn write<T, F>(&self, mut f: F) -> DomainResult<T>
    where
        T: Send + 'static,
        F: FnMut(&WriteTx<'_>) -> DomainResult<T> + Send + 'static,
    {
        let writer = self.writer.clone();
        let reserve = self.reserve.clone();
        let (out, wrote) = tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|p| p.into_inner());
            let mut attempt = |conn: &mut Connection| -> DomainResult<(T, Wrote)> {
                let tx =
                    WriteTx { tx: conn.transaction_with_behavior(TransactionBehavior::Immediate)?, wrote: Cell::new(Wrote::default()) };
                let out = f(&tx)?;
                let wrote = tx.wrote.get();
                tx.tx.commit()?;
                Ok((out, wrote))
            };
            match attempt(&mut conn) {
                // The disk is full: give the reserve back and try once more (see reserve.rs).
                Err(DomainError::StorageFull(_)) if reserve.release() => attempt(&mut conn),
                Ok(out) => {
                    reserve.replenish();
                    Ok(out)
                }
                other => other,
            }
        })
        .await
        .map_err(|e| DomainError::database(format!("database task failed: {e}")))??;
        if wrote.jobs {
            self.jobs_wake.notify_waiters();
        }
        if wrote.events {
            self.events_wake.notify_waiters();
        }
        Ok(out)
    }

    /// Runs `f` on a read-only connection inside one read transaction (a consistent snapshot).
    pub(crate) async fn read<T, F>(&self, f: F) -> DomainResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> DomainResult<T> + Send + 'static,
    {
        self.read_mut(move |c| f(c)).await
    }

    /// Like `read`, with the connection itself (to set a progress handler on it for the read).
    pub(crate) async fn read_mut<T, F>(&self, f: F) -> DomainResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> DomainResult<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        let max = self.max_readers;
        let slot = self.read_slots.clone().acquire_owned().await.map_err(|e| DomainError::database(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let conn = {
                let mut pool = readers.lock().unwrap_or_else(|p| p.into_inner());
                pool.pop()
            };
            let mut conn = match conn {
                Some(c) => c,
                None => open_conn(&path, true)?,
            };
            conn.execute_batch("BEGIN")?;
            let out = f(&mut conn);
            let _ = conn.execute_batch("COMMIT");
            let mut pool = readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < max {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(|e| DomainError::database(format!("database task failed: {e}")))?
    }
}

/// The one way to write on SQLite: a `BEGIN IMMEDIATE` transaction that remembers whether it
/// wrote to the outbox (events) or made jobs claimable, so that `write` wakes the websocket
/// tails and idle workers after COMMIT — as the PostgreSQL side NOTIFYs inside its commit. No
/// write path wakes anyone by hand. Derefs to the transaction for everything else.
pub(crate) struct WriteTx<'c> {
    tx: Transaction<'c>,
    wrote: Cell<Wrote>,
}

#[derive(Clone, Copy, Default)]
struct Wrote {
    events: bool,
    jobs: bool,
}

impl<'c> std::ops::Deref for WriteTx<'c> {
    type Target = Transaction<'c>;
    fn deref(&self) -> &Transaction<'c> {
        &self.tx
    }
}

impl WriteTx<'_> {
    /// Records an event (outbox) in this transaction.
    pub(crate) fn emit(&self, ev: &NewEvent) -> DomainResult<()> {
        emit_row(&self.tx, ev)?;
        self.wrote.set(Wrote { events: true, ..self.wrote.get() });
        Ok(())
    }
    /// Jobs were queued or given back to the queue in this transaction: idle workers look.
    pub(crate) fn jobs_changed(&self) {
        self.wrote.set(Wrote { jobs: true, ..self.wrote.get() });
    }
}

pub(crate) fn emit(tx: &WriteTx<'_>, ev: &NewEvent) -> DomainResult<()> {
    tx.emit(ev)
}

fn emit_row(tx: &Transaction<'_>, ev: &NewEvent) -> DomainResult<()> {
    tx.prepare_cached("INSERT INTO events (owner_id, kind, document_id, folder_id, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .and_then(|mut st| {
            st.execute(rusqlite::params![
                ev.owner_id,
                ev.data.kind(),
                ev.document_id,
                ev.folder_id,
                ev.data.payload().to_string(),
                now_millis()
            ])
        })?;
    // The lifecycle events a document's history shows (uploads, processing, trash, page edits).
    if let Some(h) = crate::domain::metadata::history_of_event(ev) {
        tx.prepare_cached(
            "INSERT INTO document_history (document_id, actor_id, action, changes, at) \
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?1)",
        )
        .and_then(|mut st| st.execute(rusqlite::params![h.document_id, h.actor_id, h.action, h.changes.to_string(), now_millis()]))?;
    }
    Ok(())
}
