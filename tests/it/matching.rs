//! Matching rules conformance (#23), on SQLite and PostgreSQL: rules per tag, correspondent,
//! type and folder (owner isolation, gone with their target), every algorithm over processed
//! text, the job after processing, what a rule may and may not change, the history naming the
//! rule, and chunks fenced by the job's lease.

use std::sync::Arc;

use docmerge::domain::jobs::kinds;
use docmerge::domain::matching::{Algorithm, MatchRule, Prepared, RuleSet, TargetKind, plan};
use docmerge::domain::metadata::{DocumentPatch, LabelKind};
use docmerge::domain::store::{BulkStore, ChunkFence};
use docmerge::domain::*;

use crate::common::*;

fn rule(algorithm: Algorithm, pattern: &str) -> MatchRule {
    MatchRule { algorithm, pattern: pattern.into(), insensitive: true }
}

/// What the `match_documents` job does with its documents, in one chunk (the job's handler is
/// this loop; the API test runs the real one).
async fn run_rules(store: &Arc<dyn BulkStore>, owner: Id, docs: &[Id], fence: Option<&ChunkFence>) -> bool {
    let rules = RuleSet::new(store.match_rules(owner).await.unwrap());
    let plans: Vec<_> = store.match_inputs(owner, docs).await.unwrap().iter().map(|(s, t)| plan(&rules, &Prepared::new(t), s)).collect();
    store.apply_matches(owner, &plans, fence).await.unwrap()
}

async fn processed(store: &Arc<dyn BulkStore>, owner: Id, folder: Id, title: &str, text: &str) -> Id {
    let up = upload(store, owner, folder, title, &format!("sha-{title}")).await;
    process(store, &up, &[text]).await;
    up.document.id
}

