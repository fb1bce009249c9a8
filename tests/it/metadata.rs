//! Metadata conformance (#22), on SQLite and PostgreSQL: correspondents and document types,
//! custom fields and their values, the document date (typed and extracted), ASNs, notes,
//! history, the list filters, owner isolation, and export → import of all of it.

use std::sync::Arc;

use chrono::NaiveDate;
use docmerge::domain::metadata::{DocumentPatch, FieldKind, LabelKind, SelectOption};
use docmerge::domain::store::BulkStore;
use docmerge::domain::*;
use serde_json::json;

use crate::common::*;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn is_not_found<T>(r: DomainResult<T>) -> bool {
    matches!(r, Err(DomainError::NotFound(_)))
}

fn patch() -> DocumentPatch {
    DocumentPatch::default()
}

async fn list(store: &Arc<dyn BulkStore>, owner: Id, f: DocumentFilter) -> Vec<Id> {
    store.list_documents(owner, &f, page_req(1, 100)).await.unwrap().items.into_iter().map(|d| d.id).collect()
}

conformance!(correspondents_and_types_crud_merge_delete);
async fn correspondents_and_types_crud_merge_delete(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let h = home(&store, u.id).await;
    for kind in [LabelKind::Correspondent, LabelKind::DocumentType] {
        let acme = store.create_label(u.id, kind, "ACME", Some("#ff0000"), &[]).await.unwrap();
        let acme2 = store.create_label(u.id, kind, "Acme Corp.", None, &[]).await.unwrap();
        assert!(matches!(store.create_label(u.id, kind, "ACME", None, &[]).await, Err(DomainError::Conflict(_))));
        let d1 = upload(&store, u.id, h, &format!("{kind:?} one"), &format!("{kind:?}1")).await.document.id;
        let d2 = upload(&store, u.id, h, &format!("{kind:?} two"), &format!("{kind:?}2")).await.document.id;
        let set = |id: Id| match kind {
            LabelKind::Correspondent => DocumentPatch { correspondent_id: Some(Some(id)), ..patch() },
            LabelKind::DocumentType => DocumentPatch { document_type_id: Some(Some(id)), ..patch() },
        };
        let doc = store.update_document(u.id, d1, &set(acme.id)).await.unwrap();
        assert_eq!(doc.meta.label(kind).map(|l| (l.id, l.name.as_str(), l.color.as_deref())), Some((acme.id, "ACME", Some("#ff0000"))));
        store.update_document(u.id, d2, &set(acme2.id)).await.unwrap();
        let counts: Vec<(String, i64)> = store.labels(u.id, kind).await.unwrap().into_iter().map(|l| (l.name, l.document_count)).collect();
        assert_eq!(counts, vec![("ACME".to_string(), 1), ("Acme Corp.".to_string(), 1)]);

        // Rename, recolour; merge re-points the documents; the merged one is gone.
        let renamed = store.update_label(u.id, kind, acme.id, Some("ACME Inc."), Some(None), None).await.unwrap();
        assert_eq!((renamed.name.as_str(), renamed.color), ("ACME Inc.", None));
        let merged = store.merge_labels(u.id, kind, acme2.id, acme.id).await.unwrap();
        assert_eq!((merged.id, merged.document_count), (acme.id, 2));
        assert_eq!(store.document(u.id, d2).await.unwrap().meta.label(kind).unwrap().name, "ACME Inc.");
        assert_eq!(store.labels(u.id, kind).await.unwrap().len(), 1);
        let hist = store.history(u.id, d2, page_req(1, 10)).await.unwrap();
        assert_eq!(hist.items[0].action, "edited");
        assert!(hist.items[0].changes.to_string().contains("ACME Inc."), "{:?}", hist.items[0].changes);

        // Delete: the documents keep nothing.
        store.delete_label(u.id, kind, acme.id).await.unwrap();
        assert!(store.document(u.id, d1).await.unwrap().meta.label(kind).is_none());
        assert!(store.labels(u.id, kind).await.unwrap().is_empty());
        assert!(is_not_found(store.delete_label(u.id, kind, acme.id).await));
    }
}

