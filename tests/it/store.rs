//! The store conformance suite: every test runs on SQLite and on PostgreSQL.

use std::sync::Arc;

use docmerge::domain::jobs::{FailOutcome, JobSpec, JobState, NewJob, NoArgs, TestAppendArgs, VersionArgs};
use docmerge::domain::store::BulkStore;
use docmerge::domain::*;
use docmerge::jobs::kinds;
use serde_json::json;

use crate::common::*;

fn is_not_found<T>(r: DomainResult<T>) -> bool {
    matches!(r, Err(DomainError::NotFound(_)))
}
fn is_conflict<T>(r: DomainResult<T>) -> bool {
    matches!(r, Err(DomainError::Conflict(_)))
}

// ---- operations --------------------------------------------------------------------------------

conformance!(migrations_are_idempotent);
async fn migrations_are_idempotent(store: Arc<dyn BulkStore>) {
    let (applied, known) = store.migration_status().await.unwrap();
    assert!(known >= 1);
    assert_eq!(applied, known);
    store.migrate().await.unwrap();
    assert_eq!(store.migration_status().await.unwrap(), (applied, known));
    store.ping().await.unwrap();
    let t = store.totals().await.unwrap();
    assert_eq!((t.documents, t.pages), (0, 0));
}

// ---- users and tokens --------------------------------------------------------------------------

conformance!(users_get_home_and_inbox);
async fn users_get_home_and_inbox(store: Arc<dyn BulkStore>) {
    let alice = store.create_user("alice", "h1", true).await.unwrap();
    assert_eq!(alice.username, "alice");
    assert!(alice.is_admin && !alice.disabled);
    let (home, inbox) = store.root_folders(alice.id).await.unwrap();
    assert_eq!((home.kind, home.name.as_str(), home.parent_id), (FolderKind::Home, "Home", None));
    assert_eq!((inbox.kind, inbox.name.as_str()), (FolderKind::Inbox, "Inbox"));
    assert_eq!(home.owner_id, alice.id);

    let dup = store.create_user("alice", "h2", false).await;
    assert!(matches!(&dup, Err(DomainError::Conflict(m)) if m.contains("alice")), "{dup:?}");
    assert!(is_conflict(store.create_user("ALICE", "h2", false).await), "user names are case-insensitive");

    let found = store.user_by_name("Alice").await.unwrap().expect("case-insensitive lookup");
    assert_eq!((found.user.id, found.password_hash.as_str()), (alice.id, "h1"));
    assert!(store.user_by_name("nobody").await.unwrap().is_none());
    assert_eq!(store.user_by_id(alice.id).await.unwrap().unwrap(), alice);
    assert!(store.user_by_id(alice.id + 1000).await.unwrap().is_none());

    let bob = user(&store, "bob").await;
    assert_eq!(store.count_users().await.unwrap(), 2);
    let names: Vec<String> = store.list_users().await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, vec!["alice", "bob"]);
    let bob2 = store.update_user(bob.id, Some("new"), Some(true), None, false).await.unwrap();
    assert!(bob2.is_admin);
    assert_eq!(store.user_by_name("bob").await.unwrap().unwrap().password_hash, "new");
    assert!(is_not_found(store.update_user(bob.id + 1000, None, None, Some(true), false).await));
}

conformance!(tokens_by_hash_expiry_and_disabled_user);
async fn tokens_by_hash_expiry_and_disabled_user(store: Arc<dyn BulkStore>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let t = store.create_token(alice.id, "cli", TokenKind::Api, "hash-1", None, None).await.unwrap();
    store.create_token(alice.id, "web", TokenKind::Session, "hash-2", Some("csrf"), Some(now_millis() + 60_000)).await.unwrap();
    store.create_token(alice.id, "old", TokenKind::Api, "hash-3", None, Some(now_millis() - 1)).await.unwrap();

    let p = store.principal_by_token("hash-1").await.unwrap().expect("valid token");
    assert_eq!((p.user.id, p.token_id, p.token_kind), (alice.id, t.id, TokenKind::Api));
    let s = store.principal_by_token("hash-2").await.unwrap().expect("valid session");
    assert_eq!((s.token_kind, s.csrf_hash.as_deref()), (TokenKind::Session, Some("csrf")));
    assert!(store.principal_by_token("hash-3").await.unwrap().is_none(), "expired");
    assert!(store.principal_by_token("nope").await.unwrap().is_none());
    // last_used_at is recorded.
    let listed = store.list_tokens(alice.id, TokenKind::Api).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().find(|x| x.id == t.id).unwrap().last_used_at.is_some());

    assert!(is_not_found(store.delete_token(bob.id, t.id).await), "bob cannot delete alice's token");
    store.delete_token(alice.id, t.id).await.unwrap();
    assert!(store.principal_by_token("hash-1").await.unwrap().is_none());

    // A disabled user's tokens stop working (and a token created afterwards does not work either).
    store.update_user(alice.id, None, None, Some(true), false).await.unwrap();
    assert!(store.principal_by_token("hash-2").await.unwrap().is_none());
    store.create_token(alice.id, "late", TokenKind::Api, "hash-4", None, None).await.unwrap();
    assert!(store.principal_by_token("hash-4").await.unwrap().is_none());
    store.update_user(alice.id, None, None, Some(false), false).await.unwrap();
    assert!(store.principal_by_token("hash-4").await.unwrap().is_some());
}

conformance!(login_attempts_are_limited_per_source_and_per_account);
async fn login_attempts_are_limited_per_source_and_per_account(store: Arc<dyn BulkStore>) {
    use docmerge::domain::login::{Limited, LoginDecision, LoginPolicy};
    let alice = store.create_user("Alice", "h", false).await.unwrap();
    let policy = LoginPolicy::new(10);
    // One source: five free failures, then it must wait (exponential back-off).
    for _ in 0..5 {
        let a = store.begin_login("alice", "10.0.0.1", policy).await.unwrap().expect("free attempt");
        store.finish_login(a, None, "10.0.0.1").await.unwrap();
    }
    match store.begin_login("alice", "10.0.0.1", policy).await.unwrap() {
        Err(LoginDecision::Wait { retry_after_ms, per: Limited::Source }) => assert!(retry_after_ms > 0 && retry_after_ms <= 1000),
        other => panic!("{other:?}"),
    }
    // Other sources: the account takes five more failures (ten in all), then strangers wait.
    for i in 0..5 {
        let src = format!("10.0.1.{i}");
        let a = store.begin_login("alice", &src, policy).await.unwrap().expect("another source");
        store.finish_login(a, None, &src).await.unwrap();
    }
    match store.begin_login("alice", "10.0.2.1", policy).await.unwrap() {
        Err(LoginDecision::Wait { per: Limited::Account, retry_after_ms }) => assert!(retry_after_ms > 14 * 60 * 1000),
        other => panic!("{other:?}"),
    }
    // Another account from a fresh source is not affected.
    assert!(store.begin_login("bob", "10.0.3.1", policy).await.unwrap().is_ok());
    // An address the owner logged in from before passes the account limit. (The first login
    // from it is let through by a policy with a higher account limit.)
    let known = "192.0.2.7";
    let first = store.begin_login("alice", known, LoginPolicy { account_limit: 1000, ..policy }).await.unwrap().unwrap();
    store.finish_login(first, Some(alice.id), known).await.unwrap();
    assert!(matches!(
        store.begin_login("alice", "192.0.2.8", policy).await.unwrap(),
        Err(LoginDecision::Wait { per: Limited::Account, .. })
    ));
    let a = store.begin_login("alice", known, policy).await.unwrap().expect("a known address passes the account limit");
    store.finish_login(a, Some(alice.id), known).await.unwrap();
}

// ---- folders -----------------------------------------------------------------------------------

conformance!(folders_create_rename_move_and_cycles);
async fn folders_create_rename_move_and_cycles(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let (home, inbox) = store.root_folders(u.id).await.unwrap();
    let a = store.create_folder(u.id, home.id, "  A ").await.unwrap();
    assert_eq!((a.name.as_str(), a.parent_id, a.kind), ("A", Some(home.id), FolderKind::Folder));
    assert!(is_conflict(store.create_folder(u.id, home.id, "A").await), "same name twice");
    assert!(matches!(store.create_folder(u.id, home.id, "a/b").await, Err(DomainError::Invalid(_))));
    assert!(matches!(store.create_folder(u.id, home.id, " ").await, Err(DomainError::Invalid(_))));
    let b = store.create_folder(u.id, a.id, "B").await.unwrap();
    let c = store.create_folder(u.id, b.id, "C").await.unwrap();

    let crumbs = store.breadcrumbs(u.id, c.id).await.unwrap();
    assert_eq!(crumbs, vec![(home.id, "Home".to_string()), (a.id, "A".to_string()), (b.id, "B".to_string()), (c.id, "C".to_string())]);

    let renamed = store.update_folder(u.id, b.id, Some("Bee"), None).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.parent_id), ("Bee", Some(a.id)));
    let moved = store.update_folder(u.id, c.id, None, Some(inbox.id)).await.unwrap();
    assert_eq!(moved.parent_id, Some(inbox.id));
    store.update_folder(u.id, c.id, None, Some(b.id)).await.unwrap();

    // Cycles.
    assert!(is_conflict(store.update_folder(u.id, a.id, None, Some(c.id)).await), "into a descendant");
    assert!(is_conflict(store.update_folder(u.id, a.id, None, Some(a.id)).await), "into itself");
    assert!(is_conflict(store.update_folder(u.id, home.id, Some("X"), None).await), "Home is fixed");
    // Name clash on move.
    store.create_folder(u.id, home.id, "C").await.unwrap();
    assert!(is_conflict(store.update_folder(u.id, c.id, None, Some(home.id)).await));
    assert_eq!(store.folder(u.id, c.id).await.unwrap().parent_id, Some(b.id), "a failed move changes nothing");
    assert!(is_not_found(store.folder(u.id, c.id + 1000).await));
}