async fn matching_rules_file_processed_documents(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let (home_id, inbox) = {
        let (h, i) = store.root_folders(u.id).await.unwrap();
        (h.id, i.id)
    };
    let bob = user(&store, "bob").await;

    // Before any rule: processing queues no matching job.
    let plain = processed(&store, u.id, inbox, "plain", "ACME invoice before any rule").await;
    assert_eq!(store.job_counts().await.unwrap().iter().filter(|(k, s, _)| k == kinds::MATCH_DOCUMENTS && s == "queued").count(), 0);

    let invoice = store.create_tag(u.id, "invoice", "#111111").await.unwrap();
    let reminder = store.create_tag(u.id, "reminder", "#222222").await.unwrap();
    let insurance = store.create_tag(u.id, "insurance", "#333333").await.unwrap();
    let contract = store.create_tag(u.id, "contract", "#444444").await.unwrap();
    let iban = store.create_tag(u.id, "iban", "#555555").await.unwrap();
    let acme = store.create_label(u.id, LabelKind::Correspondent, "ACME", None, &[]).await.unwrap();
    let bank = store.create_label(u.id, LabelKind::Correspondent, "Bank", None, &[]).await.unwrap();
    let bill = store.create_label(u.id, LabelKind::DocumentType, "Bill", None, &[]).await.unwrap();
    let finance = store.create_folder(u.id, home_id, "Finance").await.unwrap();
    let old = store.create_folder(u.id, home_id, "Old").await.unwrap();

    let set = |kind: TargetKind, id: Id, r: MatchRule| {
        let store = store.clone();
        async move { store.set_match_rule(u.id, kind, id, &r).await }
    };
    // Every algorithm, on each kind of target.
    set(TargetKind::Tag, invoice.id, rule(Algorithm::Any, "invoice rechnung")).await.unwrap();
    set(TargetKind::Tag, reminder.id, rule(Algorithm::All, "payment overdue")).await.unwrap();
    set(TargetKind::Tag, insurance.id, rule(Algorithm::Fuzzy, "versicherungsnummer")).await.unwrap();
    set(TargetKind::Tag, contract.id, rule(Algorithm::Exact, "terms and conditions")).await.unwrap();
    // A pattern that would hang a backtracking engine on this text; ours answers in linear time.
    set(TargetKind::Tag, iban.id, rule(Algorithm::Regex, r"^(a+)+$|DE\d{2}( ?\d{4}){4} ?\d{2}")).await.unwrap();
    let saved = set(TargetKind::Correspondent, acme.id, rule(Algorithm::Exact, "ACME Corp")).await.unwrap().unwrap();
    assert_eq!((saved.kind, saved.target_id, saved.target_name.as_str()), (TargetKind::Correspondent, acme.id, "ACME"));
    set(TargetKind::Correspondent, bank.id, rule(Algorithm::Any, "bank")).await.unwrap();
    set(TargetKind::DocumentType, bill.id, rule(Algorithm::Regex, r"total\s+due")).await.unwrap();
    set(TargetKind::Folder, finance.id, rule(Algorithm::Any, "invoice")).await.unwrap();
    set(TargetKind::Folder, old.id, rule(Algorithm::Any, "archive")).await.unwrap();
    // Owner isolation: Bob cannot put a rule on Alice's tag; he sees none of hers.
    assert!(matches!(set_as(&store, bob.id, TargetKind::Tag, invoice.id).await, Err(DomainError::NotFound(_))));
    assert!(store.match_rules(bob.id).await.unwrap().is_empty());
    let rules = store.match_rules(u.id).await.unwrap();
    assert_eq!(rules.len(), 10);
    assert_eq!(rules[0].kind, TargetKind::Tag, "by kind, then name: {rules:?}");

    // A trashed folder's rule is not listed (nor applied); a deleted target's rule goes with it.
    store.trash_folder(u.id, old.id).await.unwrap();
    let spare = store.create_tag(u.id, "spare", "#666666").await.unwrap();
    set(TargetKind::Tag, spare.id, rule(Algorithm::Any, "spare")).await.unwrap();
    store.delete_tag(u.id, spare.id).await.unwrap();
    let again = store.create_tag(u.id, "spare again", "#666666").await.unwrap();
    let names: Vec<String> = store.match_rules(u.id).await.unwrap().into_iter().map(|r| r.target_name).collect();
    assert!(!names.iter().any(|n| n == "Old" || n.starts_with("spare")), "{names:?} (the new tag {} has no rule)", again.id);
    // Removing a rule: algorithm none.
    assert!(set(TargetKind::Folder, old.id, rule(Algorithm::None, "")).await.is_err(), "a trashed folder takes no rule");

    // Processing with rules in place queues one job for the document.
    let text = "ACME Corp\nInvoice 2025-117\nTotal due: 120,00 EUR\nPayment is overdue. Ihre Versicherungsnumer: 4711.\n\
                Terms  and\nconditions apply. IBAN DE12 3456 7890 1234 5678 90. Pay to our bank.";
    let doc = processed(&store, u.id, inbox, "letter", text).await;
    let job = claim_one(&store, kinds::MATCH_DOCUMENTS).await;
    let docmerge::domain::jobs::JobSpec::MatchDocuments(args) = &job.spec else { panic!("{:?}", job.spec) };
    assert_eq!((args.owner_id, args.documents.clone()), (u.id, vec![doc]));
    let fence = ChunkFence { lease: job.lease(WORKER), done_after: 1, total: 1 };
    // A stale lease writes nothing.
    let stale = ChunkFence { lease: docmerge::domain::jobs::Lease { seq: fence.lease.seq - 1, ..fence.lease.clone() }, ..fence.clone() };
    assert!(!run_rules(&store, u.id, &[doc], Some(&stale)).await);
    assert!(store.document(u.id, doc).await.unwrap().tags.is_empty());
    assert!(run_rules(&store, u.id, &[doc], Some(&fence)).await);
    let j = store.job(job.id).await.unwrap();
    assert_eq!((j.progress_done, j.progress_total), (Some(1), Some(1)));

    let d = store.document(u.id, doc).await.unwrap();
    let mut tags: Vec<&str> = d.tags.iter().map(|t| t.name.as_str()).collect();
    tags.sort_unstable();
    assert_eq!(tags, vec!["contract", "iban", "insurance", "invoice", "reminder"]);
    assert_eq!(d.meta.correspondent.as_ref().map(|c| c.id), Some(acme.id), "ACME comes first in the text, the bank later");
    assert_eq!(d.meta.document_type.as_ref().map(|t| t.id), Some(bill.id));
    assert_eq!(d.folder_id, finance.id, "moved out of the Inbox");
    let hist = store.history(u.id, doc, page_req(1, 50)).await.unwrap().items;
    let matched: Vec<_> = hist.iter().filter(|h| h.action == "matched").collect();
    assert_eq!(matched.len(), 1);
    assert!(matched[0].actor_id.is_none(), "docmerge did it");
    let rules_json = &matched[0].changes["rules"];
    let fuzzy = rules_json.as_array().unwrap().iter().find(|r| r["target_name"] == "insurance").expect("the fuzzy rule is named");
    assert_eq!((fuzzy["algorithm"].as_str(), fuzzy["found"].as_str()), (Some("fuzzy"), Some("Versicherungsnumer")));
    assert_eq!(matched[0].changes["correspondent"], serde_json::json!([null, "ACME"]));

    // Run again: nothing changes twice, no second entry.
    assert!(run_rules(&store, u.id, &[doc], None).await);
    assert_eq!(store.history(u.id, doc, page_req(1, 50)).await.unwrap().items.iter().filter(|h| h.action == "matched").count(), 1);

    // What a user chose stands: their correspondent, their folder; tags are only ever added.
    let mine = processed(&store, u.id, home_id, "mine", "Bank statement. ACME Corp invoice").await;
    store.update_document(u.id, mine, &DocumentPatch { correspondent_id: Some(Some(bank.id)), ..Default::default() }).await.unwrap();
    assert!(run_rules(&store, u.id, &[mine], None).await);
    let m = store.document(u.id, mine).await.unwrap();
    assert_eq!(m.meta.correspondent.as_ref().map(|c| c.id), Some(bank.id));
    assert_eq!(m.folder_id, home_id, "not in the Inbox: stays where the user put it");
    assert_eq!(m.tags.iter().map(|t| t.id).collect::<Vec<_>>(), vec![invoice.id]);

    // Case: a case-sensitive rule does not match other case.
    set(
        TargetKind::Tag,
        contract.id,
        MatchRule { algorithm: Algorithm::Exact, pattern: "Terms and Conditions".into(), insensitive: false },
    )
    .await
    .unwrap();
    let lower = processed(&store, u.id, inbox, "lower", "terms and conditions").await;
    assert!(run_rules(&store, u.id, &[lower], None).await);
    assert!(!store.document(u.id, lower).await.unwrap().tags.iter().any(|t| t.id == contract.id));

    // A document processed before the rules existed is filed when they are run over it; Bob's
    // document in Alice's run is not touched.
    let bobs = processed(&store, bob.id, home(&store, bob.id).await, "bob", "ACME Corp invoice").await;
    assert!(run_rules(&store, u.id, &[plain, bobs], None).await);
    assert!(store.document(u.id, plain).await.unwrap().tags.iter().any(|t| t.id == invoice.id));
    assert!(store.document(bob.id, bobs).await.unwrap().tags.is_empty());
    // Trashed documents are left alone.
    let gone = processed(&store, u.id, inbox, "gone", "invoice").await;
    store.trash_document(u.id, gone).await.unwrap();
    assert!(store.match_inputs(u.id, &[gone]).await.unwrap().is_empty());
}
conformance!(matching_rules_file_processed_documents);