conformance!(custom_fields_validate_store_and_follow_types);
async fn custom_fields_validate_store_and_follow_types(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let h = home(&store, u.id).await;
    let amount = store.create_field(u.id, "Amount", FieldKind::Monetary, Some("EUR"), &[]).await.unwrap();
    let paid = store.create_field(u.id, "paid", FieldKind::Boolean, None, &[]).await.unwrap();
    let due = store.create_field(u.id, "due date", FieldKind::Date, None, &[]).await.unwrap();
    let opts = vec![SelectOption { id: "o1".into(), label: "Insurance".into() }, SelectOption { id: "o2".into(), label: "Tax".into() }];
    let category = store.create_field(u.id, "category", FieldKind::Select, None, &opts).await.unwrap();
    let link = store.create_field(u.id, "related", FieldKind::DocumentLink, None, &[]).await.unwrap();
    assert!(matches!(store.create_field(u.id, "paid", FieldKind::Text, None, &[]).await, Err(DomainError::Conflict(_))));

    // A type with default fields gives them to its documents (empty).
    let invoice = store.create_label(u.id, LabelKind::DocumentType, "Invoice", None, &[amount.id, due.id]).await.unwrap();
    assert_eq!(invoice.default_fields, vec![amount.id, due.id]);
    let d = upload(&store, u.id, h, "invoice", "f1").await.document.id;
    let other = upload(&store, u.id, h, "other", "f2").await.document.id;
    let doc = store.update_document(u.id, d, &DocumentPatch { document_type_id: Some(Some(invoice.id)), ..patch() }).await.unwrap();
    let names: Vec<(&str, &serde_json::Value)> = doc.meta.fields.iter().map(|f| (f.name.as_str(), &f.value)).collect();
    assert_eq!(names, vec![("Amount", &json!(null)), ("due date", &json!(null))]);

    // Values: validated, canonical; a bad one changes nothing (all or nothing).
    let set = DocumentPatch {
        fields: vec![
            (amount.id, json!("123.4")),
            (paid.id, json!(true)),
            (due.id, json!("2026-01-15")),
            (category.id, json!("insurance")),
            (link.id, json!([other])),
        ],
        title: Some("invoice 2025".into()),
        ..patch()
    };
    let doc = store.update_document(u.id, d, &set).await.unwrap();
    let value = |doc: &Document, name: &str| doc.meta.fields.iter().find(|f| f.name == name).map(|f| f.value.clone());
    assert_eq!(value(&doc, "Amount"), Some(json!({"amount": "123.40", "currency": "EUR"})));
    assert_eq!(value(&doc, "category"), Some(json!("o1")));
    assert_eq!(value(&doc, "related"), Some(json!([other])));
    let bad = DocumentPatch { title: Some("changed".into()), fields: vec![(amount.id, json!("12,3,4"))], ..patch() };
    let err = store.update_document(u.id, d, &bad).await.unwrap_err();
    assert!(matches!(&err, DomainError::Invalid(m) if m.contains("\"Amount\"")), "{err:?}");
    let unknown = DocumentPatch { fields: vec![(category.id, json!("Car"))], ..patch() };
    assert!(matches!(store.update_document(u.id, d, &unknown).await, Err(DomainError::Invalid(m)) if m.contains("category")));
    assert_eq!(store.document(u.id, d).await.unwrap().title, "invoice 2025", "the failed patch changed nothing");

    // Renaming an option keeps the value; dropping it empties the value, the field stays.
    let renamed = vec![SelectOption { id: "o1".into(), label: "Insurances".into() }, SelectOption { id: "o2".into(), label: "Tax".into() }];
    store.update_field(u.id, category.id, None, None, Some(&renamed)).await.unwrap();
    assert_eq!(value(&store.document(u.id, d).await.unwrap(), "category"), Some(json!("o1")));
    store.update_field(u.id, category.id, Some("Category"), None, Some(&renamed[1..])).await.unwrap();
    assert_eq!(value(&store.document(u.id, d).await.unwrap(), "Category"), Some(json!(null)));

    // Remove a field from the document; delete a field everywhere.
    let doc = store.update_document(u.id, d, &DocumentPatch { remove_fields: vec![paid.id], ..patch() }).await.unwrap();
    assert!(value(&doc, "paid").is_none());
    store.delete_field(u.id, due.id).await.unwrap();
    assert!(value(&store.document(u.id, d).await.unwrap(), "due date").is_none());
    assert_eq!(store.fields(u.id).await.unwrap().len(), 4);

    // Links only to the owner's documents; not to itself.
    let bob = user(&store, "bob").await;
    let bobs = upload(&store, bob.id, home(&store, bob.id).await, "bob's", "b1").await.document.id;
    assert!(is_not_found(store.update_document(u.id, d, &DocumentPatch { fields: vec![(link.id, json!([bobs]))], ..patch() }).await));
    assert!(matches!(
        store.update_document(u.id, d, &DocumentPatch { fields: vec![(link.id, json!([d]))], ..patch() }).await,
        Err(DomainError::Invalid(_))
    ));
    // Bob cannot use Alice's field or type.
    assert!(is_not_found(store.update_document(bob.id, bobs, &DocumentPatch { fields: vec![(paid.id, json!(true))], ..patch() }).await));
    assert!(is_not_found(
        store.update_document(bob.id, bobs, &DocumentPatch { document_type_id: Some(Some(invoice.id)), ..patch() }).await
    ));
    assert!(is_not_found(store.field(bob.id, amount.id).await));
    assert!(store.fields(bob.id).await.unwrap().is_empty());
}

