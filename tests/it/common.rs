//! Fixtures: a fresh, migrated store per test for each backend, and a simulated worker.

use std::future::Future;
use std::sync::Arc;

use docmerge::domain::jobs::{ClaimedJob, JobSpec, NewJob, PageArgs, VersionArgs};
use docmerge::domain::page_text::{PageText, TextSource};
use docmerge::domain::store::BulkStore;
use docmerge::domain::*;
use docmerge::jobs::kinds;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

const DEFAULT_PG: &str = "postgres://root@127.0.0.1:5432/postgres";

pub fn pg_admin_url() -> String {
    std::env::var("DOCMERGE_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_string())
}

/// The admin URL with its database name replaced.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{host_part}/{db}{query}")
}

pub async fn pg_admin() -> tokio_postgres::Client {
    let url = pg_admin_url();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {url} ({e}). The conformance suite needs it: start PostgreSQL or set DOCMERGE_TEST_PG")
    });
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(String),
}

/// Creates a fresh store, runs the test body, then removes the database. A panicking test
/// leaves its `dm_test_*` database behind (harmless; named so it can be found).
pub async fn run<F, Fut>(backend: Backend, pool_size: u32, body: F)
where
    F: FnOnce(Arc<dyn BulkStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    run_named(backend, pool_size, |store, _| body(store)).await
}

/// Like `run`; the body also gets the PostgreSQL database name (empty for SQLite).
pub async fn run_named<F, Fut>(backend: Backend, pool_size: u32, body: F)
where
    F: FnOnce(Arc<dyn BulkStore>, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, cleanup) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            let store = docmerge::db::connect_bulk(&url, pool_size).await.expect("open SQLite");
            (store, Cleanup::Sqlite(dir))
        }
        Backend::Postgres => {
            let admin = pg_admin().await;
            let name = format!("dm_test_{}_{:08x}", std::process::id(), rand::random::<u32>());
            admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
            let url = with_database(&pg_admin_url(), &name);
            let store = docmerge::db::connect_bulk(&url, pool_size).await.expect("connect to the test database");
            (store, Cleanup::Postgres(name))
        }
    };
    store.migrate().await.expect("migrate");
    let name = match &cleanup {
        Cleanup::Postgres(n) => n.clone(),
        Cleanup::Sqlite(_) => String::new(),
    };
    body(store.clone(), name).await;
    drop(store);
    if let Cleanup::Postgres(name) = cleanup {
        let admin = pg_admin().await;
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    }
}

/// `conformance!(name)` turns `async fn name(store: Arc<dyn BulkStore>)` into the tests
/// `name::sqlite` and `name::postgres`.
macro_rules! conformance {
    ($name:ident) => {
        conformance!($name, 4);
    };
    ($name:ident, $pool:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::common::run(crate::common::Backend::Sqlite, $pool, super::$name).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                crate::common::run(crate::common::Backend::Postgres, $pool, super::$name).await;
            }
        }
    };
}

pub fn page_req(page: u32, page_size: u32) -> PageReq {
    PageReq { page, page_size }
}

pub async fn user(store: &Arc<dyn BulkStore>, name: &str) -> User {
    store.create_user(name, "hash", false).await.expect("create user")
}

pub async fn home(store: &Arc<dyn BulkStore>, owner: Id) -> Id {
    store.root_folders(owner).await.expect("root folders").0.id
}

pub fn new_upload(owner: Id, folder: Id, title: &str, sha: &str) -> NewUpload {
    NewUpload {
        owner_id: owner,
        folder_id: folder,
        title: title.to_string(),
        filename: format!("{title}.pdf"),
        mime: "application/pdf".into(),
        size: 1234,
        sha256: sha.to_string(),
        tag_names: Vec::new(),
        reject_duplicates: false,
        max_attempts: 3,
        source: Some(docmerge::domain::workflows::Source::Upload),
    }
}

