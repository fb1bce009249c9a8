//! PostgreSQL backend: a deadpool pool of tokio-postgres connections for queries, plus one
//! dedicated connection that LISTENs on `docmerge_jobs` / `docmerge_events` and wakes
//! `wait_for_change`. Writers `pg_notify` inside the transaction that makes the change, so the
//! wake-up is delivered on commit and never before the change is visible.
//!
//! Event ids and commit order: a BIGSERIAL is handed out at INSERT time, so with concurrent
//! writers a transaction holding id 7 can commit after one holding id 8, and a reader that
//! already moved past 8 would skip 7 for good. We prevent that by serialising event-inserting
//! transactions: each takes `pg_advisory_xact_lock(EVENTS_LOCK)` immediately before inserting
//! its events, as its last statements before COMMIT (see `PgStore::commit`), so the lock is held
//! only for a few inserts, no other row lock is taken after it (no lock-order deadlocks), and ids
//! become visible in increasing order.

mod anchors;
mod export;
mod store;
mod tls;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::Notify;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::domain::{DbError, DbErrorKind, DomainError, DomainResult, NewEvent, now_millis};

pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/postgres/0001_init.sql")),
    (3, "listing_indexes", include_str!("../../../migrations/postgres/0003_listing_indexes.sql")),
    (4, "lists_and_search", include_str!("../../../migrations/postgres/0004_lists_and_search.sql")),
    (5, "login_attempts", include_str!("../../../migrations/postgres/0005_login_attempts.sql")),
    (7, "metadata", include_str!("../../../migrations/postgres/0007_metadata.sql")),
    (8, "matching", include_str!("../../../migrations/postgres/0008_matching.sql")),
    (9, "metadata_order_indexes", include_str!("../../../migrations/postgres/0009_metadata_order_indexes.sql")),
    (10, "classifier", include_str!("../../../migrations/postgres/0010_classifier.sql")),
    (11, "path_templates", include_str!("../../../migrations/postgres/0011_path_templates.sql")),
    (12, "workflows", include_str!("../../../migrations/postgres/0012_workflows.sql")),
    (13, "llm", include_str!("../../../migrations/postgres/0013_llm.sql")),
];

pub(crate) const JOBS_CHANNEL: &str = "docmerge_jobs";
pub(crate) const EVENTS_CHANNEL: &str = "docmerge_events";
/// Advisory lock keys (arbitrary constants, "dmEV" / "dmMG").
const EVENTS_LOCK: i64 = 0x646d_4556;
const MIGRATE_LOCK: i64 = 0x646d_4d47;
/// Serialises login attempts ("dmLG"), see `begin_login`.
pub(crate) const LOGIN_LOCK: i64 = 0x646d_4c47;

pub(crate) type Tx<'a> = deadpool_postgres::Transaction<'a>;
type Param<'a> = &'a (dyn ToSql + Sync);

pub struct PgStore {
    pool: Pool,
    jobs_wake: Arc<Notify>,
    events_wake: Arc<Notify>,
    listening: Arc<AtomicBool>,
    listener: tokio::task::JoinHandle<()>,
    anchors: anchors::Anchors,
    /// For cancel requests, which open a connection of their own.
    tls: MakeRustlsConnect,
}

/// A pooled connection whose running query is cancelled on the server when this guard is dropped
/// before [`disarm`]: a request whose client went away (its future dropped) must not leave its
/// query running. A cancelled connection is taken out of the pool and closed after the cancel
/// request, so the cancel cannot reach a later query of another request on it.
///
/// [`disarm`]: CancelOnDrop::disarm
pub(crate) struct CancelOnDrop {
    client: Option<deadpool_postgres::Client>,
    armed: bool,
    tls: MakeRustlsConnect,
}

impl CancelOnDrop {
    pub(crate) fn new(client: deadpool_postgres::Client, tls: MakeRustlsConnect) -> Self {
        CancelOnDrop { client: Some(client), armed: true, tls }
    }
    pub(crate) fn client(&mut self) -> &mut deadpool_postgres::Client {
        self.client.as_mut().expect("the client is only taken on drop")
    }
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        if !self.armed {
            return; // back to the pool
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let token = client.cancel_token();
        let detached = deadpool_postgres::Object::take(client);
        let tls = self.tls.clone();
        rt.spawn(async move {
            match token.cancel_query(tls).await {
                Ok(()) => tracing::debug!("cancelled the query of a request whose client went away"),
                Err(e) => tracing::warn!(error = %e, "cancelling a query failed; the statement timeout ends it"),
            }
            drop(detached);
        });
    }
}