conformance!(document_date_asn_and_list_filters);
async fn document_date_asn_and_list_filters(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let h = home(&store, u.id).await;
    let acme = store.create_label(u.id, LabelKind::Correspondent, "ACME", None, &[]).await.unwrap();
    let invoice = store.create_label(u.id, LabelKind::DocumentType, "Invoice", None, &[]).await.unwrap();

    // Extracted at processing time: a date in the text becomes the document's date.
    let a = upload(&store, u.id, h, "letter", "d1").await;
    process(&store, &a, &["ACME GmbH\nBerlin, 14. März 2025\nRechnung Nr. 1"]).await;
    let doc = store.document(u.id, a.document.id).await.unwrap();
    assert_eq!(doc.meta.date, Some(date("2025-03-14")));
    assert!(doc.meta.date_source.as_deref().unwrap().starts_with("extracted:"), "{:?}", doc.meta.date_source);
    let hist = store.history(u.id, a.document.id, page_req(1, 20)).await.unwrap();
    let actions: Vec<&str> = hist.items.iter().map(|h| h.action.as_str()).collect();
    assert!(actions.contains(&"date.extracted") && actions.contains(&"processed") && actions.contains(&"created"), "{actions:?}");
    let extracted = hist.items.iter().find(|h| h.action == "date.extracted").unwrap();
    assert_eq!(extracted.actor_id, None, "docmerge itself");

    // A date the user typed stands: reprocessing does not replace it.
    let b = upload(&store, u.id, h, "typed", "d2").await;
    store.update_document(u.id, b.document.id, &DocumentPatch { date: Some(Some(date("2024-12-01"))), ..patch() }).await.unwrap();
    process(&store, &b, &["Invoice date 2025-01-31"]).await;
    let doc = store.document(u.id, b.document.id).await.unwrap();
    assert_eq!((doc.meta.date, doc.meta.date_source.as_deref()), (Some(date("2024-12-01")), Some("user")));

    // ASN: unique per owner, next free, cleared.
    assert_eq!(store.next_asn(u.id).await.unwrap(), 1);
    store.update_document(u.id, a.document.id, &DocumentPatch { asn: Some(Some(41)), ..patch() }).await.unwrap();
    assert_eq!(store.next_asn(u.id).await.unwrap(), 42);
    let dup = store.update_document(u.id, b.document.id, &DocumentPatch { asn: Some(Some(41)), ..patch() }).await;
    assert!(matches!(&dup, Err(DomainError::Conflict(m)) if m.contains("41")), "{dup:?}");
    let bob = user(&store, "bob").await;
    let bobs = upload(&store, bob.id, home(&store, bob.id).await, "bob", "d9").await;
    store.update_document(bob.id, bobs.document.id, &DocumentPatch { asn: Some(Some(41)), ..patch() }).await.expect("ASNs are per owner");

    // Filters: correspondent + type + date range; none; ASN; sorting by date.
    let c = upload(&store, u.id, h, "undated", "d3").await;
    store
        .update_document(
            u.id,
            a.document.id,
            &DocumentPatch { correspondent_id: Some(Some(acme.id)), document_type_id: Some(Some(invoice.id)), ..patch() },
        )
        .await
        .unwrap();
    store.update_document(u.id, b.document.id, &DocumentPatch { correspondent_id: Some(Some(acme.id)), ..patch() }).await.unwrap();
    let f = |c: Option<Option<Id>>, t: Option<Option<Id>>, from: Option<&str>, to: Option<&str>| DocumentFilter {
        correspondent_id: c,
        document_type_id: t,
        date_from: from.map(date),
        date_to: to.map(date),
        ..Default::default()
    };
    assert_eq!(list(&store, u.id, f(Some(Some(acme.id)), None, None, None)).await.len(), 2);
    assert_eq!(
        list(&store, u.id, f(Some(Some(acme.id)), Some(Some(invoice.id)), Some("2025-01-01"), Some("2025-12-31"))).await,
        vec![a.document.id]
    );
    assert_eq!(list(&store, u.id, f(Some(Some(acme.id)), None, Some("2025-03-15"), None)).await, Vec::<Id>::new());
    assert_eq!(list(&store, u.id, f(Some(None), None, None, None)).await, vec![c.document.id]);
    assert_eq!(list(&store, u.id, f(None, Some(None), None, None)).await.len(), 2);
    assert_eq!(list(&store, u.id, DocumentFilter { asn: Some(41), ..Default::default() }).await, vec![a.document.id]);
    let by_date = list(&store, u.id, DocumentFilter { sort: DocSort::DateDesc, ..Default::default() }).await;
    assert_eq!(by_date, vec![a.document.id, b.document.id, c.document.id], "newest date first, undated last");
    let by_date = list(&store, u.id, DocumentFilter { sort: DocSort::DateAsc, ..Default::default() }).await;
    assert_eq!(by_date, vec![b.document.id, a.document.id, c.document.id], "oldest date first, undated last");
    let by_asn = list(&store, u.id, DocumentFilter { sort: DocSort::AsnAsc, ..Default::default() }).await;
    assert_eq!(by_asn[0], a.document.id);
    // Clearing.
    let doc = store
        .update_document(u.id, a.document.id, &DocumentPatch { date: Some(None), asn: Some(None), correspondent_id: Some(None), ..patch() })
        .await
        .unwrap();
    assert_eq!((doc.meta.date, doc.meta.asn, doc.meta.correspondent), (None, None, None));
    let last = &store.history(u.id, a.document.id, page_req(1, 1)).await.unwrap().items[0];
    assert_eq!(last.changes["asn"], json!([41, null]));
    assert_eq!(last.changes["correspondent"], json!(["ACME", null]));
}