conformance!(trash_folder_subtree_and_restore);
async fn trash_folder_subtree_and_restore(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let home = home(&store, u.id).await;
    let a = store.create_folder(u.id, home, "A").await.unwrap();
    let b = store.create_folder(u.id, a.id, "B").await.unwrap();
    let d = upload(&store, u.id, b.id, "deep doc", "sha-1").await;
    let other = upload(&store, u.id, home, "other", "sha-2").await;

    store.trash_folder(u.id, a.id).await.unwrap();
    assert!(store.folder(u.id, b.id).await.unwrap().trashed_at.is_some());
    assert!(store.document(u.id, d.document.id).await.unwrap().trashed_at.is_some());
    assert!(store.document(u.id, other.document.id).await.unwrap().trashed_at.is_none());
    assert!(is_conflict(store.create_folder(u.id, b.id, "X").await), "cannot create inside the trash");
    assert!(is_conflict(store.trash_folder(u.id, home).await), "Home cannot be trashed");
    // Not listed as children, and only the top of the trashed tree is in the trash listing.
    let kids = store.children(u.id, home, ChildSort::NameAsc, page_req(1, 50)).await.unwrap();
    assert_eq!(kids.total, 1);
    let trash = store.list_trash(u.id, page_req(1, 50)).await.unwrap();
    assert_eq!(trash.total, 1);
    assert!(matches!(&trash.items[0], ChildItem::Folder(f, _) if f.id == a.id));
    let listed = store.list_documents(u.id, &DocumentFilter::default(), page_req(1, 50)).await.unwrap();
    assert_eq!(listed.total, 1);

    // A folder with the same name takes A's place: restoring A is then a conflict.
    let a2 = store.create_folder(u.id, home, "A").await.unwrap();
    assert!(is_conflict(store.restore_folder(u.id, a.id).await));
    store.update_folder(u.id, a2.id, Some("A2"), None).await.unwrap();
    let restored = store.restore_folder(u.id, a.id).await.unwrap();
    assert!(restored.trashed_at.is_none());
    assert_eq!(restored.parent_id, Some(home));
    assert!(store.folder(u.id, b.id).await.unwrap().trashed_at.is_none());
    assert!(store.document(u.id, d.document.id).await.unwrap().trashed_at.is_none());
    assert_eq!(store.list_trash(u.id, page_req(1, 50)).await.unwrap().total, 0);
}

conformance!(children_folders_first_and_paginated);
async fn children_folders_first_and_paginated(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let home = home(&store, u.id).await;
    let f = store.create_folder(u.id, home, "F").await.unwrap();
    for name in ["b", "A", "c"] {
        store.create_folder(u.id, f.id, name).await.unwrap();
    }
    upload(&store, u.id, f.id, "zeta", "s1").await;
    upload(&store, u.id, f.id, "Alpha", "s2").await;
    let tag = store.create_tag(u.id, "red", "#f00").await.unwrap();
    let sub = store.children(u.id, f.id, ChildSort::NameAsc, page_req(1, 50)).await.unwrap();
    let ChildItem::Folder(first, _) = &sub.items[0] else { panic!("folders first") };
    store.set_folder_tags(u.id, first.id, &[tag.id], &[]).await.unwrap();

    let label = |i: &ChildItem| match i {
        ChildItem::Folder(f, _) => format!("F:{}", f.name),
        ChildItem::Document(d) => format!("D:{}", d.title),
    };
    let mut seen = Vec::new();
    for p in 1..=3 {
        let page = store.children(u.id, f.id, ChildSort::NameAsc, page_req(p, 2)).await.unwrap();
        assert_eq!(page.total, 5);
        seen.extend(page.items.iter().map(label));
    }
    assert_eq!(seen, vec!["F:A", "F:b", "F:c", "D:Alpha", "D:zeta"]);
    let desc = store.children(u.id, f.id, ChildSort::NameDesc, page_req(1, 10)).await.unwrap();
    assert_eq!(desc.items.iter().map(label).collect::<Vec<_>>(), vec!["F:c", "F:b", "F:A", "D:zeta", "D:Alpha"]);
    let tags_by_folder: Vec<(String, usize)> = desc
        .items
        .iter()
        .filter_map(|i| match i {
            ChildItem::Folder(f, tags) => Some((f.name.clone(), tags.len())),
            ChildItem::Document(_) => None,
        })
        .collect();
    assert_eq!(tags_by_folder, vec![("c".to_string(), 0), ("b".to_string(), 0), ("A".to_string(), 1)]);
    let first_page = store.children(u.id, f.id, ChildSort::NameAsc, page_req(1, 1)).await.unwrap();
    let ChildItem::Folder(_, tags) = &first_page.items[0] else { panic!("a folder") };
    assert_eq!(tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["red"]);
    assert_eq!(store.folder_tags(u.id, first.id).await.unwrap().len(), 1);
    assert!(store.children(u.id, f.id, ChildSort::NameAsc, page_req(4, 2)).await.unwrap().items.is_empty());
}

// ---- documents ---------------------------------------------------------------------------------

conformance!(upload_queues_document_version_job_and_event);
async fn upload_queues_document_version_job_and_event(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let (_, inbox) = store.root_folders(u.id).await.unwrap();
    let before = store.latest_event_id().await.unwrap();
    let mut up = new_upload(u.id, inbox.id, "Scan 1", "abc");
    up.tag_names = vec!["tax".into(), "2024".into()];
    let out = store.create_upload(up).await.unwrap();
    let d = &out.document;
    assert_eq!((d.state, d.folder_id, d.title.as_str(), d.duplicate_of), (DocState::Queued, inbox.id, "Scan 1", None));
    assert_eq!((d.version.id, d.version.number, d.version.state), (out.version_id, 1, DocState::Queued));
    assert_eq!((d.version.sha256.as_str(), d.version.size, d.version.mime.as_str()), ("abc", 1234, "application/pdf"));
    let mut tag_names: Vec<&str> = d.tags.iter().map(|t| t.name.as_str()).collect();
    tag_names.sort();
    assert_eq!(tag_names, vec!["2024", "tax"]);

    let job = store.job(out.job_id.expect("a processing job")).await.unwrap();
    assert_eq!((job.kind.as_str(), job.state, job.priority, job.max_attempts), (kinds::PROCESS_VERSION, JobState::Queued, 10, 3));
    assert_eq!((job.document_id, job.owner_id), (Some(d.id), Some(u.id)));
    let jobs = store.jobs_for_owner(u.id, Some(d.id), page_req(1, 10)).await.unwrap();
    assert_eq!(jobs.total, 1);

    let evs = events_since(&store, u.id, before).await;
    assert_eq!(kinds_of(&evs), vec!["document.created"]);
    assert_eq!(evs[0].document_id, Some(d.id));
    assert_eq!(evs[0].data.payload()["title"], json!("Scan 1"));
    assert_eq!(store.versions(u.id, d.id).await.unwrap().len(), 1);
    assert_eq!(store.version(u.id, d.id, None).await.unwrap().id, out.version_id);
    let claimed = claim_one(&store, kinds::PROCESS_VERSION).await;
    assert_eq!(claimed.spec, JobSpec::ProcessVersion(VersionArgs { version_id: out.version_id }));
    assert!(is_not_found(store.create_upload(new_upload(u.id, inbox.id + 1000, "x", "y")).await));
}

conformance!(duplicates_are_kept_or_rejected);
async fn duplicates_are_kept_or_rejected(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let home = home(&store, u.id).await;
    let first = upload(&store, u.id, home, "one", "same").await;
    let second = upload(&store, u.id, home, "two", "same").await;
    assert_eq!(second.document.duplicate_of, Some(first.document.id));
    let mut up = new_upload(u.id, home, "three", "same");
    up.reject_duplicates = true;
    let err = store.create_upload(up).await.unwrap_err();
    assert!(matches!(&err, DomainError::Conflict(m) if m.contains(&first.document.id.to_string())), "{err:?}");
    // Another user's identical file is not a duplicate.
    let bob = user(&store, "bob").await;
    let b = upload(&store, bob.id, home_of(&store, bob.id).await, "bob's", "same").await;
    assert_eq!(b.document.duplicate_of, None);
    let dup = store.list_documents(u.id, &DocumentFilter { duplicate: Some(true), ..Default::default() }, page_req(1, 10)).await.unwrap();
    assert_eq!(dup.items.iter().map(|d| d.id).collect::<Vec<_>>(), vec![second.document.id]);
}

async fn home_of(store: &Arc<dyn BulkStore>, owner: Id) -> Id {
    home(store, owner).await
}