/// A statement stopped by `statement_timeout` (SQLSTATE 57014) is the search's own cost limit.
pub(crate) fn timeout_as_too_expensive(e: DomainError, limit: Duration) -> DomainError {
    match e {
        DomainError::Database(DbError { kind: DbErrorKind::Cancelled, .. }) => crate::domain::search::too_slow(limit),
        other => other,
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// What a PostgreSQL error means to a caller, by SQLSTATE class: 23 (a constraint) is a conflict,
/// 40 (serialisation failure, deadlock) and 55P03 (lock not available) are busy, 08 and the
/// server shutting down are unavailable, 57014 is a cancelled statement, 53100 a full disk.
/// An error without SQLSTATE is the connection's (unavailable) unless it is about converting a
/// value. The message keeps the server's words and the code: "… (23505)".
impl From<tokio_postgres::Error> for DomainError {
    fn from(e: tokio_postgres::Error) -> Self {
        let (kind, message) = match e.as_db_error() {
            Some(db) => {
                let code = db.code().code();
                let kind = match code {
                    "53100" => return DomainError::StorageFull(format!("PostgreSQL cannot write: {} ({code})", db.message())),
                    "57014" => DbErrorKind::Cancelled,
                    "55P03" => DbErrorKind::Busy,
                    "57P01" | "57P02" | "57P03" => DbErrorKind::Unavailable,
                    _ if code.starts_with("23") => DbErrorKind::Conflict,
                    _ if code.starts_with("40") || code.starts_with("53") => DbErrorKind::Busy,
                    _ if code.starts_with("08") => DbErrorKind::Unavailable,
                    _ => DbErrorKind::Other,
                };
                (kind, format!("{} ({code})", db.message()))
            }
            None => {
                let text = e.to_string();
                let kind = if text.contains("serializ") || text.contains("column") {
                    DbErrorKind::Other
                } else if text.contains("unexpected number of rows") {
                    DbErrorKind::NotFound
                } else {
                    DbErrorKind::Unavailable
                };
                (kind, with_causes(&e))
            }
        };
        DomainError::Database(DbError::new(kind, message).with_source(e))
    }
}

impl From<deadpool_postgres::PoolError> for DomainError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        DomainError::Database(DbError::new(DbErrorKind::Unavailable, format!("no database connection: {}", with_causes(&e))).with_source(e))
    }
}

/// An error and every cause under it ("error performing TLS handshake: invalid peer
/// certificate: UnknownIssuer"): a connection failure's reason is often only in its source.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

/// A unique violation as the given Conflict, anything else as a database error.
pub(crate) fn conflict_or_db(e: tokio_postgres::Error, conflict: impl FnOnce() -> String) -> DomainError {
    if is_unique_violation(&e) { DomainError::Conflict(conflict()) } else { e.into() }
}