conformance!(notes_authors_search_and_history);
async fn notes_authors_search_and_history(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let h = home(&store, u.id).await;
    let d = upload(&store, u.id, h, "contract", "n1").await.document.id;
    let n1 = store.add_note(u.id, d, u.id, "Called them about the zeppelin clause").await.unwrap();
    let n2 = store.add_note(u.id, d, u.id, "second note").await.unwrap();
    assert_eq!((n1.author_id, n1.author_name.as_deref()), (Some(u.id), Some("alice")));
    assert_eq!(store.document(u.id, d).await.unwrap().meta.note_count, 2);
    // Searchable, and no longer once edited away.
    assert_eq!(store.search(u.id, &search_q("zeppelin"), page_req(1, 10)).await.unwrap().total, 1);
    let edited = store.update_note(u.id, d, n1.id, u.id, "Called them about the airship clause").await.unwrap();
    assert_eq!(edited.body, "Called them about the airship clause");
    assert_eq!(store.search(u.id, &search_q("zeppelin"), page_req(1, 10)).await.unwrap().total, 0);
    assert_eq!(store.search(u.id, &search_q("airship"), page_req(1, 10)).await.unwrap().total, 1);
    assert_eq!(store.search(u.id, &search_q("contract"), page_req(1, 10)).await.unwrap().total, 1, "the title still");
    // Only the author edits (another account is someone else; the owner check comes first).
    let bob = user(&store, "bob").await;
    assert!(matches!(store.update_note(u.id, d, n2.id, bob.id, "x").await, Err(DomainError::Forbidden(_))));
    assert!(is_not_found(store.notes(bob.id, d).await));
    assert!(is_not_found(store.add_note(bob.id, d, bob.id, "x").await));
    store.delete_note(u.id, d, n2.id, u.id).await.unwrap();
    let notes = store.notes(u.id, d).await.unwrap();
    assert_eq!(notes.iter().map(|n| n.id).collect::<Vec<_>>(), vec![n1.id]);
    let actions: Vec<String> = store.history(u.id, d, page_req(1, 20)).await.unwrap().items.into_iter().map(|h| h.action).collect();
    assert_eq!(actions[..4], ["note.deleted", "note.edited", "note.added", "note.added"]);
    assert!(is_not_found(store.history(bob.id, d, page_req(1, 20)).await));
    // Trash and restore are in the history too, with their author.
    store.trash_document(u.id, d).await.unwrap();
    store.restore_document(u.id, d).await.unwrap();
    let hist = store.history(u.id, d, page_req(1, 2)).await.unwrap();
    assert_eq!(
        hist.items.iter().map(|h| (h.action.as_str(), h.actor_id)).collect::<Vec<_>>(),
        vec![("restored", Some(u.id)), ("trashed", Some(u.id))]
    );
    assert_eq!(hist.total, 7);
}