conformance!(list_documents_filters_and_sorting);
async fn list_documents_filters_and_sorting(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let (home, inbox) = store.root_folders(u.id).await.unwrap();
    let mut docs = Vec::new();
    for (i, title) in ["banana", "Apple", "cherry"].iter().enumerate() {
        let folder = if i == 2 { inbox.id } else { home.id };
        docs.push(upload(&store, u.id, folder, title, &format!("sha{i}")).await);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let tag = store.create_tag(u.id, "tax", "#000").await.unwrap();
    store.change_document_tags(u.id, docs[1].document.id, &[tag.id], &[]).await.unwrap();
    process(&store, &docs[0], &["page one"]).await;

    let list = |f: DocumentFilter| {
        let store = store.clone();
        async move { store.list_documents(u.id, &f, page_req(1, 50)).await.unwrap().items.into_iter().map(|d| d.title).collect::<Vec<_>>() }
    };
    assert_eq!(list(DocumentFilter::default()).await, vec!["cherry", "Apple", "banana"], "newest first by default");
    assert_eq!(list(DocumentFilter { sort: DocSort::CreatedAsc, ..Default::default() }).await, vec!["banana", "Apple", "cherry"]);
    assert_eq!(list(DocumentFilter { sort: DocSort::TitleAsc, ..Default::default() }).await, vec!["Apple", "banana", "cherry"]);
    assert_eq!(list(DocumentFilter { sort: DocSort::TitleDesc, ..Default::default() }).await, vec!["cherry", "banana", "Apple"]);
    assert_eq!(list(DocumentFilter { folder_id: Some(inbox.id), ..Default::default() }).await, vec!["cherry"]);
    assert_eq!(list(DocumentFilter { tag_id: Some(tag.id), ..Default::default() }).await, vec!["Apple"]);
    assert_eq!(list(DocumentFilter { state: Some(DocState::Ready), ..Default::default() }).await, vec!["banana"]);
    assert_eq!(list(DocumentFilter { state: Some(DocState::Queued), ..Default::default() }).await, vec!["cherry", "Apple"]);
    let t1 = docs[1].document.created_at;
    assert_eq!(list(DocumentFilter { created_after: Some(t1), ..Default::default() }).await, vec!["cherry", "Apple"]);
    assert_eq!(list(DocumentFilter { created_before: Some(t1), ..Default::default() }).await, vec!["banana"]);
    assert_eq!(list(DocumentFilter { duplicate: Some(false), ..Default::default() }).await.len(), 3);
    store.trash_document(u.id, docs[2].document.id).await.unwrap();
    assert_eq!(list(DocumentFilter { trashed: true, ..Default::default() }).await, vec!["cherry"]);
    let paged = store.list_documents(u.id, &DocumentFilter::default(), page_req(2, 1)).await.unwrap();
    assert_eq!((paged.total, paged.items.len(), paged.items[0].title.as_str()), (2, 1, "banana"));
}

conformance!(kept_counts_follow_every_change);
/// List totals of a whole library and of a folder come from counts the database keeps; after
/// every kind of change they equal what the lists hold, and another user's folder counts 0.
async fn kept_counts_follow_every_change(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let other = user(&store, "bob").await;
    let (home, inbox) = store.root_folders(u.id).await.unwrap();
    let f = store.create_folder(u.id, home.id, "F").await.unwrap();
    let check = |step: &'static str| {
        let store = store.clone();
        async move {
            for scope in [None, Some(home.id), Some(inbox.id), Some(f.id)] {
                let filter = DocumentFilter { folder_id: scope, ..Default::default() };
                let all = store.list_documents(u.id, &filter, page_req(1, 1000)).await.unwrap();
                assert_eq!(all.total, all.items.len() as i64, "{step}: documents total, folder {scope:?}");
                let one = store.list_documents(u.id, &filter, page_req(1, 1)).await.unwrap();
                assert_eq!(one.total, all.total, "{step}: same total on a short page, folder {scope:?}");
                if let Some(folder) = scope {
                    let kids = store.children(u.id, folder, ChildSort::NameAsc, page_req(1, 1000)).await.unwrap();
                    assert_eq!(kids.total, kids.items.len() as i64, "{step}: children total of {folder}");
                    let theirs = store.list_documents(other.id, &filter, page_req(1, 10)).await.unwrap();
                    assert_eq!((theirs.total, theirs.items.len()), (0, 0), "{step}: another user's folder");
                }
            }
        }
    };
    check("empty").await;
    let a = upload(&store, u.id, home.id, "a", "sha-a").await;
    let b = upload(&store, u.id, f.id, "b", "sha-b").await;
    let c = upload(&store, u.id, f.id, "c", "sha-c").await;
    upload(&store, other.id, home_of(&store, other.id).await, "theirs", "sha-x").await;
    check("uploads").await;
    assert_eq!(store.list_documents(u.id, &DocumentFilter::default(), page_req(1, 1)).await.unwrap().total, 3);
    store
        .update_document(u.id, a.document.id, &docmerge::domain::metadata::DocumentPatch { folder_id: Some(f.id), ..Default::default() })
        .await
        .unwrap();
    check("move").await;
    store.trash_document(u.id, b.document.id).await.unwrap();
    check("trash").await;
    store.restore_document(u.id, b.document.id).await.unwrap();
    check("restore").await;
    store.trash_folder(u.id, f.id).await.unwrap();
    check("trash folder").await;
    assert_eq!(store.list_documents(u.id, &DocumentFilter::default(), page_req(1, 1)).await.unwrap().total, 0, "all three were in F");
    store.restore_folder(u.id, f.id).await.unwrap();
    check("restore folder").await;
    store.trash_document(u.id, c.document.id).await.unwrap();
    store.purge_document(u.id, c.document.id).await.unwrap();
    check("purge").await;
    store.trash_document(u.id, a.document.id).await.unwrap();
    store.empty_trash(u.id).await.unwrap();
    check("empty trash").await;
}

