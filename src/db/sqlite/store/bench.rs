//! Bulk loading for `docmerge bench` (not part of the production store).

use super::*;

#[async_trait]
impl BulkLoad for SqliteStore {
    async fn bulk_load_for_bench(&self, owner: Id, docs: Vec<SyntheticDoc>) -> DomainResult<Vec<Id>> {
        // One transaction for the whole batch with cached prepared statements: in SQLite that is
        // as fast as multi-row VALUES lists, without the bound-parameter limit.
        self.write(move |tx| {
            let mut doc_ids = Vec::with_capacity(docs.len());
            let mut ins_doc = tx
                .prepare_cached(
                    "INSERT INTO documents (owner_id, folder_id, title, state, sha256, created_at, updated_at, correspondent_id, document_type_id, \
                     document_date, date_source) VALUES (?1, ?2, ?3, 'ready', ?4, ?5, ?5, ?6, ?7, ?8, CASE WHEN ?8 IS NULL THEN NULL ELSE 'user' END)",
                )
                ?;
            let mut ins_version = tx
                .prepare_cached(
                    "INSERT INTO versions (document_id, number, filename, mime, size, sha256, state, page_count, pages_done, note, created_at) \
                     VALUES (?1, 1, ?2, 'application/pdf', ?3, ?4, 'ready', ?5, ?5, 'uploaded', ?6)",
                )
                ?;
            let mut set_current = tx.prepare_cached("UPDATE documents SET current_version_id = ?2 WHERE id = ?1")?;
            let mut ins_page = tx
                .prepare_cached(
                    "INSERT INTO pages (version_id, number, width, height, text, lines_json, source) VALUES (?1, ?2, 595.0, 842.0, ?3, '[]', 'text')",
                )
                ?;
            let mut ins_index = tx
                .prepare_cached("INSERT INTO search_index (rowid, body, document_id, page_number) VALUES (?1, ?2, ?3, ?4)")
                ?;
            let mut ins_tag = tx.prepare_cached("INSERT OR IGNORE INTO document_tags (document_id, tag_id) VALUES (?1, ?2)")?;
            let mut ins_field =
                tx.prepare_cached("INSERT INTO document_fields (document_id, field_id, value, num, txt) VALUES (?1, ?2, ?3, ?4, 'EUR')")?;
            for d in &docs {
                let m = &d.meta;
                ins_doc.execute(params![owner, d.folder_id, d.title, d.sha256, d.created_at, m.correspondent_id, m.document_type_id, m.date])?;
                let doc_id = tx.last_insert_rowid();
                if let Some((field, amount)) = m.amount {
                    let value = serde_json::json!({"amount": format!("{amount:.2}"), "currency": "EUR"}).to_string();
                    ins_field.execute(params![doc_id, field, value, amount])?;
                }
                ins_version
                    .execute(params![doc_id, d.filename, d.size, d.sha256, d.pages.len() as i64, d.created_at])
                    ?;
                let version_id = tx.last_insert_rowid();
                set_current.execute(params![doc_id, version_id])?;
                ins_index.execute(params![-doc_id, d.title, doc_id, 0])?;
                for (i, text) in d.pages.iter().enumerate() {
                    let number = i as i64 + 1;
                    ins_page.execute(params![version_id, number, text])?;
                    let page_id = tx.last_insert_rowid();
                    if !text.is_empty() {
                        ins_index.execute(params![page_id, text, doc_id, number])?;
                    }
                }
                for t in &d.tag_ids {
                    ins_tag.execute(params![doc_id, t])?;
                }
                doc_ids.push(doc_id);
            }
            Ok(doc_ids)
        })
        .await
    }

    async fn analyze_after_bulk_load(&self) -> DomainResult<()> {
        self.write(|tx| tx.execute_batch("PRAGMA optimize").map_err(DomainError::from)).await
    }
}