conformance!(bulk_tag_changes_are_in_each_history);
async fn bulk_tag_changes_are_in_each_history(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let h = home(&store, u.id).await;
    let t = store.create_tag(u.id, "paid", "#00aa00").await.unwrap();
    let a = upload(&store, u.id, h, "a", "b1").await.document.id;
    let b = upload(&store, u.id, h, "b", "b2").await.document.id;
    store.change_document_tags(u.id, a, &[t.id], &[]).await.unwrap();
    store.change_tags_of_documents(u.id, &[a, b], &[t.id], &[]).await.unwrap();
    let edits = |d: Id| {
        let store = store.clone();
        async move {
            store
                .history(u.id, d, page_req(1, 20))
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|h| h.action == "edited")
                .map(|h| h.changes)
                .collect::<Vec<_>>()
        }
    };
    // a had the tag already: its one edit is the single change; b got it from the bulk change.
    assert_eq!(edits(a).await, vec![json!({"tags": {"added": ["paid"], "removed": []}})]);
    assert_eq!(edits(b).await, vec![json!({"tags": {"added": ["paid"], "removed": []}})]);
}

conformance!(search_grammar_over_metadata);
/// One table of queries, the same answers on both databases.
async fn search_grammar_over_metadata(store: Arc<dyn BulkStore>) {
    let u = user(&store, "alice").await;
    let h = home(&store, u.id).await;
    let acme = store.create_label(u.id, LabelKind::Correspondent, "ACME Corp", None, &[]).await.unwrap();
    let bank = store.create_label(u.id, LabelKind::Correspondent, "Bank", None, &[]).await.unwrap();
    let invoice = store.create_label(u.id, LabelKind::DocumentType, "Invoice", None, &[]).await.unwrap();
    let amount = store.create_field(u.id, "Amount", FieldKind::Monetary, Some("EUR"), &[]).await.unwrap();
    let due = store.create_field(u.id, "due date", FieldKind::Date, None, &[]).await.unwrap();
    let paid = store.create_field(u.id, "paid", FieldKind::Boolean, None, &[]).await.unwrap();
    let opts = vec![SelectOption { id: "o1".into(), label: "Insurance".into() }, SelectOption { id: "o2".into(), label: "Tax".into() }];
    let cat = store.create_field(u.id, "category", FieldKind::Select, None, &opts).await.unwrap();
    let memo = store.create_field(u.id, "memo", FieldKind::Text, None, &[]).await.unwrap();
    // (title, correspondent, type, date, asn, amount, due, paid, category, memo, note)
    type Row<'a> = (
        &'a str,
        Option<Id>,
        Option<Id>,
        Option<&'a str>,
        Option<i64>,
        Option<&'a str>,
        Option<&'a str>,
        Option<bool>,
        Option<&'a str>,
        Option<&'a str>,
        bool,
    );
    let rows: Vec<Row> = vec![
        (
            "inv1",
            Some(acme.id),
            Some(invoice.id),
            Some("2025-03-14"),
            Some(1),
            Some("150.00"),
            Some("2025-04-14"),
            Some(true),
            Some("Tax"),
            Some("Office chairs 50%"),
            true,
        ),
        (
            "inv2",
            Some(acme.id),
            Some(invoice.id),
            Some("2024-11-02"),
            Some(2),
            Some("99.99"),
            Some("2026-02-01"),
            Some(false),
            None,
            None,
            false,
        ),
        (
            "stmt",
            Some(bank.id),
            None,
            Some("2025-12-31"),
            None,
            Some("100"),
            None,
            None,
            Some("Insurance"),
            Some("annual_statement"),
            false,
        ),
        ("plain", None, None, None, Some(10), None, None, None, None, None, true),
    ];
    for (i, r) in rows.iter().enumerate() {
        let d = upload(&store, u.id, h, r.0, &format!("g{i}")).await.document.id;
        let mut fields = vec![];
        if let Some(a) = r.5 {
            fields.push((amount.id, json!(a)));
        }
        if let Some(x) = r.6 {
            fields.push((due.id, json!(x)));
        }
        if let Some(x) = r.7 {
            fields.push((paid.id, json!(x)));
        }
        if let Some(x) = r.8 {
            fields.push((cat.id, json!(x)));
        }
        if let Some(x) = r.9 {
            fields.push((memo.id, json!(x)));
        }
        let p = DocumentPatch {
            correspondent_id: Some(r.1),
            document_type_id: Some(r.2),
            date: Some(r.3.map(date)),
            asn: Some(r.4),
            fields,
            ..patch()
        };
        store.update_document(u.id, d, &p).await.unwrap();
        if r.10 {
            store.add_note(u.id, d, u.id, "remember the receipt").await.unwrap();
        }
    }
    let cases: &[(&str, &[&str])] = &[
        ("correspondent:\"acme corp\"", &["inv1", "inv2"]),
        ("correspondent:Bank", &["stmt"]),
        ("correspondent:Nobody", &[]),
        ("type:invoice", &["inv1", "inv2"]),
        ("no:correspondent", &["plain"]),
        ("has:type", &["inv1", "inv2"]),
        ("no:type", &["stmt", "plain"]),
        ("asn:10", &["plain"]),
        ("has:asn", &["inv1", "inv2", "plain"]),
        ("created:2025", &["inv1", "stmt"]),
        ("created:2025-03", &["inv1"]),
        ("created:2025-03-14", &["inv1"]),
        ("created>2025-03-14", &["stmt"]),
        ("created>=2025-03-14", &["inv1", "stmt"]),
        ("created<2025", &["inv2"]),
        ("created<=2025-03-14", &["inv1", "inv2"]),
        ("no:date", &["plain"]),
        ("amount>100", &["inv1"]),
        ("amount>=100", &["inv1", "stmt"]),
        ("amount<100", &["inv2"]),
        ("amount:100", &["stmt"]),
        ("Amount<=EUR99.99", &["inv2"]),
        ("\"due date\"<2026-01-01", &["inv1"]),
        ("\"due date\":2026", &["inv2"]),
        ("\"due date\">=2025-04-14", &["inv1", "inv2"]),
        ("paid:true", &["inv1"]),
        ("paid:false", &["inv2"]),
        ("category:Insurance", &["stmt"]),
        ("category:tax", &["inv1"]),
        ("category:Car", &[]),
        ("has:category", &["inv1", "stmt"]),
        ("no:category", &["inv2", "plain"]),
        ("memo:chairs", &["inv1"]),
        ("memo:50%", &["inv1"]),
        ("memo:_", &["stmt"]),
        ("has:note", &["inv1", "plain"]),
        ("no:note", &["inv2", "stmt"]),
        ("type:invoice amount>100 created:2025", &["inv1"]),
        ("correspondent:\"ACME Corp\" receipt", &["inv1"]),
        ("receipt no:correspondent", &["plain"]),
    ];
    for (q, want) in cases {
        let hits = store.search(u.id, &search_q(q), page_req(1, 50)).await.unwrap_or_else(|e| panic!("{q}: {e}"));
        let mut got: Vec<String> = hits.items.iter().map(|h| h.document.title.clone()).collect();
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "query {q}");
        assert_eq!(hits.total, want.len() as i64, "total of {q}");
    }
    // Mistakes are named.
    for (q, says) in [
        ("colour:red", "no custom field named \"colour\""),
        ("category>x", "only numbers and dates"),
        ("amount>lots", "not a number"),
        ("created:yesterday", "created: needs a date"),
        ("asn:x", "asn: needs a number"),
    ] {
        let err = match docmerge::domain::search::parse_query(q) {
            Err(e) => e,
            Ok(parsed) => store.search(u.id, &parsed, page_req(1, 10)).await.expect_err(q),
        };
        assert!(err.to_string().contains(says), "{q}: {err}");
    }
    // Bob sees none of it, and Alice's names mean nothing to him.
    let bob = user(&store, "bob").await;
    assert_eq!(store.search(bob.id, &search_q("correspondent:Bank"), page_req(1, 10)).await.unwrap().total, 0);
    assert!(store.search(bob.id, &search_q("amount>1"), page_req(1, 10)).await.is_err(), "no field of his is named amount");
}