conformance!(update_move_and_retag_document);
async fn update_move_and_retag_document(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let (home, inbox) = store.root_folders(u.id).await.unwrap();
    let d = upload(&store, u.id, inbox.id, "old title", "s").await;
    let t1 = store.create_tag(u.id, "one", "#111").await.unwrap();
    let t2 = store.create_tag(u.id, "two", "#222").await.unwrap();
    let before = store.latest_event_id().await.unwrap();
    let up = store
        .update_document(
            u.id,
            d.document.id,
            &docmerge::domain::metadata::DocumentPatch {
                title: Some("new title".into()),
                folder_id: Some(home.id),
                tag_ids: Some([t1.id, t2.id].to_vec()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((up.title.as_str(), up.folder_id, up.tags.len()), ("new title", home.id, 2));
    assert_eq!(kinds_of(&events_since(&store, u.id, before).await), vec!["document.moved", "document.updated"]);
    let up = store
        .update_document(
            u.id,
            d.document.id,
            &docmerge::domain::metadata::DocumentPatch { tag_ids: Some([t2.id].to_vec()), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(up.tags.iter().map(|t| t.id).collect::<Vec<_>>(), vec![t2.id]);
    let up = store.change_document_tags(u.id, d.document.id, &[t1.id], &[t2.id]).await.unwrap();
    assert_eq!(up.tags.iter().map(|t| t.id).collect::<Vec<_>>(), vec![t1.id]);
    // Search finds the new title, not the old one.
    assert_eq!(store.search(u.id, &search_q("new"), page_req(1, 10)).await.unwrap().total, 1);
    assert_eq!(store.search(u.id, &search_q("old"), page_req(1, 10)).await.unwrap().total, 0);
}

// ---- tags --------------------------------------------------------------------------------------

conformance!(tags_crud_and_counts);
async fn tags_crud_and_counts(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let home = home(&store, u.id).await;
    let tax = store.create_tag(u.id, "tax", "#f00").await.unwrap();
    assert!(is_conflict(store.create_tag(u.id, "tax", "#0f0").await));
    let bills = store.create_tag(u.id, "Bills", "#00f").await.unwrap();
    let d1 = upload(&store, u.id, home, "d1", "s1").await;
    let d2 = upload(&store, u.id, home, "d2", "s2").await;
    store.change_document_tags(u.id, d1.document.id, &[tax.id, bills.id], &[]).await.unwrap();
    store.change_document_tags(u.id, d2.document.id, &[tax.id], &[]).await.unwrap();
    let tags = store.tags(u.id).await.unwrap();
    assert_eq!(tags.iter().map(|t| (t.name.as_str(), t.document_count)).collect::<Vec<_>>(), vec![("Bills", 1), ("tax", 2)]);
    store.trash_document(u.id, d2.document.id).await.unwrap();
    let tags = store.tags(u.id).await.unwrap();
    assert_eq!(tags.iter().find(|t| t.id == tax.id).unwrap().document_count, 1, "trashed documents are not counted");

    let renamed = store.update_tag(u.id, tax.id, Some("taxes"), Some("#123")).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.color.as_str()), ("taxes", "#123"));
    assert!(is_conflict(store.update_tag(u.id, tax.id, Some("Bills"), None).await));
    assert_eq!(store.update_tag(u.id, tax.id, None, None).await.unwrap().name, "taxes", "a failed rename changes nothing");
    store.delete_tag(u.id, bills.id).await.unwrap();
    assert!(is_not_found(store.delete_tag(u.id, bills.id).await));
    assert!(is_not_found(store.update_tag(u.id, bills.id, Some("x"), None).await));
    assert_eq!(store.document(u.id, d1.document.id).await.unwrap().tags.len(), 1);
    assert!(is_not_found(store.change_document_tags(u.id, d1.document.id, &[bills.id], &[]).await));
}

// ---- isolation ---------------------------------------------------------------------------------

conformance!(users_cannot_see_each_other);
async fn users_cannot_see_each_other(store: Arc<dyn BulkStore>) {
    let a = user(&store, "alice").await;
    let b = user(&store, "bob").await;
    let a_home = home(&store, a.id).await;
    let b_home = home(&store, b.id).await;
    let folder = store.create_folder(a.id, a_home, "secret").await.unwrap();
    let tag = store.create_tag(a.id, "private", "#000").await.unwrap();
    let mut up = new_upload(a.id, folder.id, "secret plans", "sha-a");
    up.tag_names = vec!["private".into()];
    let doc = store.create_upload(up).await.unwrap();
    process(&store, &doc, &["confidential words here"]).await;
    let b_doc = upload(&store, b.id, b_home, "bob doc", "sha-b").await;
    let b_tag = store.create_tag(b.id, "mine", "#fff").await.unwrap();
    let d = doc.document.id;
    let b_before = 0;

    assert!(is_not_found(store.folder(b.id, folder.id).await));
    assert!(is_not_found(store.breadcrumbs(b.id, folder.id).await));
    assert!(is_not_found(store.folder_tags(b.id, folder.id).await));
    assert!(is_not_found(store.children(b.id, folder.id, ChildSort::NameAsc, page_req(1, 10)).await));
    assert!(is_not_found(store.create_folder(b.id, folder.id, "x").await));
    assert!(is_not_found(store.update_folder(b.id, folder.id, Some("x"), None).await));
    let b_folder = store.create_folder(b.id, b_home, "bf").await.unwrap();
    assert!(is_not_found(store.update_folder(b.id, b_folder.id, None, Some(folder.id)).await), "into a's folder");
    assert!(is_not_found(store.trash_folder(b.id, folder.id).await));
    assert!(is_not_found(store.restore_folder(b.id, folder.id).await));
    assert!(is_not_found(store.set_folder_tags(b.id, folder.id, &[], &[]).await));
    assert!(is_not_found(store.create_upload(new_upload(b.id, folder.id, "x", "y")).await));
    assert!(is_not_found(store.document(b.id, d).await));
    assert!(is_not_found(
        store.update_document(b.id, d, &docmerge::domain::metadata::DocumentPatch { title: Some("x".into()), ..Default::default() }).await
    ));
    assert!(is_not_found(
        store
            .update_document(
                b.id,
                b_doc.document.id,
                &docmerge::domain::metadata::DocumentPatch { folder_id: Some(folder.id), ..Default::default() }
            )
            .await
    ));
    assert!(is_not_found(store.change_document_tags(b.id, d, &[], &[]).await));
    assert!(is_not_found(store.change_document_tags(b.id, b_doc.document.id, &[tag.id], &[]).await), "a's tag on b's doc");
    assert!(is_not_found(store.trash_document(b.id, d).await));
    assert!(is_not_found(store.restore_document(b.id, d).await));
    assert!(is_not_found(store.purge_document(b.id, d).await));
    assert!(is_not_found(store.versions(b.id, d).await));
    assert!(is_not_found(store.version(b.id, d, Some(doc.version_id)).await));
    assert!(is_not_found(store.version(b.id, b_doc.document.id, Some(doc.version_id)).await), "a's version through b's doc");
    assert!(is_not_found(store.pages(b.id, d, None).await));
    assert!(is_not_found(store.page(b.id, d, None, 1).await));
    assert!(is_not_found(store.reprocess_document(b.id, d, 3).await));
    assert!(is_not_found(store.update_tag(b.id, tag.id, Some("x"), None).await));
    assert!(is_not_found(store.delete_tag(b.id, tag.id).await));
    assert!(is_not_found(store.jobs_for_owner(b.id, Some(d), page_req(1, 10)).await));
    assert!(is_not_found(store.retry_job(b.id, doc.job_id.expect("a processing job")).await));
    assert!(is_not_found(store.set_folder_tags(b.id, b_home, &[tag.id], &[]).await));

    // Lists and search show nothing of A.
    let docs = store.list_documents(b.id, &DocumentFilter::default(), page_req(1, 50)).await.unwrap();
    assert_eq!(docs.items.iter().map(|x| x.id).collect::<Vec<_>>(), vec![b_doc.document.id]);
    assert_eq!(store.tags(b.id).await.unwrap().iter().map(|t| t.id).collect::<Vec<_>>(), vec![b_tag.id]);
    assert_eq!(store.search(b.id, &search_q("confidential"), page_req(1, 10)).await.unwrap().total, 0);
    assert_eq!(store.search(b.id, &search_q("secret"), page_req(1, 10)).await.unwrap().total, 0);
    assert_eq!(store.search(b.id, &search_q("tag:private"), page_req(1, 10)).await.unwrap().total, 0);
    assert_eq!(store.search(b.id, &search_q("folder:secret"), page_req(1, 10)).await.unwrap().total, 0);
    assert_eq!(store.list_trash(b.id, page_req(1, 10)).await.unwrap().total, 0);
    assert!(store.jobs_for_owner(b.id, None, page_req(1, 50)).await.unwrap().items.iter().all(|j| j.owner_id == Some(b.id)));
    let evs = store.events_after(Some(b.id), b_before, 1000).await.unwrap();
    assert!(!evs.is_empty() && evs.iter().all(|e| e.owner_id == b.id));
    // A still sees everything.
    assert_eq!(store.search(a.id, &search_q("confidential"), page_req(1, 10)).await.unwrap().total, 1);
}

// ---- search ------------------------------------------------------------------------------------

conformance!(search_language);
async fn search_language(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let home = home(&store, u.id).await;
    let receipts = store.create_folder(u.id, home, "Receipts").await.unwrap();
    let mut up = new_upload(u.id, home, "Invoice ACME", "s1");
    up.tag_names = vec!["Tax".into()];
    let d1 = store.create_upload(up).await.unwrap();
    process(&store, &d1, &["The quick brown fox jumps over the lazy dog", "hello world from acme corporation, a@b.example"]).await;
    let d2 = upload(&store, u.id, receipts.id, "Letter", "s2").await;
    process(&store, &d2, &["world peace and draft notes <script>"]).await;
    let d3 = upload(&store, u.id, home, "Unprocessed", "s3").await;
    let _ = d3;

    let ids = |q: &str| {
        let store = store.clone();
        let q = q.to_string();
        async move {
            let r = store.search(u.id, &search_q(&q), page_req(1, 20)).await.unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(r.total as usize, r.items.len(), "{q}: total");
            let mut v: Vec<Id> = r.items.iter().map(|h| h.document.id).collect();
            v.sort();
            v
        }
    };
    let (a, b) = (d1.document.id, d2.document.id);
    let both = {
        let mut v = vec![a, b];
        v.sort();
        v
    };
    assert_eq!(ids("world").await, both);
    assert_eq!(ids("WORLD peace").await, vec![b]);
    assert_eq!(ids("\"hello world\"").await, vec![a]);
    assert_eq!(ids("\"world hello\"").await, Vec::<Id>::new());
    assert_eq!(ids("world -draft").await, vec![a]);
    assert_eq!(ids("world -\"draft notes\"").await, vec![a]);
    assert_eq!(ids("wor*").await, both);
    assert_eq!(ids("corp*").await, vec![a]);
    assert_eq!(ids("corp").await, Vec::<Id>::new(), "no stemming, no implicit prefix");
    assert_eq!(ids("example").await, vec![a], "e-mail addresses are split into words");
    assert_eq!(ids("tag:tax world").await, vec![a]);
    assert_eq!(ids("tag:tax").await, vec![a]);
    assert_eq!(ids("folder:receipts world").await, vec![b]);
    assert_eq!(ids("folder:Receipts").await, vec![b]);
    assert_eq!(ids("before:2000-01-01 world").await, Vec::<Id>::new());
    assert_eq!(ids("after:2000-01-01 world").await, both);
    assert_eq!(ids("after:2999-01-01").await, Vec::<Id>::new());
    assert_eq!(ids("invoice").await, vec![a], "titles are indexed");
    assert_eq!(ids("nothingmatches").await, Vec::<Id>::new());

    let r = store.search(u.id, &search_q("\"hello world\""), page_req(1, 10)).await.unwrap();
    assert_eq!(r.items[0].page_number, Some(2));
    assert!(r.items[0].snippet.contains("<mark>hello"), "{}", r.items[0].snippet);
    assert!(r.items[0].rank > 0.0);
    let r = store.search(u.id, &search_q("peace"), page_req(1, 10)).await.unwrap();
    assert!(r.items[0].snippet.contains("<mark>peace</mark>"), "{}", r.items[0].snippet);
    assert!(r.items[0].snippet.contains("&lt;script&gt;") || !r.items[0].snippet.contains("<script>"), "escaped");
    let r = store.search(u.id, &search_q("invoice"), page_req(1, 10)).await.unwrap();
    assert_eq!(r.items[0].page_number, None, "title hit");
    assert!(r.items[0].snippet.contains("<mark>"), "{}", r.items[0].snippet);
    // One result per document, paginated.
    let p1 = store.search(u.id, &search_q("world"), page_req(1, 1)).await.unwrap();
    let p2 = store.search(u.id, &search_q("world"), page_req(2, 1)).await.unwrap();
    assert_eq!((p1.total, p1.items.len(), p2.items.len()), (2, 1, 1));
    assert_ne!(p1.items[0].document.id, p2.items[0].document.id);
    // Trashed documents are not found.
    store.trash_document(u.id, b).await.unwrap();
    assert_eq!(ids("world").await, vec![a]);
}

conformance!(search_hostile_input);
async fn search_hostile_input(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let home = home(&store, u.id).await;
    let d = upload(&store, u.id, home, "Plain", "s1").await;
    process(&store, &d, &["ordinary text"]).await;
    let hostile = [
        "'; DROP TABLE documents; --",
        "\"; DELETE FROM jobs; --\"",
        "NEAR(a b) OR c AND d NOT e",
        "a:* & !b | c <-> d",
        "!!! &&& ||| ::: ***",
        "' OR '1'='1",
        "\\ \\\\ \\'",
        "(((( ))))",
        "{} [] ^ $ % _",
        "tag:'; DROP TABLE tags; --",
        "folder:%_%",
        "folder:\\",
        "col:body text*",
        "\"unclosed",
        "before:notadate",
        "-",
        "-\"\"",
        "\u{0}\u{1}\u{2}",
    ];
    for q in hostile {
        match docmerge::domain::search::parse_query(q) {
            Err(DomainError::Invalid(_)) => {}
            Err(e) => panic!("{q:?}: unexpected error {e:?}"),
            Ok(parsed) => {
                let r = match store.search(u.id, &parsed, page_req(1, 10)).await {
                    Ok(r) => r,
                    // `a:*` names a custom field there is none of: refused in words (a 400).
                    Err(DomainError::Invalid(m)) if m.contains("no custom field named") => continue,
                    Err(e) => panic!("{q:?}: {e:?}"),
                };
                let browse = !parsed.has_text() && parsed.tags.is_empty() && parsed.folders.is_empty();
                // Nothing searchable left = browsing all documents, by design.
                assert_eq!(r.total, if browse { 1 } else { 0 }, "{q:?}: {parsed:?}");
            }
        }
    }
    // Nothing was harmed.
    assert_eq!(store.search(u.id, &search_q("ordinary"), page_req(1, 10)).await.unwrap().total, 1);
    assert_eq!(store.tags(u.id).await.unwrap().len(), 0);
    store.document(u.id, d.document.id).await.unwrap();
}

// ---- trash, purge ------------------------------------------------------------------------------

conformance!(a_copy_takes_over_the_processed_result_and_keeps_it);
async fn a_copy_takes_over_the_processed_result_and_keeps_it(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let folder = home_of(&store, u.id).await;
    let d1 = upload(&store, u.id, folder, "one", "same-bytes").await;
    process(&store, &d1, &["first page", "second page"]).await;
    let after = store.latest_event_id().await.unwrap();
    let d2 = upload(&store, u.id, folder, "two", "same-bytes").await;
    // Ready at once: no job, the pages, text and searchable PDF of d1's version.
    assert_eq!(d2.job_id, None);
    assert_eq!((d2.document.state, d2.document.duplicate_of), (DocState::Ready, Some(d1.document.id)));
    assert_eq!(d2.document.version.page_count, 2);
    assert_eq!(d2.document.version.searchable_sha256.as_deref(), Some(format!("searchable-{}", d1.version_id).as_str()));
    let pages = store.pages(u.id, d2.document.id, None).await.unwrap();
    assert_eq!(pages.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), vec!["first page", "second page"]);
    assert_eq!(kinds_of(&events_since(&store, u.id, after).await), vec!["document.created", "document.ready"]);
    assert_eq!(store.search(u.id, &search_q("second"), page_req(1, 10)).await.unwrap().total, 2);
    // Purging the original frees none of what the copy took over.
    store.trash_document(u.id, d1.document.id).await.unwrap();
    let freed = store.purge_document(u.id, d1.document.id).await.unwrap();
    assert!(freed.is_empty(), "{freed:?}");
    assert_eq!(store.search(u.id, &search_q("second"), page_req(1, 10)).await.unwrap().total, 1);
    // Another user's identical file is processed on its own.
    let v = user(&store, "victor").await;
    let other = upload(&store, v.id, home_of(&store, v.id).await, "v", "same-bytes").await;
    assert!(other.job_id.is_some() && other.document.state == DocState::Queued);
}

conformance!(trash_restore_purge_and_blobs);
async fn trash_restore_purge_and_blobs(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let (home, inbox) = store.root_folders(u.id).await.unwrap();
    let f = store.create_folder(u.id, home.id, "F").await.unwrap();
    let d1 = upload(&store, u.id, f.id, "one", "shared").await;
    // (Uploaded before d1 is processed, so it gets its own processing, not d1's results.)
    let d2 = upload(&store, u.id, home.id, "two", "shared").await;
    process(&store, &d1, &["first page", "second page"]).await;
    let d3 = upload(&store, u.id, f.id, "three", "only-three").await;

    assert!(is_conflict(store.purge_document(u.id, d1.document.id).await), "not in the trash");
    store.trash_document(u.id, d1.document.id).await.unwrap();
    store.trash_document(u.id, d1.document.id).await.unwrap(); // idempotent
    // Restore into the original folder; if that folder is in the trash, into the Inbox.
    let back = store.restore_document(u.id, d1.document.id).await.unwrap();
    assert_eq!((back.folder_id, back.trashed_at), (f.id, None));
    store.trash_document(u.id, d1.document.id).await.unwrap();
    store.trash_folder(u.id, f.id).await.unwrap();
    let back = store.restore_document(u.id, d1.document.id).await.unwrap();
    assert_eq!(back.folder_id, inbox.id);
    assert_eq!(store.search(u.id, &search_q("first"), page_req(1, 10)).await.unwrap().total, 1);

    store.trash_document(u.id, d1.document.id).await.unwrap();
    let mut freed = store.purge_document(u.id, d1.document.id).await.unwrap();
    freed.sort();
    // "shared" is still used by d2; the searchable PDF and the thumbnails are free.
    let mut expected = vec![
        format!("searchable-{}", d1.version_id),
        page_record(1, "first page").thumbnail_sha256.unwrap(),
        page_record(2, "second page").thumbnail_sha256.unwrap(),
    ];
    expected.sort();
    assert_eq!(freed, expected);
    assert!(is_not_found(store.document(u.id, d1.document.id).await));
    assert_eq!(store.search(u.id, &search_q("first"), page_req(1, 10)).await.unwrap().total, 0);
    assert!(store.job(d1.job_id.expect("a processing job")).await.is_err(), "the document's jobs go with it");
    assert_eq!(store.document(u.id, d2.document.id).await.unwrap().duplicate_of, None, "duplicate_of is cleared");

    // The trash holds folder F (with d3 inside); emptying it frees d3's blob and deletes F.
    let trash = store.list_trash(u.id, page_req(1, 10)).await.unwrap();
    assert_eq!(trash.total, 1);
    let before = store.latest_event_id().await.unwrap();
    let freed = store.empty_trash(u.id).await.unwrap();
    assert_eq!(freed, vec!["only-three".to_string()]);
    assert!(is_not_found(store.folder(u.id, f.id).await));
    assert!(is_not_found(store.document(u.id, d3.document.id).await));
    assert_eq!(kinds_of(&events_since(&store, u.id, before).await), vec!["document.deleted", "folder.deleted"]);
    assert_eq!(store.list_trash(u.id, page_req(1, 10)).await.unwrap().total, 0);
    store.trash_document(u.id, d2.document.id).await.unwrap();
    assert_eq!(store.empty_trash(u.id).await.unwrap(), vec!["shared".to_string()]);
}

// ---- the job table -----------------------------------------------------------------------------

const W1: &str = "worker-1";
const W2: &str = "worker-2";

/// A job for the queue tests: `name` goes into the payload; "other" and "l" are of their own
/// kinds (the tests claim by kind), every other name is a `test.append` job.
fn job(name: &str) -> NewJob {
    NewJob::new(spec_of(name))
}

fn spec_of(name: &str) -> JobSpec {
    match name {
        "other" => JobSpec::Prune(NoArgs {}),
        "l" | "q" => JobSpec::Noop(NoArgs {}),
        _ => JobSpec::TestAppend(TestAppendArgs { path: name.to_string(), ..Default::default() }),
    }
}

/// The kind a `job(name)` has, as `claim` takes it.
fn kind(name: &str) -> String {
    spec_of(name).kind().to_string()
}

conformance!(claim_order_priority_and_run_after);
async fn claim_order_priority_and_run_after(store: Arc<dyn BulkStore>) {
    let now = now_millis();
    let ids = store
        .enqueue(vec![
            job("t").priority(0),
            job("t").priority(5),
            job("t").priority(1),
            job("t").priority(9).run_after(now + 60_000),
            job("other").priority(100),
        ])
        .await
        .unwrap();
    let ids: Vec<Id> = ids.into_iter().map(Option::unwrap).collect();
    let got = store.claim(W1, &[kind("t")], 10, 30_000).await.unwrap();
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![ids[1], ids[2], ids[0]], "priority order, future job skipped");
    assert!(got.iter().all(|j| j.attempt == 1 && j.lease_seq == 1 && j.spec == spec_of("t")));
    assert!(store.claim(W1, &[kind("t")], 10, 30_000).await.unwrap().is_empty());
    let other = store.claim(W1, &[], 10, 30_000).await.unwrap();
    assert_eq!(other.iter().map(|j| j.id).collect::<Vec<_>>(), vec![ids[4]], "no kinds = all kinds");
    assert_eq!(store.job(ids[3]).await.unwrap().state, JobState::Queued);
    // Limit.
    store.enqueue(vec![job("l"), job("l"), job("l")]).await.unwrap();
    assert_eq!(store.claim(W1, &[kind("l")], 2, 30_000).await.unwrap().len(), 2);
    assert_eq!(store.claim(W1, &[kind("l")], 2, 30_000).await.unwrap().len(), 1);
    let counts = store.job_counts().await.unwrap();
    assert!(counts.contains(&(kind("t"), "running".to_string(), 3)));
    assert!(counts.contains(&(kind("t"), "queued".to_string(), 1)));
}

conformance!(unique_key_dedup);
async fn unique_key_dedup(store: Arc<dyn BulkStore>) {
    let r = store.enqueue(vec![job("u").unique("key-1"), job("u").unique("key-1"), job("u").unique("key-2")]).await.unwrap();
    assert!(r[0].is_some() && r[1].is_none() && r[2].is_some());
    assert_eq!(store.enqueue(vec![job("u").unique("key-1")]).await.unwrap(), vec![None]);
    let claimed = store.claim(W1, &[kind("u")], 1, 30_000).await.unwrap();
    assert_eq!(claimed[0].id, r[0].unwrap());
    assert_eq!(store.enqueue(vec![job("u").unique("key-1")]).await.unwrap(), vec![None], "still running");
    assert_eq!(store.complete(&[claimed[0].lease(W1)]).await.unwrap(), vec![true]);
    let again = store.enqueue(vec![job("u").unique("key-1")]).await.unwrap();
    assert!(again[0].is_some() && again[0] != r[0], "allowed again once done");
}

conformance!(fail_retries_with_backoff_then_fails);
async fn fail_retries_with_backoff_then_fails(store: Arc<dyn BulkStore>) {
    let id = store.enqueue(vec![job("f").max_attempts(2)]).await.unwrap()[0].unwrap();
    let j = store.claim(W1, &[], 1, 30_000).await.unwrap().pop().unwrap();
    let t0 = now_millis();
    let out = store.fail(&j.lease(W1), "boom 1", false).await.unwrap().expect("our lease");
    let FailOutcome::Retry { run_after } = out else { panic!("expected a retry") };
    assert!(run_after >= t0 + 15_000, "backoff of at least ~16 s");
    let v = store.job(id).await.unwrap();
    assert_eq!((v.state, v.attempts, v.last_error.as_deref(), v.run_after), (JobState::Queued, 1, Some("boom 1"), run_after));
    assert!(store.claim(W1, &[], 1, 30_000).await.unwrap().is_empty(), "not due yet");
    assert!(store.fail(&j.lease(W1), "again", false).await.unwrap().is_none(), "a finished lease cannot fail twice");

    // Permanent failure, regardless of attempts left.
    let id2 = store.enqueue(vec![job("p").max_attempts(5)]).await.unwrap()[0].unwrap();
    let j2 = store.claim(W1, &[kind("p")], 1, 30_000).await.unwrap().pop().unwrap();
    assert!(matches!(store.fail(&j2.lease(W1), "bad input", true).await.unwrap(), Some(FailOutcome::Failed)));
    let v2 = store.job(id2).await.unwrap();
    assert_eq!((v2.state, v2.attempts, v2.last_error.as_deref()), (JobState::Failed, 1, Some("bad input")));

    // Out of attempts: an expired lease is re-queued by the reaper (attempt 1), the second
    // attempt fails for good.
    let id3 = store.enqueue(vec![job("m").max_attempts(2)]).await.unwrap()[0].unwrap();
    let a1 = store.claim(W1, &[kind("m")], 1, -1).await.unwrap().pop().unwrap();
    assert_eq!(a1.attempt, 1);
    assert_eq!(store.reap_expired().await.unwrap(), 1);
    let a2 = store.claim(W1, &[kind("m")], 1, 30_000).await.unwrap().pop().unwrap();
    assert_eq!((a2.attempt, a2.lease_seq), (2, 2));
    assert!(matches!(store.fail(&a2.lease(W1), "boom 2", false).await.unwrap(), Some(FailOutcome::Failed)));
    let v3 = store.job(id3).await.unwrap();
    assert_eq!((v3.state, v3.attempts, v3.last_error.as_deref()), (JobState::Failed, 2, Some("boom 2")));
}

conformance!(release_gives_the_attempt_back);
async fn release_gives_the_attempt_back(store: Arc<dyn BulkStore>) {
    let id = store.enqueue(vec![job("r")]).await.unwrap()[0].unwrap();
    let j = store.claim(W1, &[], 1, 30_000).await.unwrap().pop().unwrap();
    assert!(store.release(&j.lease(W1)).await.unwrap());
    assert!(!store.release(&j.lease(W1)).await.unwrap(), "only once");
    let v = store.job(id).await.unwrap();
    assert_eq!((v.state, v.attempts), (JobState::Queued, 0));
    let j2 = store.claim(W2, &[], 1, 30_000).await.unwrap().pop().unwrap();
    assert_eq!((j2.id, j2.attempt, j2.lease_seq), (id, 1, 2));
    assert_eq!(store.complete(&[j.lease(W1)]).await.unwrap(), vec![false], "the released lease is dead");
    assert_eq!(store.complete(&[j2.lease(W2)]).await.unwrap(), vec![true]);
}

conformance!(heartbeat_extends_the_lease);
async fn heartbeat_extends_the_lease(store: Arc<dyn BulkStore>) {
    let id = store.enqueue(vec![job("h")]).await.unwrap()[0].unwrap();
    // Claimed with an already expired lease, then extended: the reaper must leave it alone.
    let j = store.claim(W1, &[], 1, -1000).await.unwrap().pop().unwrap();
    assert_eq!(store.heartbeat(&[j.lease(W1)], 60_000).await.unwrap(), vec![true]);
    assert_eq!(store.reap_expired().await.unwrap(), 0);
    assert_eq!(store.job(id).await.unwrap().state, JobState::Running);
    // Without the heartbeat it would have been reaped.
    let j2 = store.claim(W1, &[], 1, -1000).await.unwrap();
    assert!(j2.is_empty());
    let id2 = store.enqueue(vec![job("h")]).await.unwrap()[0].unwrap();
    store.claim(W1, &[], 1, -1000).await.unwrap().pop().unwrap();
    assert_eq!(store.reap_expired().await.unwrap(), 1);
    assert_eq!(store.job(id2).await.unwrap().state, JobState::Queued);
    assert_eq!(store.complete(&[j.lease(W1)]).await.unwrap(), vec![true]);
}

conformance!(stale_leases_are_fenced);
async fn stale_leases_are_fenced(store: Arc<dyn BulkStore>) {
    let id = store.enqueue(vec![job("x")]).await.unwrap()[0].unwrap();
    let stale = store.claim(W1, &[], 1, -1).await.unwrap().pop().unwrap();
    assert_eq!(store.reap_expired().await.unwrap(), 1);
    let v = store.job(id).await.unwrap();
    assert_eq!((v.state, v.attempts), (JobState::Queued, 1));
    assert!(v.last_error.unwrap().contains("lease"));
    let fresh = store.claim(W2, &[], 1, 30_000).await.unwrap().pop().unwrap();
    assert_eq!((fresh.id, fresh.attempt, fresh.lease_seq), (id, 2, 2));
    let old = stale.lease(W1);
    assert_eq!(store.heartbeat(std::slice::from_ref(&old), 60_000).await.unwrap(), vec![false]);
    assert_eq!(store.complete(std::slice::from_ref(&old)).await.unwrap(), vec![false]);
    assert!(store.fail(&old, "late", false).await.unwrap().is_none());
    assert!(!store.release(&old).await.unwrap());
    // Even the same worker id with the old sequence number is fenced.
    let same_worker_old = docmerge::domain::jobs::Lease { job_id: id, worker_id: W2.into(), seq: 1 };
    assert_eq!(store.complete(&[same_worker_old]).await.unwrap(), vec![false]);
    assert_eq!(store.job(id).await.unwrap().state, JobState::Running);
    // The processing methods are fenced too.
    let u = user(&store, "alice").await;
    let up = upload(&store, u.id, home(&store, u.id).await, "doc", "sha").await;
    let pj = store.claim(W1, &[kinds::PROCESS_VERSION.to_string()], 1, -1).await.unwrap().pop().unwrap();
    store.reap_expired().await.unwrap();
    let pj2 = store.claim(W2, &[kinds::PROCESS_VERSION.to_string()], 1, 30_000).await.unwrap().pop().unwrap();
    assert!(!store.begin_version(&pj.lease(W1), up.version_id, 1, vec![page_job(u.id, up.document.id, up.version_id, 1)]).await.unwrap());
    assert_eq!(store.document(u.id, up.document.id).await.unwrap().state, DocState::Queued, "a fenced begin changes nothing");
    assert!(store.begin_version(&pj2.lease(W2), up.version_id, 1, vec![page_job(u.id, up.document.id, up.version_id, 1)]).await.unwrap());

    assert_eq!(store.complete(&[fresh.lease(W2)]).await.unwrap(), vec![true]);
    assert_eq!(store.job(id).await.unwrap().state, JobState::Done);
}

conformance!(reaper_fails_jobs_out_of_attempts);
async fn reaper_fails_jobs_out_of_attempts(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let mut up = new_upload(u.id, home(&store, u.id).await, "doc", "sha");
    up.max_attempts = 1;
    let out = store.create_upload(up).await.unwrap();
    store.claim(W1, &[], 1, -1).await.unwrap().pop().unwrap();
    let before = store.latest_event_id().await.unwrap();
    assert_eq!(store.reap_expired().await.unwrap(), 1, "one job reaped");
    let v = store.job(out.job_id.expect("a processing job")).await.unwrap();
    assert_eq!((v.state, v.attempts), (JobState::Failed, 1));
    assert!(v.last_error.unwrap().contains("lease expired"));
    let d = store.document(u.id, out.document.id).await.unwrap();
    assert_eq!(d.state, DocState::Failed);
    assert!(d.error.is_some());
    assert_eq!(kinds_of(&events_since(&store, u.id, before).await), vec!["document.failed"]);
    assert_eq!(store.reap_expired().await.unwrap(), 0);

    // retry_job brings a failed job back with fresh attempts; only failed jobs can be retried.
    let r = store.retry_job(u.id, out.job_id.expect("a processing job")).await.unwrap();
    assert_eq!((r.state, r.attempts), (JobState::Queued, 0));
    assert_eq!(store.document(u.id, out.document.id).await.unwrap().state, DocState::Queued);
    assert!(is_conflict(store.retry_job(u.id, out.job_id.expect("a processing job")).await));
}

// ---- processing and events ---------------------------------------------------------------------

conformance!(processing_emits_progress_and_ready);
async fn processing_emits_progress_and_ready(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let up = upload(&store, u.id, home(&store, u.id).await, "three pages", "sha").await;
    let before = store.latest_event_id().await.unwrap();
    process(&store, &up, &["alpha", "", "gamma"]).await;
    let evs = events_since(&store, u.id, before).await;
    let progress: Vec<(i64, i64)> = evs
        .iter()
        .filter(|e| e.kind() == "job.progress")
        .map(|e| (e.data.payload()["page"].as_i64().unwrap(), e.data.payload()["pages"].as_i64().unwrap()))
        .collect();
    assert_eq!(progress, vec![(1, 3), (2, 3), (3, 3)]);
    let started: Vec<&Event> = evs.iter().filter(|e| e.kind() == "document.processing").collect();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].data.payload()["pages"], json!(3));
    assert_eq!(evs.last().unwrap().kind(), "document.ready");
    assert_eq!(evs.last().unwrap().data.payload()["page_count"], json!(3));
    assert!(evs.windows(2).all(|w| w[0].id < w[1].id));
    let d = store.document(u.id, up.document.id).await.unwrap();
    assert_eq!((d.state, d.version.state, d.version.page_count, d.version.pages_done), (DocState::Ready, DocState::Ready, 3, 3));
    assert_eq!(d.version.searchable_sha256, Some(format!("searchable-{}", up.version_id)));
    let pages = store.pages(u.id, up.document.id, None).await.unwrap();
    assert_eq!(pages.iter().map(|p| (p.number, p.text.as_str())).collect::<Vec<_>>(), vec![(1, "alpha"), (2, ""), (3, "gamma")]);
    assert_eq!(store.page(u.id, up.document.id, None, 3).await.unwrap().text, "gamma");
    assert!(is_not_found(store.page(u.id, up.document.id, None, 4).await));
    assert_eq!(store.page_records(up.version_id).await.unwrap().len(), 3);
    assert_eq!(store.version_by_id(up.version_id).await.unwrap().state, DocState::Ready);
    let j = store.job(up.job_id.expect("a processing job")).await.unwrap();
    assert_eq!((j.state, j.progress_done, j.progress_total), (JobState::Done, Some(3), Some(3)));
    assert_eq!(store.totals().await.unwrap().pages, 3);
    assert_eq!(store.search(u.id, &search_q("gamma"), page_req(1, 5)).await.unwrap().items[0].page_number, Some(3));

    // Reprocessing: queued again, old page index dropped, a second request is a conflict.
    let job2 = store.reprocess_document(u.id, up.document.id, 3).await.unwrap();
    assert_ne!(job2, up.job_id.expect("a processing job"));
    assert_eq!(store.document(u.id, up.document.id).await.unwrap().state, DocState::Queued);
    assert!(is_conflict(store.reprocess_document(u.id, up.document.id, 3).await));
    assert_eq!(store.search(u.id, &search_q("gamma"), page_req(1, 5)).await.unwrap().total, 0);
}