pub async fn upload(store: &Arc<dyn BulkStore>, owner: Id, folder: Id, title: &str, sha: &str) -> UploadOutcome {
    store.create_upload(new_upload(owner, folder, title, sha)).await.expect("upload")
}

pub const WORKER: &str = "test-worker";

pub async fn claim_one(store: &Arc<dyn BulkStore>, kind: &str) -> ClaimedJob {
    let mut jobs = store.claim(WORKER, &[kind.to_string()], 1, 60_000).await.expect("claim");
    assert_eq!(jobs.len(), 1, "expected one {kind} job to claim");
    jobs.pop().expect("one job")
}

pub fn page_job(owner: Id, doc: Id, version: Id, n: i32) -> NewJob {
    NewJob::new(JobSpec::ProcessPage(PageArgs { version_id: version, index: (n - 1) as u32 }))
        .unique(format!("process_page:{version}:{n}"))
        .for_document(owner, doc)
}

pub fn finish_job(owner: Id, doc: Id, version: Id) -> NewJob {
    NewJob::new(JobSpec::FinishVersion(VersionArgs { version_id: version }))
        .unique(format!("finish_version:{version}"))
        .for_document(owner, doc)
}

pub fn page_record(n: i32, text: &str) -> PageRecord {
    PageRecord {
        number: n,
        width: 595.0,
        height: 842.0,
        layout: PageText {
            text: text.to_string(),
            lines: Vec::new(),
            source: TextSource::TextLayer,
            width: 595.0,
            height: 842.0,
            rotation: 0,
        },
        thumbnail_sha256: Some(format!("thumb-{n}-{}", text.len())),
        preview_sha256: None,
    }
}

/// What a worker does to an upload: claim its process_version job, fan out one job per page,
/// store each page with `texts[i]`, then finish. The document ends `ready`.
pub async fn process(store: &Arc<dyn BulkStore>, up: &UploadOutcome, texts: &[&str]) {
    let owner = up.document.owner_id;
    let doc = up.document.id;
    let vid = up.version_id;
    let job = claim_one(store, kinds::PROCESS_VERSION).await;
    assert_eq!(Some(job.id), up.job_id, "the upload queued this job");
    let pages: Vec<NewJob> = (1..=texts.len() as i32).map(|n| page_job(owner, doc, vid, n)).collect();
    assert!(store.begin_version(&job.lease(WORKER), vid, texts.len() as i32, pages).await.expect("begin_version"));
    let claimed = store.claim(WORKER, &[kinds::PROCESS_PAGE.to_string()], 100, 60_000).await.expect("claim pages");
    assert_eq!(claimed.len(), texts.len());
    for j in claimed {
        let JobSpec::ProcessPage(PageArgs { index, .. }) = j.spec else { panic!("a page job: {:?}", j.spec) };
        let n = index as i32 + 1;
        let rec = page_record(n, texts[(n - 1) as usize]);
        assert!(store.store_page(&j.lease(WORKER), vid, rec, finish_job(owner, doc, vid)).await.expect("store_page"));
    }
    let fin = claim_one(store, kinds::FINISH_VERSION).await;
    // As the worker does: the document's date from the first pages.
    let rules = docmerge::config::MetadataSettings::default().date_rules(chrono::Local::now().date_naive());
    let found = docmerge::domain::dates::extract_date(&texts[..texts.len().min(2)], &rules);
    assert!(store.finish_version(&fin.lease(WORKER), vid, Some(&format!("searchable-{vid}")), found).await.expect("finish_version"));
}

pub async fn events_since(store: &Arc<dyn BulkStore>, owner: Id, after: Id) -> Vec<Event> {
    store.events_after(Some(owner), after, 10_000).await.expect("events")
}

pub fn kinds_of(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.kind()).collect()
}

pub fn search_q(q: &str) -> docmerge::domain::search::SearchQuery {
    docmerge::domain::search::parse_query(q).expect("valid query")
}
