//! Path templates conformance (#23), on SQLite and PostgreSQL: templates per owner, documents
//! placed in the folder tree by their metadata (folders made as needed, shared by documents
//! that render the same path, a fallback for what is missing), placed again by the job when
//! something the template reads changes (and only then), templates given by a document type
//! and by a matching rule, a hand move that detaches, renames that follow, the job's lease.

use std::sync::Arc;

use docmerge::domain::bulk::BulkChunk;
use docmerge::domain::jobs::{JobSpec, kinds};
use docmerge::domain::matching::{Algorithm, MatchRule, Prepared, RuleSet, TargetKind, plan};
use docmerge::domain::metadata::{DocumentPatch, FieldKind, LabelKind, SelectOption};
use docmerge::domain::path_templates::TemplateSpec;
use docmerge::domain::store::BulkStore;
use docmerge::domain::*;
use serde_json::json;

use crate::common::*;

fn spec(name: &str, template: &str) -> TemplateSpec {
    TemplateSpec { name: name.into(), template: template.into(), fallback: "Unknown".into(), filename: None }.validate().unwrap()
}

/// Queued placement jobs.
async fn queued(store: &Arc<dyn BulkStore>) -> usize {
    store
        .job_counts()
        .await
        .unwrap()
        .iter()
        .filter(|(k, s, _)| k == kinds::PLACE_DOCUMENTS && s == "queued")
        .map(|(_, _, n)| *n as usize)
        .sum()
}

/// What the `place_documents` job does (its handler is this loop over small chunks; the API
/// test runs the real one): returns how many documents moved.
async fn place(store: &Arc<dyn BulkStore>, owner: Id) -> usize {
    let job = claim_one(store, kinds::PLACE_DOCUMENTS).await;
    let lease = job.lease(WORKER);
    let mut moved = 0;
    loop {
        let b = store.place_due(owner, 2, &lease).await.unwrap().expect("our lease");
        moved += b.moved;
        if !b.more {
            break;
        }
    }
    assert_eq!(store.complete(&[lease]).await.unwrap(), vec![true]);
    moved
}

/// Runs the queued bulk edit job (a type giving its template) as the worker does.
async fn run_bulk(store: &Arc<dyn BulkStore>, owner: Id) -> usize {
    let job = claim_one(store, kinds::BULK_EDIT).await;
    let JobSpec::BulkEdit(args) = &job.spec else { panic!("a bulk edit: {:?}", job.spec) };
    let n = args.documents.len() as i64;
    let chunk =
        BulkChunk { owner_id: owner, documents: args.documents.clone(), edit: args.edit.clone(), done_after: n, total: n, max_attempts: 3 };
    assert!(store.bulk_edit_chunk(&job.lease(WORKER), &chunk).await.unwrap().committed);
    assert_eq!(store.complete(&[job.lease(WORKER)]).await.unwrap(), vec![true]);
    n as usize
}

/// The folder path of a document below Home, as names.
async fn path_of(store: &Arc<dyn BulkStore>, owner: Id, doc: Id) -> String {
    let d = store.document(owner, doc).await.unwrap();
    let crumbs = store.breadcrumbs(owner, d.folder_id).await.unwrap();
    crumbs.iter().skip(1).map(|(_, n)| n.as_str()).collect::<Vec<_>>().join("/")
}

async fn edit(store: &Arc<dyn BulkStore>, owner: Id, doc: Id, patch: DocumentPatch) -> Document {
    store.update_document(owner, doc, &patch).await.unwrap()
}