conformance!(fail_version_and_empty_documents);
async fn fail_version_and_empty_documents(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let h = home(&store, u.id).await;
    let up = upload(&store, u.id, h, "broken", "sha").await;
    let j = claim_one(&store, kinds::PROCESS_VERSION).await;
    let pages: Vec<NewJob> = (1..=3).map(|n| page_job(u.id, up.document.id, up.version_id, n)).collect();
    assert!(store.begin_version(&j.lease("test-worker"), up.version_id, 3, pages).await.unwrap());
    let before = store.latest_event_id().await.unwrap();
    store.fail_version(up.version_id, "page 2 cannot be read").await.unwrap();
    let evs = events_since(&store, u.id, before).await;
    assert_eq!(kinds_of(&evs), vec!["document.failed"]);
    assert_eq!(evs[0].data.payload()["error"], json!("page 2 cannot be read"));
    let d = store.document(u.id, up.document.id).await.unwrap();
    assert_eq!((d.state, d.error.as_deref(), d.version.state), (DocState::Failed, Some("page 2 cannot be read"), DocState::Failed));
    assert!(store.claim(W1, &[kinds::PROCESS_PAGE.to_string()], 10, 30_000).await.unwrap().is_empty(), "queued page jobs are failed");

    // A file without pages fails in words instead of hanging in `processing`.
    let empty = upload(&store, u.id, h, "empty", "sha-empty").await;
    let j = claim_one(&store, kinds::PROCESS_VERSION).await;
    assert!(store.begin_version(&j.lease("test-worker"), empty.version_id, 0, vec![]).await.unwrap());
    let d = store.document(u.id, empty.document.id).await.unwrap();
    assert_eq!(d.state, DocState::Failed);
    assert!(d.error.is_some());
    assert_eq!(store.job(j.id).await.unwrap().state, JobState::Done);
}