async fn set_as(
    store: &Arc<dyn BulkStore>,
    owner: Id,
    kind: TargetKind,
    id: Id,
) -> DomainResult<Option<docmerge::domain::matching::TargetRule>> {
    store.set_match_rule(owner, kind, id, &rule(Algorithm::Any, "x")).await
}

/// The auto classifier (#23) on the store: examples from what the owner filed (not another
/// owner's), a model stored and found again (only by its owner, the newest few kept), `auto`
/// rules applied from its predictions with the words behind them, the fingerprint that says
/// when a new training is due.
async fn auto_classifier_learns_from_filing(store: Arc<dyn BulkStore>) {
    use docmerge::domain::classifier::{Model, train};
    use docmerge::domain::matching::plan_with;

    let u = user(&store, "carol").await;
    let bob = user(&store, "dave").await;
    let (home, inbox) = {
        let (h, i) = store.root_folders(u.id).await.unwrap();
        (h.id, i.id)
    };
    let mut senders = Vec::new();
    for (name, folder, words) in [
        ("Stadtwerke", "Home", "electricity meter reading kilowatt hours tariff"),
        ("Allianz", "Insurance", "insurance policy premium insured person claim"),
        ("Dr Weber", "Health", "patient treatment dental appointment prescription"),
    ] {
        let c = store.create_label(u.id, LabelKind::Correspondent, name, None, &[]).await.unwrap();
        let f = store.create_folder(u.id, home, folder).await.unwrap();
        let t = store.create_tag(u.id, &folder.to_lowercase(), "#123456").await.unwrap();
        senders.push((c.id, f.id, t.id, name, words));
    }
    let invoice = store.create_label(u.id, LabelKind::DocumentType, "Invoice", None, &[]).await.unwrap();
    let reminder = store.create_label(u.id, LabelKind::DocumentType, "Reminder", None, &[]).await.unwrap();
    let urgent = store.create_tag(u.id, "urgent", "#ff0000").await.unwrap();
    for i in 0..36 {
        let (c, f, t, name, words) = senders[i % 3];
        let (ty, kind_words, tags) = if i % 2 == 0 {
            (invoice.id, "invoice amount due please pay within 14 days", vec![t])
        } else {
            (reminder.id, "reminder overdue second notice late fee", vec![t, urgent.id])
        };
        let text = format!("{name}\nCustomer number {}\n{words}\n{kind_words}\nKind regards", 1000 + i);
        let id = processed(&store, u.id, inbox, &format!("filed {i}"), &text).await;
        let patch = DocumentPatch {
            correspondent_id: Some(Some(c)),
            document_type_id: Some(Some(ty)),
            folder_id: Some(f),
            tag_ids: Some(tags),
            ..Default::default()
        };
        store.update_document(u.id, id, &patch).await.unwrap();
    }
    // Bob's documents are not Carol's examples.
    processed(&store, bob.id, store.root_folders(bob.id).await.unwrap().1.id, "bob's", "Allianz insurance policy").await;

    // Paged in id order.
    let first_page = store.training_examples(u.id, 0, 20).await.unwrap();
    let rest = store.training_examples(u.id, first_page.last().unwrap().0, 100).await.unwrap();
    assert_eq!((first_page.len(), rest.len()), (20, 16));
    let examples: Vec<_> = first_page.into_iter().chain(rest).map(|(_, e)| e).collect();
    assert_eq!(examples.len(), 36);
    assert!(
        examples.iter().all(|e| e.correspondent.is_some() && e.document_type.is_some() && e.folder.is_some()),
        "filed, not in the Inbox"
    );
    assert!(examples.iter().all(|e| e.tags.as_ref().is_some_and(|t| !t.is_empty()) && e.text.contains("Kind regards")));
    assert_eq!(store.classifier_owners(30).await.unwrap(), vec![u.id], "only Carol has 30 processed documents");
    let (_, fingerprint) = store.training_fingerprint(u.id).await.unwrap();
    let (model, stats) = train(examples).unwrap();
    assert_eq!(stats.fields.len(), 4, "correspondent, type, folder and tags: {stats:?}");
    let info = store.save_classifier(u.id, &fingerprint, &stats, &model.encode()).await.unwrap();
    let newest = store.newest_classifier(u.id).await.unwrap().unwrap();
    assert_eq!((newest.id, newest.fingerprint.as_str(), newest.stats.documents), (info.id, fingerprint.as_str(), 36));
    // Another owner sees neither the model nor its bytes.
    assert!(store.newest_classifier(bob.id).await.unwrap().is_none());
    assert!(store.classifier_model(bob.id, info.id).await.unwrap().is_none());
    let model = Model::decode(&store.classifier_model(u.id, info.id).await.unwrap().unwrap()).unwrap();

    // `auto` on the insurer, the reminder type, the Insurance folder and the urgent tag; the
    // insurance tag keeps no rule (the model may predict it; nothing applies it).
    let (allianz, insurance_folder, _, _, _) = senders[1];
    for (kind, id) in [
        (TargetKind::Correspondent, allianz),
        (TargetKind::DocumentType, reminder.id),
        (TargetKind::Folder, insurance_folder),
        (TargetKind::Tag, urgent.id),
    ] {
        store.set_match_rule(u.id, kind, id, &rule(Algorithm::Auto, "")).await.unwrap();
    }
    let rules = RuleSet::new(store.match_rules(u.id).await.unwrap());
    assert!(rules.has_auto());
    let new = processed(&store, u.id, inbox, "new", "Allianz\nYour insurance policy premium is overdue: second notice, late fee").await;
    let (state, text) = store.match_inputs(u.id, &[new]).await.unwrap().pop().unwrap();
    let sure = model.sure_of(&text, 0.5);
    let p = plan_with(&rules, &Prepared::new(&text), &state, &sure);
    assert_eq!(p.correspondent_id, Some(allianz), "{p:?} from {sure:?}");
    assert_eq!(p.document_type_id, Some(reminder.id), "{p:?}");
    assert_eq!(p.folder_id, Some(insurance_folder), "{p:?}");
    assert_eq!(p.add_tags, vec![urgent.id], "the insurance tag has no auto rule: {p:?}");
    let why = p.assigned.iter().find(|a| a.kind == TargetKind::Correspondent).unwrap();
    assert_eq!(why.algorithm, Algorithm::Auto);
    assert!(why.found.contains("% sure") && why.found.contains("allianz"), "the words behind it: {why:?}");
    assert!(store.apply_matches(u.id, &[p], None).await.unwrap());
    let d = store.document(u.id, new).await.unwrap();
    assert_eq!((d.meta.correspondent.map(|l| l.id), d.folder_id), (Some(allianz), insurance_folder));
    // Not sure enough: nothing.
    assert!(plan_with(&rules, &Prepared::new("hello"), &state, &model.sure_of("hello", 0.99)).assigned.is_empty());

    // Any change to the filing changes the fingerprint; the newest three models are kept.
    let first = store.training_examples(u.id, 0, 1000).await.unwrap().len();
    assert_eq!(first, 37);
    assert_ne!(store.training_fingerprint(u.id).await.unwrap().1, fingerprint);
    let mut last = info.id;
    for _ in 0..3 {
        last = store.save_classifier(u.id, "x", &stats, &model.encode()).await.unwrap().id;
    }
    assert_eq!(store.newest_classifier(u.id).await.unwrap().unwrap().id, last);
    assert!(store.classifier_model(u.id, info.id).await.unwrap().is_none(), "the oldest went");
}
conformance!(auto_classifier_learns_from_filing);