conformance!(bulk_edit_chunks_commit_with_progress_and_never_twice);
/// A bulk edit's chunks: each commits with the job's progress under the lease; the same chunk
/// again (a retried job) changes nothing and writes no second history entry; a stale lease
/// writes nothing; trash and reprocess.
async fn bulk_edit_chunks_commit_with_progress_and_never_twice(store: Arc<dyn BulkStore>) {
    use docmerge::domain::bulk::{BulkArgs, BulkChunk, BulkEdit};
    use docmerge::domain::jobs::{JobSpec, NewJob};
    let u = user(&store, "alice").await;
    let h = home(&store, u.id).await;
    let tag = store.create_tag(u.id, "2025", "#123456").await.unwrap();
    let acme = store.create_label(u.id, LabelKind::Correspondent, "ACME", None, &[]).await.unwrap();
    let amount = store.create_field(u.id, "Amount", FieldKind::Monetary, Some("EUR"), &[]).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(upload(&store, u.id, h, &format!("d{i}"), &format!("bulk{i}")).await.document.id);
    }
    let bob = user(&store, "bob").await;
    let bobs = upload(&store, bob.id, home(&store, bob.id).await, "bob's", "bulkb").await.document.id;
    let edit = BulkEdit {
        add_tags: vec![tag.id],
        correspondent_id: Some(Some(acme.id)),
        date: Some(Some("2025-06-30".into())),
        fields: vec![(amount.id, json!("10"))],
        ..BulkEdit::default()
    };
    let mut job = NewJob::new(JobSpec::BulkEdit(BulkArgs { owner_id: u.id, documents: ids.clone(), edit: edit.clone() }));
    job.owner_id = Some(u.id);
    store.enqueue(vec![job]).await.unwrap();
    let claimed = claim_one(&store, "bulk_edit").await;
    let lease = claimed.lease(crate::common::WORKER);
    let chunk = |docs: &[Id], done: i64| BulkChunk {
        owner_id: u.id,
        documents: docs.to_vec(),
        edit: edit.clone(),
        done_after: done,
        total: 5,
        max_attempts: 3,
    };
    let before = store.latest_event_id().await.unwrap();
    // Bob's document in Alice's job is skipped, never touched.
    let out = store.bulk_edit_chunk(&lease, &chunk(&[ids[0], ids[1], ids[2], bobs], 3)).await.unwrap();
    assert_eq!((out.committed, out.changed, out.skipped), (true, 3, 1));
    assert!(store.document(bob.id, bobs).await.unwrap().meta.correspondent.is_none());
    let j = store.job(claimed.id).await.unwrap();
    assert_eq!((j.progress_done, j.progress_total), (Some(3), Some(5)));
    let d = store.document(u.id, ids[0]).await.unwrap();
    assert_eq!(d.meta.correspondent.as_ref().map(|c| c.id), Some(acme.id));
    assert_eq!(d.meta.date, Some(date("2025-06-30")));
    assert_eq!(d.tags.iter().map(|t| t.id).collect::<Vec<_>>(), vec![tag.id]);
    assert_eq!(d.meta.fields[0].value, json!({"amount": "10.00", "currency": "EUR"}));
    let evs = events_since(&store, u.id, before).await;
    let progress: Vec<_> = evs.iter().filter(|e| e.kind() == "bulk.progress").map(|e| e.data.payload()).collect();
    assert_eq!(progress, vec![json!({"job_id": claimed.id, "done": 3, "total": 5, "changed": 3, "skipped": 1})]);
    // The same chunk again (a retry after a crash between commit and the next chunk): nothing
    // changes, no second history entry.
    let edits = |d: Id| {
        let store = store.clone();
        async move { store.history(u.id, d, page_req(1, 50)).await.unwrap().items.iter().filter(|h| h.action == "edited").count() }
    };
    assert_eq!(edits(ids[0]).await, 1);
    let again = store.bulk_edit_chunk(&lease, &chunk(&ids[..3], 3)).await.unwrap();
    assert_eq!((again.committed, again.changed), (true, 0));
    assert_eq!(edits(ids[0]).await, 1);
    // A stale lease writes nothing.
    let stale = docmerge::domain::jobs::Lease { seq: lease.seq - 1, ..lease.clone() };
    let out = store.bulk_edit_chunk(&stale, &chunk(&ids[3..], 5)).await.unwrap();
    assert!(!out.committed);
    assert!(store.document(u.id, ids[3]).await.unwrap().meta.correspondent.is_none());
    let out = store.bulk_edit_chunk(&lease, &chunk(&ids[3..], 5)).await.unwrap();
    assert_eq!((out.committed, out.changed), (true, 2));
    assert_eq!(list(&store, u.id, DocumentFilter { correspondent_id: Some(Some(acme.id)), ..Default::default() }).await.len(), 5);

    // Trash in bulk; reprocess in bulk (a document already queued is left alone).
    let trash = BulkChunk { edit: BulkEdit { trash: true, ..BulkEdit::default() }, ..chunk(&ids[..2], 2) };
    let out = store.bulk_edit_chunk(&lease, &trash).await.unwrap();
    assert_eq!(out.changed, 2);
    assert!(store.document(u.id, ids[0]).await.unwrap().trashed_at.is_some());
    let reprocess = BulkChunk { edit: BulkEdit { reprocess: true, ..BulkEdit::default() }, ..chunk(&ids, 5) };
    let out = store.bulk_edit_chunk(&lease, &reprocess).await.unwrap();
    assert_eq!((out.changed, out.skipped), (0, 2), "uploads are queued already; trashed ones are skipped");
}