async fn path_templates_place_documents(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let (home, inbox) = {
        let (h, i) = store.root_folders(u.id).await.unwrap();
        (h.id, i.id)
    };
    let acme = store.create_label(u.id, LabelKind::Correspondent, "ACME", None, &[]).await.unwrap();
    let bank = store.create_label(u.id, LabelKind::Correspondent, "Bank / Savings", None, &[]).await.unwrap();
    let invoice = store.create_label(u.id, LabelKind::DocumentType, "Invoice", None, &[]).await.unwrap();
    let options = [SelectOption { id: "o1".into(), label: "Flat".into() }, SelectOption { id: "o2".into(), label: "Cottage".into() }];
    let property = store.create_field(u.id, "Property", FieldKind::Select, None, &options).await.unwrap();

    // Templates are per owner: names unique, invisible to others.
    let finance = store.create_path_template(u.id, &spec("Finance", "Finance/{correspondent}/{created:%Y}")).await.unwrap();
    let by_type = store.create_path_template(u.id, &spec("By type", "{type}/{custom.Property}")).await.unwrap();
    assert!(matches!(store.create_path_template(u.id, &spec("Finance", "x")).await, Err(DomainError::Conflict(_))));
    assert!(matches!(store.path_template(bob.id, finance.id).await, Err(DomainError::NotFound(_))));
    assert!(store.path_templates(bob.id).await.unwrap().is_empty());
    assert!(matches!(store.update_path_template(bob.id, finance.id, &spec("x", "y")).await, Err(DomainError::NotFound(_))));
    assert!(matches!(store.delete_path_template(bob.id, finance.id).await, Err(DomainError::NotFound(_))));
    let bobs = processed(&store, bob.id, store.root_folders(bob.id).await.unwrap().1.id, "bob's", "text").await;
    let foreign = DocumentPatch { path_template_id: Some(Some(finance.id)), ..DocumentPatch::default() };
    assert!(matches!(store.update_document(bob.id, bobs, &foreign).await, Err(DomainError::NotFound(_))), "not Bob's template");
    assert_eq!(queued(&store).await, 0, "nothing to place yet");

    // A document with a template is placed by the job: folders made below Home.
    let d1 = processed(&store, u.id, inbox, "d1", "first").await;
    let d = edit(
        &store,
        u.id,
        d1,
        DocumentPatch {
            correspondent_id: Some(Some(acme.id)),
            date: Some(chrono::NaiveDate::from_ymd_opt(2024, 3, 12)),
            path_template_id: Some(Some(finance.id)),
            ..DocumentPatch::default()
        },
    )
    .await;
    assert_eq!(d.meta.path_template.as_ref().map(|t| (t.id, t.name.as_str())), Some((finance.id, "Finance")));
    assert_eq!(d.folder_id, inbox, "placing is the job's");
    assert_eq!(queued(&store).await, 1);
    assert_eq!(place(&store, u.id).await, 1);
    assert_eq!(path_of(&store, u.id, d1).await, "Finance/ACME/2024");
    let history = store.history(u.id, d1, PageReq { page: 1, page_size: 10 }).await.unwrap().items;
    let placed = history.iter().find(|h| h.action == "placed").expect("a placed entry");
    assert_eq!(placed.actor_id, None);
    assert_eq!(placed.changes["path_template"]["path"], json!("Finance/ACME/2024"), "{:?}", placed.changes);

    // Two documents that render the same path share the folder; a missing value falls back; a
    // value with a slash stays one folder.
    let d2 = processed(&store, u.id, inbox, "d2", "second").await;
    let d3 = processed(&store, u.id, inbox, "d3", "third").await;
    let d4 = processed(&store, u.id, inbox, "d4", "fourth").await;
    let with = |c: Option<Id>, y: i32| DocumentPatch {
        correspondent_id: c.map(Some),
        date: Some(chrono::NaiveDate::from_ymd_opt(y, 1, 5)),
        path_template_id: Some(Some(finance.id)),
        ..DocumentPatch::default()
    };
    edit(&store, u.id, d2, with(Some(acme.id), 2024)).await;
    edit(&store, u.id, d3, DocumentPatch { path_template_id: Some(Some(finance.id)), ..DocumentPatch::default() }).await;
    edit(&store, u.id, d4, with(Some(bank.id), 2023)).await;
    assert_eq!(queued(&store).await, 1, "one job per owner while queued");
    assert_eq!(place(&store, u.id).await, 3);
    assert_eq!(store.document(u.id, d2).await.unwrap().folder_id, store.document(u.id, d1).await.unwrap().folder_id);
    assert_eq!(path_of(&store, u.id, d3).await, "Finance/Unknown/Unknown");
    assert_eq!(path_of(&store, u.id, d4).await, "Finance/Bank - Savings/2023");
    let finance_folder = store.breadcrumbs(u.id, store.document(u.id, d1).await.unwrap().folder_id).await.unwrap()[1].0;
    let children = store.children(u.id, finance_folder, ChildSort::NameAsc, PageReq { page: 1, page_size: 50 }).await.unwrap();
    assert_eq!(children.total, 3, "ACME, Bank - Savings, Unknown: {:?}", children.items);

    // A change the template does not read queues nothing; one it reads places again.
    edit(&store, u.id, d1, DocumentPatch { title: Some("renamed".into()), ..DocumentPatch::default() }).await;
    assert_eq!(queued(&store).await, 0, "the title is not in the template");
    edit(&store, u.id, d1, DocumentPatch { date: Some(chrono::NaiveDate::from_ymd_opt(2022, 7, 1)), ..DocumentPatch::default() }).await;
    assert_eq!(queued(&store).await, 1);
    assert_eq!(place(&store, u.id).await, 1);
    assert_eq!(path_of(&store, u.id, d1).await, "Finance/ACME/2022");

    // A renamed correspondent moves its documents; so does a changed template.
    store.update_label(u.id, LabelKind::Correspondent, acme.id, Some("ACME Corp"), None, None).await.unwrap();
    assert_eq!(place(&store, u.id).await, 2);
    assert_eq!(path_of(&store, u.id, d2).await, "Finance/ACME Corp/2024");
    let changed = store.update_path_template(u.id, finance.id, &spec("Finance", "Archive/{correspondent|Nobody}")).await.unwrap();
    assert_eq!(changed.document_count, 4);
    assert_eq!(place(&store, u.id).await, 4);
    assert_eq!(path_of(&store, u.id, d1).await, "Archive/ACME Corp");
    assert_eq!(path_of(&store, u.id, d3).await, "Archive/Nobody", "the variable's own default");
    // The folders the template made and nothing holds any more went with the last document.
    assert!(matches!(store.folder(u.id, finance_folder).await, Err(DomainError::NotFound(_))), "Finance/… was emptied");
    let kept = store.create_folder(u.id, home, "Kept").await.unwrap();
    let d8 = processed(&store, u.id, inbox, "d8", "eighth").await;
    let kept_spec = spec("Kept", "Kept/{correspondent}");
    let kept_t = store.create_path_template(u.id, &kept_spec).await.unwrap();
    edit(&store, u.id, d8, DocumentPatch { path_template_id: Some(Some(kept_t.id)), ..DocumentPatch::default() }).await;
    place(&store, u.id).await;
    assert_eq!(path_of(&store, u.id, d8).await, "Kept/Unknown");
    store.update_path_template(u.id, kept_t.id, &spec("Kept", "Elsewhere")).await.unwrap();
    place(&store, u.id).await;
    assert!(store.folder(u.id, kept.id).await.is_ok(), "a folder the user made stays, empty or not");
    let kept_children = store.children(u.id, kept.id, ChildSort::NameAsc, PageReq { page: 1, page_size: 10 }).await.unwrap();
    assert_eq!(kept_children.total, 0, "Kept/Unknown, made by the template, went");

    // A document type gives its template to its documents without one (not to d1, whose
    // template the user chose), and to documents that get the type later.
    edit(&store, u.id, d1, DocumentPatch { document_type_id: Some(Some(invoice.id)), ..DocumentPatch::default() }).await;
    let d5 = processed(&store, u.id, inbox, "d5", "fifth").await;
    edit(
        &store,
        u.id,
        d5,
        DocumentPatch { document_type_id: Some(Some(invoice.id)), fields: vec![(property.id, json!("o2"))], ..DocumentPatch::default() },
    )
    .await;
    assert!(store.set_type_path_template(u.id, invoice.id, Some(by_type.id)).await.unwrap().is_some(), "a job gives it");
    assert!(matches!(store.set_type_path_template(bob.id, invoice.id, None).await, Err(DomainError::NotFound(_))));
    assert_eq!(run_bulk(&store, u.id).await, 1, "d5 only: d1 has a template of its own");
    assert_eq!(store.labels(u.id, LabelKind::DocumentType).await.unwrap()[0].path_template_id, Some(by_type.id));
    assert_eq!(store.document(u.id, d1).await.unwrap().meta.path_template.map(|t| t.id), Some(finance.id));
    assert_eq!(store.document(u.id, d5).await.unwrap().meta.path_template.map(|t| t.id), Some(by_type.id));
    place(&store, u.id).await;
    assert_eq!(path_of(&store, u.id, d5).await, "Invoice/Cottage");
    let d6 = processed(&store, u.id, inbox, "d6", "sixth").await;
    edit(&store, u.id, d6, DocumentPatch { document_type_id: Some(Some(invoice.id)), ..DocumentPatch::default() }).await;
    assert_eq!(store.document(u.id, d6).await.unwrap().meta.path_template.map(|t| t.id), Some(by_type.id));
    place(&store, u.id).await;
    assert_eq!(path_of(&store, u.id, d6).await, "Invoice/Unknown");

    // A renamed select option moves the documents that have it; a renamed field keeps the
    // templates that name it working.
    let renamed = [SelectOption { id: "o1".into(), label: "Flat".into() }, SelectOption { id: "o2".into(), label: "Cabin".into() }];
    store.update_field(u.id, property.id, Some("Estate"), None, Some(&renamed)).await.unwrap();
    assert_eq!(store.path_template(u.id, by_type.id).await.unwrap().template, "{type}/{custom.Estate}");
    place(&store, u.id).await;
    assert_eq!(path_of(&store, u.id, d5).await, "Invoice/Cabin");

    // A matching rule gives a template to a document that has none.
    store
        .set_match_rule(
            u.id,
            TargetKind::PathTemplate,
            finance.id,
            &MatchRule { algorithm: Algorithm::Any, pattern: "receipt".into(), insensitive: true },
        )
        .await
        .unwrap();
    let d7 = processed(&store, u.id, inbox, "d7", "Your receipt from the bakery").await;
    let rules = RuleSet::new(store.match_rules(u.id).await.unwrap());
    let plans: Vec<_> = store.match_inputs(u.id, &[d7]).await.unwrap().iter().map(|(s, t)| plan(&rules, &Prepared::new(t), s)).collect();
    assert_eq!(plans[0].path_template_id, Some(finance.id), "{plans:?}");
    store.apply_matches(u.id, &plans, None).await.unwrap();
    place(&store, u.id).await;
    assert_eq!(path_of(&store, u.id, d7).await, "Archive/Nobody");

    // Moved by hand: detached from its template, it stays where the user put it.
    let mine = store.create_folder(u.id, home, "Mine").await.unwrap();
    let d = edit(&store, u.id, d7, DocumentPatch { folder_id: Some(mine.id), ..DocumentPatch::default() }).await;
    assert_eq!(d.meta.path_template, None);
    edit(&store, u.id, d7, DocumentPatch { correspondent_id: Some(Some(bank.id)), ..DocumentPatch::default() }).await;
    assert_eq!(queued(&store).await, 0);
    assert_eq!(store.document(u.id, d7).await.unwrap().folder_id, mine.id);

    // A trashed document waits in vain; a lost lease writes nothing.
    edit(&store, u.id, d2, DocumentPatch { correspondent_id: Some(Some(bank.id)), ..DocumentPatch::default() }).await;
    store.trash_document(u.id, d2).await.unwrap();
    let before = store.document(u.id, d2).await.unwrap().folder_id;
    let job = claim_one(&store, kinds::PLACE_DOCUMENTS).await;
    let mut stale = job.lease(WORKER);
    stale.seq += 1;
    assert_eq!(store.place_due(u.id, 10, &stale).await.unwrap(), None);
    let b = store.place_due(u.id, 10, &job.lease(WORKER)).await.unwrap().unwrap();
    assert_eq!((b.seen, b.moved, b.more), (1, 0, false));
    assert_eq!(store.document(u.id, d2).await.unwrap().folder_id, before);
    store.complete(&[job.lease(WORKER)]).await.unwrap();

    // Deleted: documents stay where they are, without a template; so does the type.
    store.delete_path_template(u.id, by_type.id).await.unwrap();
    let d = store.document(u.id, d5).await.unwrap();
    assert_eq!((d.meta.path_template, path_of(&store, u.id, d5).await.as_str()), (None, "Invoice/Cabin"));
    assert_eq!(store.labels(u.id, LabelKind::DocumentType).await.unwrap()[0].path_template_id, None);
    assert!(store.match_rules(u.id).await.unwrap().iter().any(|r| r.kind == TargetKind::PathTemplate));
    store.delete_path_template(u.id, finance.id).await.unwrap();
    assert!(!store.match_rules(u.id).await.unwrap().iter().any(|r| r.kind == TargetKind::PathTemplate), "its rule went with it");
}
conformance!(path_templates_place_documents);

async fn processed(store: &Arc<dyn BulkStore>, owner: Id, folder: Id, title: &str, text: &str) -> Id {
    let up = upload(store, owner, folder, title, &format!("sha-{title}")).await;
    process(store, &up, &[text]).await;
    up.document.id
}