conformance!(events_order_owner_filter_and_prune);
async fn events_order_owner_filter_and_prune(store: Arc<dyn BulkStore>) {
    let a = user(&store, "alice").await;
    let b = user(&store, "bob").await;
    let start = store.latest_event_id().await.unwrap();
    let ah = home(&store, a.id).await;
    let bh = home(&store, b.id).await;
    store.create_folder(a.id, ah, "a1").await.unwrap();
    store.create_folder(b.id, bh, "b1").await.unwrap();
    store.create_tag(a.id, "t", "#000").await.unwrap();
    let all = store.events_after(None, start, 100).await.unwrap();
    assert_eq!(kinds_of(&all), vec!["folder.created", "folder.created", "tag.created"]);
    assert_eq!(all.iter().map(|e| e.owner_id).collect::<Vec<_>>(), vec![a.id, b.id, a.id]);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(store.latest_event_id().await.unwrap(), all.last().unwrap().id);
    let only_a = store.events_after(Some(a.id), start, 100).await.unwrap();
    assert_eq!(kinds_of(&only_a), vec!["folder.created", "tag.created"]);
    let limited = store.events_after(None, start, 2).await.unwrap();
    assert_eq!(limited.len(), 2);
    let rest = store.events_after(None, limited[1].id, 100).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), vec![all[2].id]);
    assert_eq!(all[0].data.payload()["name"], json!("a1"));
    assert!(all[0].folder_id.is_some() && all[0].created_at > 0);

    // Prune: old events and old finished jobs go; queued jobs stay.
    let done = store.enqueue(vec![job("d"), job("q")]).await.unwrap();
    let c = store.claim(W1, &[kind("d")], 1, 30_000).await.unwrap().pop().unwrap();
    store.complete(&[c.lease(W1)]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let n = store.prune_events(now_millis() + 1).await.unwrap();
    assert_eq!(n, 4, "3 events + 1 done job");
    assert!(store.events_after(None, 0, 100).await.unwrap().is_empty());
    assert!(store.job(done[0].unwrap()).await.is_err());
    assert_eq!(store.job(done[1].unwrap()).await.unwrap().state, JobState::Queued);
}