// Thin wrappers: prepared statements are cached per connection; errors become DomainErrors.
pub(crate) async fn query<C: GenericClient>(c: &C, sql: &str, p: &[Param<'_>]) -> DomainResult<Vec<Row>> {
    let st = c.prepare_cached(sql).await?;
    c.query(&st, p).await.map_err(DomainError::from)
}
pub(crate) async fn query_opt<C: GenericClient>(c: &C, sql: &str, p: &[Param<'_>]) -> DomainResult<Option<Row>> {
    let st = c.prepare_cached(sql).await?;
    c.query_opt(&st, p).await.map_err(DomainError::from)
}
pub(crate) async fn query_one<C: GenericClient>(c: &C, sql: &str, p: &[Param<'_>]) -> DomainResult<Row> {
    let st = c.prepare_cached(sql).await?;
    c.query_one(&st, p).await.map_err(DomainError::from)
}
pub(crate) async fn exec<C: GenericClient>(c: &C, sql: &str, p: &[Param<'_>]) -> DomainResult<u64> {
    try_exec(c, sql, p).await.map_err(DomainError::from)
}
/// Like `exec`, keeping the raw error so the caller can tell a unique violation apart.
pub(crate) async fn try_exec<C: GenericClient>(c: &C, sql: &str, p: &[Param<'_>]) -> Result<u64, tokio_postgres::Error> {
    let st = c.prepare_cached(sql).await?;
    c.execute(&st, p).await
}
pub(crate) async fn try_query_one<C: GenericClient>(c: &C, sql: &str, p: &[Param<'_>]) -> Result<Row, tokio_postgres::Error> {
    let st = c.prepare_cached(sql).await?;
    c.query_one(&st, p).await
}

/// Reads column `i`; a type mismatch is a database error, not a panic.
pub(crate) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(r: &'a Row, i: usize) -> DomainResult<T> {
    r.try_get(i).map_err(|e| DomainError::database(format!("unexpected column {i}: {e}")))
}

impl PgStore {
    /// Connects (failing if the server cannot be reached now) and starts the LISTEN task. Later
    /// outages are survived: the pool replaces broken connections on demand and the listener
    /// reconnects with backoff.
    pub async fn connect(url: &str, pool_size: usize) -> DomainResult<PgStore> {
        let (mut cfg, tls) = config_and_tls(url)?;
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(Duration::from_secs(10));
        }
        if cfg.get_application_name().is_none() {
            cfg.application_name("docmerge");
        }
        // Plan every execution with its parameters: a cached generic plan cannot tell a rare
        // search word (GIN index) from one on most pages (walk the newest rows), nor a first
        // page from a deep OFFSET. No JIT: compiling a plan costs tens of milliseconds, more
        // than any of our short queries runs; no parallel workers either, whose start-up costs
        // more than they save on queries this short, and which take cores from other requests.
        // An operator's own `options` in the URL win.
        let mut options = cfg.get_options().unwrap_or_default().to_string();
        for (name, value) in [("plan_cache_mode", "force_custom_plan"), ("jit", "off"), ("max_parallel_workers_per_gather", "0")] {
            if !options.contains(name) {
                options = format!("{options} -c {name}={value}").trim_start().to_string();
            }
        }
        cfg.options(&options);
        let mgr = Manager::from_config(cfg.clone(), tls.clone(), ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(mgr)
            .max_size(pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(15)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| DomainError::database(format!("cannot build the connection pool: {e}")))?;
        {
            let c = pool.get().await.map_err(|e| {
                let message = format!("cannot connect to PostgreSQL at {}: {}", crate::config::redact_url(url), with_causes(&e));
                DomainError::Database(DbError::new(DbErrorKind::Unavailable, message).with_source(e))
            })?;
            query_one(&c, "SELECT 1", &[]).await?;
        }
        let jobs_wake = Arc::new(Notify::new());
        let events_wake = Arc::new(Notify::new());
        let listening = Arc::new(AtomicBool::new(false));
        let listener = tokio::spawn(listen_loop(cfg, tls.clone(), jobs_wake.clone(), events_wake.clone(), listening.clone()));
        Ok(PgStore { pool, jobs_wake, events_wake, listening, listener, anchors: anchors::Anchors::default(), tls: tls.clone() })
    }

    pub(crate) async fn client(&self) -> DomainResult<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }

    /// The end of every write transaction: NOTIFY the job channel if jobs were queued, insert
    /// the events under the events lock (see the module comment) and NOTIFY, then COMMIT.
    pub(crate) async fn commit(tx: Tx<'_>, events: &[NewEvent], jobs_changed: bool) -> DomainResult<()> {
        if jobs_changed {
            exec(&tx, "SELECT pg_notify($1, '')", &[&JOBS_CHANNEL]).await?;
        }
        if !events.is_empty() {
            exec(&tx, "SELECT pg_advisory_xact_lock($1)", &[&EVENTS_LOCK]).await?;
            let now = now_millis();
            for ev in events {
                exec(
                    &tx,
                    "INSERT INTO events (owner_id, kind, document_id, folder_id, data, created_at) VALUES ($1, $2, $3, $4, $5::text::jsonb, $6)",
                    &[&ev.owner_id, &ev.data.kind(), &ev.document_id, &ev.folder_id, &ev.data.payload().to_string(), &now],
                )
                .await?;
                // The lifecycle events a document's history shows (uploads, processing, trash, page edits).
                if let Some(h) = crate::domain::metadata::history_of_event(ev) {
                    exec(
                        &tx,
                        "INSERT INTO document_history (document_id, actor_id, action, changes, at) \
                         SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM documents WHERE id = $1)",
                        &[&h.document_id, &h.actor_id, &h.action, &h.changes.to_string(), &now],
                    )
                    .await?;
                }
            }
            exec(&tx, "SELECT pg_notify($1, '')", &[&EVENTS_CHANNEL]).await?;
        }
        tx.commit().await.map_err(DomainError::from)
    }

    pub(crate) fn wake(&self, channel: crate::domain::store::WakeChannel) -> Arc<Notify> {
        match channel {
            crate::domain::store::WakeChannel::Jobs => self.jobs_wake.clone(),
            crate::domain::store::WakeChannel::Events => self.events_wake.clone(),
        }
    }

    pub(crate) fn listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    pub(crate) async fn apply_migrations(&self) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Two processes starting at once: the second waits here, then finds nothing to do.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK]).await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
        for (version, name, sql) in MIGRATIONS {
            let done = tx.query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[version]).await?.is_some();
            if done {
                continue;
            }
            tx.batch_execute(sql)
                .await
                .map_err(|e| DomainError::database(format!("migration {version} ({name}) failed: {}", DomainError::from(e))))?;
            tx.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", &[version, name, &now_millis()])
                .await?;
        }
        tx.commit().await.map_err(DomainError::from)
    }
}

/// The connection settings of a `database.url` and the TLS connector its `sslmode` asks for
/// (see `tls`).
fn config_and_tls(url: &str) -> DomainResult<(tokio_postgres::Config, MakeRustlsConnect)> {
    let invalid = |e: String| DomainError::Invalid(format!("database.url ({}): {e}", crate::config::redact_url(url)));
    let target = tls::split(url).map_err(invalid)?;
    let mut cfg = tokio_postgres::Config::from_str(&target.url).map_err(|e| invalid(format!("not a valid PostgreSQL URL: {e}")))?;
    let (connector, ssl_mode) = tls::connector(&target).map_err(invalid)?;
    cfg.ssl_mode(ssl_mode);
    Ok((cfg, connector))
}

/// Keeps one LISTEN connection up for the life of the store. While it is down (server restart)
/// nobody is woken and `wait_for_change` callers simply time out and poll.
async fn listen_loop(cfg: tokio_postgres::Config, tls: MakeRustlsConnect, jobs: Arc<Notify>, events: Arc<Notify>, up: Arc<AtomicBool>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match cfg.connect(tls.clone()).await {
            Ok((client, mut conn)) => {
                let (jobs2, events2) = (jobs.clone(), events.clone());
                // Drives the connection and forwards notifications until it ends.
                let driver = tokio::spawn(async move {
                    loop {
                        let msg = std::future::poll_fn(|cx| conn.poll_message(cx)).await;
                        match msg {
                            Some(Ok(AsyncMessage::Notification(n))) => match n.channel() {
                                JOBS_CHANNEL => jobs2.notify_waiters(),
                                EVENTS_CHANNEL => events2.notify_waiters(),
                                _ => {}
                            },
                            Some(Ok(_)) => {}
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "the PostgreSQL LISTEN connection failed");
                                break;
                            }
                            None => break,
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {JOBS_CHANNEL}; LISTEN {EVENTS_CHANNEL}")).await {
                    Ok(()) => {
                        up.store(true, Ordering::Relaxed);
                        backoff = Duration::from_millis(250);
                        // Whatever happened while we were not listening: let everyone look.
                        jobs.notify_waiters();
                        events.notify_waiters();
                        let _ = driver.await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot LISTEN on PostgreSQL");
                        driver.abort();
                    }
                }
                up.store(false, Ordering::Relaxed);
                drop(client);
            }
            Err(e) => {
                tracing::warn!(error = %with_causes(&e), retry_in = ?backoff, "cannot open the PostgreSQL LISTEN connection");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Runs one statement about database `name` (letters, digits, `_`) on the server of `base_url`,
/// outside any transaction (CREATE/DROP DATABASE cannot run inside one).
async fn database_statement(base_url: &str, name: &str, sql: &str, what: &str) -> DomainResult<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DomainError::Invalid(format!("not a database name: {name:?}")));
    }
    let (cfg, tls) = config_and_tls(base_url)?;
    let (client, conn) =
        cfg.connect(tls).await.map_err(|e| DomainError::database(format!("cannot connect to PostgreSQL: {}", with_causes(&e))))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    client.batch_execute(sql).await.map_err(|e| DomainError::database(format!("cannot {what} database {name}: {e}")))?;
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// Creates database `name` on the server of `base_url`; returns the URL of the new database.
pub async fn create_database(base_url: &str, name: &str) -> DomainResult<String> {
    database_statement(base_url, name, &format!("CREATE DATABASE {name}"), "create").await?;
    let (base, query) = match base_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (base_url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    Ok(format!("{host}/{name}{query}"))
}

/// Drops a database made by [`create_database`] (closing its connections first).
pub async fn drop_database(base_url: &str, name: &str) -> DomainResult<()> {
    database_statement(base_url, name, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), "drop").await
}
