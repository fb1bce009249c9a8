//! Bulk loading for `docmerge bench` (not part of the production store).

use super::*;

#[async_trait]
impl BulkLoad for PgStore {
    async fn bulk_load_for_bench(&self, owner: Id, docs: Vec<SyntheticDoc>) -> DomainResult<Vec<Id>> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let n_docs = docs.len() as i64;
        let n_pages: i64 = docs.iter().map(|d| d.pages.len() as i64).sum();
        // Ids up front, so every table is one multi-row INSERT … SELECT FROM UNNEST.
        let nextvals = |seq: &str| format!("SELECT nextval('{seq}') FROM generate_series(1, $1::bigint)");
        let doc_ids = ids(query(&tx, &nextvals("documents_id_seq"), &[&n_docs]).await?)?;
        let version_ids = ids(query(&tx, &nextvals("versions_id_seq"), &[&n_docs]).await?)?;
        let page_ids = ids(query(&tx, &nextvals("pages_id_seq"), &[&n_pages]).await?)?;

        let (mut folder_ids, mut titles, mut filenames, mut shas, mut sizes, mut created, mut page_counts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut p_version, mut p_number, mut p_text) = (Vec::new(), Vec::new(), Vec::new());
        let (mut s_rowid, mut s_doc, mut s_pno, mut s_words) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut t_doc, mut t_tag, mut title_words) = (Vec::new(), Vec::new(), Vec::new());
        let (mut corr, mut dtype, mut dates) = (Vec::new(), Vec::new(), Vec::new());
        let (mut f_doc, mut f_field, mut f_value, mut f_num) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut next_page = page_ids.iter();
        for ((d, &doc_id), &version_id) in docs.iter().zip(&doc_ids).zip(&version_ids) {
            folder_ids.push(d.folder_id);
            titles.push(d.title.as_str());
            filenames.push(d.filename.as_str());
            shas.push(d.sha256.as_str());
            sizes.push(d.size);
            created.push(d.created_at);
            page_counts.push(d.pages.len() as i32);
            title_words.push(index_words(&d.title));
            corr.push(d.meta.correspondent_id);
            dtype.push(d.meta.document_type_id);
            dates.push(d.meta.date.clone());
            if let Some((field, amount)) = d.meta.amount {
                f_doc.push(doc_id);
                f_field.push(field);
                f_value.push(serde_json::json!({"amount": format!("{amount:.2}"), "currency": "EUR"}).to_string());
                f_num.push(amount);
            }
            for (i, text) in d.pages.iter().enumerate() {
                let page_id = *next_page.next().ok_or_else(|| DomainError::database("page id sequence ran short"))?;
                p_version.push(version_id);
                p_number.push(i as i32 + 1);
                p_text.push(text.as_str());
                if !text.is_empty() {
                    s_rowid.push(page_id);
                    s_doc.push(doc_id);
                    s_pno.push(i as i32 + 1);
                    s_words.push(index_words(text));
                }
            }
            for &t in &d.tag_ids {
                t_doc.push(doc_id);
                t_tag.push(t);
            }
        }
        exec(
            &tx,
            "INSERT INTO documents (id, owner_id, folder_id, title, state, sha256, current_version_id, created_at, updated_at, title_tsv, \
               correspondent_id, document_type_id, document_date, date_source) \
             SELECT u.id, $1, u.folder, u.title, 'ready', u.sha, u.vid, u.created, u.created, to_tsvector('simple', u.words), \
               u.corr, u.dtype, u.date, CASE WHEN u.date IS NULL THEN NULL ELSE 'user' END \
             FROM UNNEST($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::bigint[], $10::bigint[], $11::text[]) \
               AS u(id, folder, title, sha, vid, created, words, corr, dtype, date)",
            &[&owner, &doc_ids, &folder_ids, &titles, &shas, &version_ids, &created, &title_words, &corr, &dtype, &dates],
        )
        .await?;
        exec(
            &tx,
            "INSERT INTO versions (id, document_id, number, filename, mime, size, sha256, state, page_count, pages_done, note, created_at) \
             SELECT u.id, u.doc, 1, u.filename, 'application/pdf', u.size, u.sha, 'ready', u.pages, u.pages, 'uploaded', u.created \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::bigint[]) \
               AS u(id, doc, filename, size, sha, pages, created)",
            &[&version_ids, &doc_ids, &filenames, &sizes, &shas, &page_counts, &created],
        )
        .await?;
        exec(
            &tx,
            "INSERT INTO pages (id, version_id, number, width, height, text, lines_json, source) \
             SELECT u.id, u.vid, u.number, 595.0, 842.0, u.text, '[]', 'text' \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::int[], $4::text[]) AS u(id, vid, number, text)",
            &[&page_ids, &p_version, &p_number, &p_text],
        )
        .await?;
        exec(
            &tx,
            "INSERT INTO search_index (rowid, document_id, page_number, tsv) \
             SELECT u.rid, u.doc, u.pno, to_tsvector('simple', u.words) \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::int[], $4::text[]) AS u(rid, doc, pno, words)",
            &[&s_rowid, &s_doc, &s_pno, &s_words],
        )
        .await?;
        exec(
            &tx,
            "INSERT INTO document_tags (document_id, tag_id) SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING",
            &[&t_doc, &t_tag],
        )
        .await?;
        exec(
            &tx,
            "INSERT INTO document_fields (document_id, field_id, value, num, txt) \
             SELECT u.doc, u.field, u.value, u.num, 'EUR' FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::float8[]) AS u(doc, field, value, num)",
            &[&f_doc, &f_field, &f_value, &f_num],
        )
        .await?;
        tx.commit().await?;
        Ok(doc_ids)
    }

    async fn analyze_after_bulk_load(&self) -> DomainResult<()> {
        let c = self.client().await?;
        c.batch_execute("VACUUM ANALYZE").await.map_err(DomainError::from)
    }
}