// ---- PostgreSQL only: losing the server's connections --------------------------------------

/// Every connection of the store (pool and LISTEN) is killed server-side, as in a restart:
/// the pool must replace them and the listener must reconnect and wake waiters again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_lost_connections() {
    run_named(Backend::Postgres, 4, |store: Arc<dyn BulkStore>, db: String| async move {
        store.ping().await.unwrap();
        // The LISTEN connection is up once a notification wakes a waiter.
        wait_woken_by_enqueue(&store).await;
        let admin = pg_admin().await;
        let killed: i64 = admin
            .query_one(
                "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()) k",
                &[&db],
            )
            .await
            .unwrap()
            .get(0);
        assert!(killed >= 2, "pool + LISTEN connections, got {killed}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // The pool recycles the dead connections; at most a call already in flight fails.
        let mut ok = false;
        for _ in 0..5 {
            if store.ping().await.is_ok() && store.count_users().await.is_ok() {
                ok = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(ok, "the pool did not recover");
        user(&store, "after-restart").await;
        // The listener reconnects (backoff starts at 250 ms) and wakes waiters again.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        wait_woken_by_enqueue(&store).await;
    })
    .await;
}

async fn wait_woken_by_enqueue(store: &Arc<dyn BulkStore>) {
    use docmerge::domain::store::WakeChannel;
    let s2 = store.clone();
    let waiter = tokio::spawn(async move {
        let t = std::time::Instant::now();
        s2.wait_for_change(WakeChannel::Jobs, std::time::Duration::from_secs(20)).await;
        t.elapsed()
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    store.enqueue(vec![job("wake")]).await.unwrap();
    let waited = waiter.await.unwrap();
    assert!(waited < std::time::Duration::from_secs(10), "not woken by NOTIFY (waited {waited:?})");
}

conformance!(search_ranks_the_newest_matches_of_a_very_common_word);
/// A word on more pages than `RANKED_MATCHES`: only the newest matches are ranked, the result
/// says so, paging stays consistent, and another user's older match is still found (the bound
/// is per user, not per instance).
async fn search_ranks_the_newest_matches_of_a_very_common_word(store: Arc<dyn BulkStore>) {
    use docmerge::domain::search::RANKED_MATCHES;
    let bob = user(&store, "bob").await;
    let bob_home = home(&store, bob.id).await;
    let old = upload(&store, bob.id, bob_home, "Bob's letter", "b1").await;
    process(&store, &old, &["the quarterly invoice from the landlord"]).await;

    let alice = user(&store, "alice").await;
    let home = home(&store, alice.id).await;
    let n = RANKED_MATCHES as usize + 200;
    // Every page has "invoice"; one in fifty also "overdue"; the newest has "overdue" twice.
    let docs = letters(home, n, |i| {
        if i == n - 1 {
            "overdue overdue invoice".to_string()
        } else if i % 50 == 0 {
            format!("invoice {i} overdue")
        } else {
            format!("invoice number {i}")
        }
    });
    let ids = store.bulk_load_for_bench(alice.id, docs).await.unwrap();

    let common = store.search(alice.id, &search_q("invoice"), page_req(1, 50)).await.unwrap();
    assert!(common.truncated, "{} matches are more than {RANKED_MATCHES}", n);
    assert_eq!(common.total, RANKED_MATCHES);
    assert_eq!(common.items.len(), 50);
    // Only the newest RANKED_MATCHES documents were ranked.
    let oldest_ranked = ids[n - RANKED_MATCHES as usize];
    assert!(common.items.iter().all(|h| h.document.id >= oldest_ranked && h.document.owner_id == alice.id));
    // Paging through: no document twice, none missing.
    let mut seen = std::collections::HashSet::new();
    for p in 1..=(RANKED_MATCHES as u32).div_ceil(100) {
        let r = store.search(alice.id, &search_q("invoice"), page_req(p, 100)).await.unwrap();
        for h in r.items {
            assert!(seen.insert(h.document.id), "document {} on two pages", h.document.id);
        }
    }
    assert_eq!(seen.len() as i64, RANKED_MATCHES);

    // A rarer word is ranked over all its matches; the best (two hits on a short page) first.
    let rare = store.search(alice.id, &search_q("overdue"), page_req(1, 50)).await.unwrap();
    assert!(!rare.truncated);
    assert_eq!(rare.total as usize, n.div_ceil(50) + 1);
    assert_eq!(rare.items[0].document.id, ids[n - 1]);

    // Bob's only match is older than all of Alice's pages: still found, and only his.
    let bobs = store.search(bob.id, &search_q("invoice"), page_req(1, 50)).await.unwrap();
    assert_eq!((bobs.total, bobs.truncated), (1, false));
    assert_eq!(bobs.items[0].document.id, old.document.id);
}

conformance!(search_skips_trashed_matches_among_the_newest);
/// The newest matches are in the trash: search reads past them (more than one batch of index
/// rows) and finds every visible match, ranked, and none of the trashed ones.
async fn search_skips_trashed_matches_among_the_newest(store: Arc<dyn BulkStore>) {
    use docmerge::domain::search::RANKED_MATCHES;
    let alice = user(&store, "alice").await;
    let home = home(&store, alice.id).await;
    let n = RANKED_MATCHES as usize + 200;
    let ids = store.bulk_load_for_bench(alice.id, letters(home, n, |i| format!("invoice number {i}"))).await.unwrap();
    let trashed = 300;
    for id in &ids[n - trashed..] {
        store.trash_document(alice.id, *id).await.unwrap();
    }
    let r = store.search(alice.id, &search_q("invoice"), page_req(1, 50)).await.unwrap();
    assert!(!r.truncated, "{} visible matches are not more than {RANKED_MATCHES}", n - trashed);
    assert_eq!(r.total as usize, n - trashed);
    assert_eq!(r.items.len(), 50);
    let first_trashed = ids[n - trashed];
    assert!(r.items.iter().all(|h| h.document.id < first_trashed && h.document.trashed_at.is_none()));
}

conformance!(search_keeps_the_newest_title_matches);
/// A title word on more documents than are ranked, the owner's documents interleaved with
/// another user's that match too (PostgreSQL reads titles in windows of document ids): the
/// result holds exactly the newest of the owner's matches, none of the other user's; a title
/// word on a handful of old documents is still found among many newer ones.
async fn search_keeps_the_newest_title_matches(store: Arc<dyn BulkStore>) {
    use docmerge::domain::search::RANKED_MATCHES;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let (a_home, b_home) = (home(&store, alice.id).await, home(&store, bob.id).await);
    let titled = |folder: Id, n: usize, title: &dyn Fn(usize) -> String| {
        let mut docs = letters(folder, n, |i| format!("body text {i}"));
        for (i, d) in docs.iter_mut().enumerate() {
            d.title = title(i);
        }
        docs
    };
    let mut alice_memos = Vec::new();
    for round in 0..6 {
        let docs = titled(a_home, 250, &|i| if i % 5 == 0 { format!("Note {round} {i}") } else { format!("Memo {round} {i}") });
        let ids = store.bulk_load_for_bench(alice.id, docs).await.unwrap();
        alice_memos.extend(ids.iter().enumerate().filter(|(i, _)| i % 5 != 0).map(|(_, id)| *id));
        store.bulk_load_for_bench(bob.id, titled(b_home, 100, &|i| format!("Memo of bob {round} {i}"))).await.unwrap();
    }
    store.analyze_after_bulk_load().await.unwrap();
    assert!(alice_memos.len() as i64 > RANKED_MATCHES);
    let newest: Vec<Id> = alice_memos.iter().rev().copied().collect();
    let r = store.search(alice.id, &search_q("memo"), page_req(1, 50)).await.unwrap();
    assert!(r.truncated, "{} title matches are more than {RANKED_MATCHES}", alice_memos.len());
    assert_eq!(r.total, RANKED_MATCHES);
    assert_eq!(r.items.iter().map(|h| h.document.id).collect::<Vec<_>>(), newest[..50]);
    let last = store.search(alice.id, &search_q("memo"), page_req(20, 50)).await.unwrap();
    assert_eq!(last.items.iter().map(|h| h.document.id).collect::<Vec<_>>(), newest[950..1000]);

    let rare = store.search(alice.id, &search_q("note"), page_req(1, 50)).await.unwrap();
    assert!(!rare.truncated);
    assert_eq!(rare.total, 300);
    let bob_sees = store.search(bob.id, &search_q("memo"), page_req(1, 50)).await.unwrap();
    assert_eq!(bob_sees.total, 600);
    assert!(bob_sees.items.iter().all(|h| h.document.owner_id == bob.id));
}

/// `n` one-page documents "Letter i" in `folder`, oldest first, page i's text from `text`.
fn letters(folder: Id, n: usize, text: impl Fn(usize) -> String) -> Vec<SyntheticDoc> {
    (0..n)
        .map(|i| SyntheticDoc {
            folder_id: folder,
            title: format!("Letter {i}"),
            filename: format!("l{i}.pdf"),
            sha256: format!("{i:064x}"),
            size: 100,
            created_at: 1_700_000_000_000 + i as i64,
            tag_ids: vec![],
            pages: vec![text(i)],
            meta: Default::default(),
        })
        .collect()
}

conformance!(deep_pages_stay_exact_after_changes);
/// Pages deep in a long list (PostgreSQL reads them from remembered seek points, both backends
/// from the nearer end) hold exactly the rows a single long page holds at that position, in
/// every order, also right after a rename, a trash and new documents.
async fn deep_pages_stay_exact_after_changes(store: Arc<dyn BulkStore>) {
    let alice = user(&store, "alice").await;
    let home = home(&store, alice.id).await;
    let n = 1300;
    let ids = store.bulk_load_for_bench(alice.id, letters(home, n, |i| format!("page {i}"))).await.unwrap();
    let check = |step: &'static str| {
        let store = store.clone();
        async move {
            for sort in [DocSort::TitleAsc, DocSort::TitleDesc, DocSort::CreatedDesc, DocSort::CreatedAsc] {
                for folder in [None, Some(home)] {
                    let f = DocumentFilter { sort, folder_id: folder, ..Default::default() };
                    let all: Vec<Id> =
                        store.list_documents(alice.id, &f, page_req(1, 5000)).await.unwrap().items.iter().map(|d| d.id).collect();
                    for p in 1..=(all.len() as u32).div_ceil(100) {
                        let got = store.list_documents(alice.id, &f, page_req(p, 100)).await.unwrap();
                        let want = &all[((p - 1) * 100) as usize..(p as usize * 100).min(all.len())];
                        let got: Vec<Id> = got.items.iter().map(|d| d.id).collect();
                        assert_eq!(got, want, "{step}: {sort:?} folder {folder:?} page {p}");
                    }
                }
            }
            let all: Vec<Id> =
                store.children(alice.id, home, ChildSort::NameAsc, page_req(1, 5000)).await.unwrap().items.iter().map(child_id).collect();
            for p in [6u32, 9, 13] {
                let got: Vec<Id> = store
                    .children(alice.id, home, ChildSort::NameAsc, page_req(p, 100))
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .map(child_id)
                    .collect();
                assert_eq!(got, &all[((p - 1) * 100) as usize..(p as usize * 100).min(all.len())], "{step}: children page {p}");
            }
        }
    };
    check("filled").await;
    // A title from deep in the list moves to the front; a document leaves; two arrive.
    store
        .update_document(
            alice.id,
            ids[n - 700],
            &docmerge::domain::metadata::DocumentPatch { title: Some("AAA first now".into()), ..Default::default() },
        )
        .await
        .unwrap();
    check("renamed").await;
    store.trash_document(alice.id, ids[n - 600]).await.unwrap();
    check("trashed").await;
    upload(&store, alice.id, home, "Letter 0500b", "sha-new-1").await;
    upload(&store, alice.id, home, "zzz last", "sha-new-2").await;
    check("uploaded").await;
}

fn child_id(c: &ChildItem) -> Id {
    match c {
        ChildItem::Folder(f, _) => f.id,
        ChildItem::Document(d) => d.id,
    }
}

conformance!(an_identical_upload_between_purge_and_sweep_keeps_its_file);
/// Files are shared by content across owners. Alice purges her letter; before the sweep the
/// purge queued runs, Bob uploads the same bytes. The sweep must leave the file (Bob's row
/// refers to it); once Bob purges too, the next sweep deletes it.
async fn an_identical_upload_between_purge_and_sweep_keeps_its_file(store: Arc<dyn BulkStore>) {
    use docmerge::domain::jobs::SweepArgs;
    use docmerge::storage::{BlobStore, SweepReport};
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(dir.path()).unwrap();
    let grace = std::time::Duration::from_secs(60);
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let (alice, bob) = (user(&store, "alice").await, user(&store, "bob").await);
    let (a_home, b_home) = (home(&store, alice.id).await, home(&store, bob.id).await);

    let sha = blobs.put_bytes(b"%PDF-1.4 the same letter").unwrap();
    let a = upload(&store, alice.id, a_home, "Letter", &sha).await;
    store.trash_document(alice.id, a.document.id).await.unwrap();
    assert_eq!(store.purge_document(alice.id, a.document.id).await.unwrap(), vec![sha.clone()]);
    let sweep = claim_one(&store, kinds::SWEEP_BLOBS).await;
    assert_eq!(sweep.spec, JobSpec::SweepBlobs(SweepArgs { candidates: Some(vec![sha.clone()]) }), "queued by the purge");
    assert!(blobs.exists(&sha), "a purge deletes no file itself");

    // Bob's identical upload: the file is reused (touched), then his row commits.
    assert_eq!(blobs.put_bytes(b"%PDF-1.4 the same letter").unwrap(), sha);
    let b = upload(&store, bob.id, b_home, "Letter", &sha).await;
    std::fs::File::open(blobs.path(&sha)).unwrap().set_modified(long_ago).unwrap(); // the grace has passed
    let JobSpec::SweepBlobs(SweepArgs { candidates: Some(candidates) }) = sweep.spec else { unreachable!() };
    let report = blobs.sweep(candidates.clone(), grace, |shas| store.referenced_blobs(shas)).await.unwrap();
    assert_eq!(report, SweepReport::default(), "still referenced: not even set aside");
    assert!(blobs.exists(&sha), "Bob's original is there");
    assert_eq!(store.referenced_blobs(vec![sha.clone(), "0".repeat(64)]).await.unwrap(), vec![sha.clone()]);

    // Bob purges too: now nothing refers to the file and the sweep deletes it.
    store.trash_document(bob.id, b.document.id).await.unwrap();
    assert_eq!(store.purge_document(bob.id, b.document.id).await.unwrap(), vec![sha.clone()]);
    std::fs::File::open(blobs.path(&sha)).unwrap().set_modified(long_ago).unwrap();
    let report = blobs.sweep(candidates, grace, |shas| store.referenced_blobs(shas)).await.unwrap();
    assert_eq!(report, SweepReport { deleted: 1, kept: 0 });
    assert!(!blobs.exists(&sha));
}
