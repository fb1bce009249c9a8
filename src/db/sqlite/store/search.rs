//! Full-text search.

use super::*;

#[async_trait]
impl SearchStore for SqliteStore {
    async fn search(&self, owner: Id, q: &SearchQuery, page: PageReq) -> DomainResult<Paged<SearchHit>> {
        let q = q.clone();
        // The search stops at its time limit, or as soon as this future is dropped (the client
        // went away): SQLite's progress handler asks every few thousand steps.
        let cancelled = super::super::CancelFlag::default();
        let flag = cancelled.shared();
        let limit = q.time_limit;
        self.read_mut(move |c| {
            let deadline = std::time::Instant::now() + limit;
            c.progress_handler(4_000, Some(move || flag.is_set() || std::time::Instant::now() > deadline))?;
            let out = search_in(c, owner, &q, page).map_err(|e| super::super::interrupted_as_too_expensive(e, limit));
            c.progress_handler(0, None::<fn() -> bool>)?;
            out
        })
        .await
    }
}

/// A search's `tag:` and `folder:` filters as conditions on `d`, each kind one condition however
/// many names it has. `None`: some name matches nothing, so nothing can match.
fn filter_conditions(
    c: &Connection,
    owner: Id,
    q: &SearchQuery,
    args: &mut Vec<rusqlite::types::Value>,
) -> DomainResult<Option<Vec<String>>> {
    let mut conds = Vec::new();
    if !q.tags.is_empty() {
        // [[tag id, filter number], ...]: a name can match tags that differ only in case.
        let mut pairs: Vec<(Id, usize)> = Vec::new();
        let mut st = c.prepare_cached("SELECT id FROM tags WHERE owner_id = ?1 AND name = ?2 COLLATE NOCASE")?;
        for (g, name) in q.tags.iter().enumerate() {
            let ids = st.query_map(params![owner, name], |r| r.get::<_, Id>(0))?.collect::<Result<Vec<_>, _>>()?;
            if ids.is_empty() {
                return Ok(None);
            }
            pairs.extend(ids.into_iter().map(|id| (id, g)));
        }
        let json = serde_json::to_string(&pairs).map_err(|e| DomainError::database(e.to_string()))?;
        args.push(json.into());
        args.push((q.tags.len() as i64).into());
        conds.push(format!(
            "(SELECT COUNT(DISTINCT json_extract(m.value, '$[1]')) FROM document_tags dt JOIN json_each(?{}) m ON json_extract(m.value, '$[0]') = dt.tag_id \
             WHERE dt.document_id = d.id) = ?{}",
            args.len() - 1,
            args.len()
        ));
    }
    let mut folders: Option<Vec<Id>> = None;
    let mut st = c.prepare_cached("SELECT id FROM folders WHERE owner_id = ?1 AND trashed_at IS NULL AND name LIKE ?2 ESCAPE '\\'")?;
    for f in &q.folders {
        let ids: HashSet<Id> = st.query_map(params![owner, like_escape(f)], |r| r.get::<_, Id>(0))?.collect::<Result<_, _>>()?;
        let kept: Vec<Id> = match folders.take() {
            None => ids.into_iter().collect(),
            Some(prev) => prev.into_iter().filter(|i| ids.contains(i)).collect(),
        };
        if kept.is_empty() {
            return Ok(None);
        }
        folders = Some(kept);
    }
    if let Some(ids) = folders {
        let json = serde_json::to_string(&ids).map_err(|e| DomainError::database(e.to_string()))?;
        args.push(json.into());
        conds.push(format!("d.folder_id IN (SELECT value FROM json_each(?{}))", args.len()));
    }
    Ok(Some(conds))
}

fn search_in(c: &Connection, owner: Id, q: &SearchQuery, page: PageReq) -> DomainResult<Paged<SearchHit>> {
    let mut conds = vec!["d.owner_id = ?1".to_string(), "d.trashed_at IS NULL".to_string()];
    let mut args: Vec<rusqlite::types::Value> = vec![owner.into()];
    match filter_conditions(c, owner, q, &mut args)? {
        Some(more) => conds.extend(more),
        None => return Ok(Paged { truncated: false, items: Vec::new(), total: 0, page: page.page, page_size: page.page_size }),
    }
    if let Some(a) = q.after {
        args.push(a.into());
        conds.push(format!("d.created_at >= ?{}", args.len()));
    }
    if let Some(b) = q.before {
        args.push(b.into());
        conds.push(format!("d.created_at < ?{}", args.len()));
    }
    if !q.meta.is_empty() {
        let (correspondents, document_types, fields) = super::metadata_store::vocabulary(c, owner)?;
        let v = crate::domain::query::Vocabulary { correspondents: &correspondents, document_types: &document_types, fields: &fields };
        let value = |a: crate::db::SqlArg| -> rusqlite::types::Value {
            match a {
                crate::db::SqlArg::Int(i) => i.into(),
                crate::db::SqlArg::Float(f) => f.into(),
                crate::db::SqlArg::Text(t) => t.into(),
            }
        };
        for cond in crate::domain::query::plan(&q.meta, &v)? {
            // A field condition matching few rows is read from the field's index first; one
            // matching many is checked per document (SQLite's planner cannot tell them apart).
            let mut probe_args: Vec<rusqlite::types::Value> = Vec::new();
            let form = match crate::db::field_probe(&cond, &mut |a| {
                probe_args.push(value(a));
                format!("?{}", probe_args.len())
            }) {
                Some(sql) => {
                    let rows: i64 = c.prepare_cached(&sql)?.query_row(params_from_iter(probe_args.iter()), |r| r.get(0))?;
                    if rows > crate::db::SPARSE_FIELD_ROWS { crate::db::FieldForm::Exists } else { crate::db::FieldForm::In }
                }
                None => crate::db::FieldForm::In,
            };
            conds.push(crate::db::render_cond(&cond, form, &mut |a| {
                args.push(value(a));
                format!("?{}", args.len())
            }));
        }
    }
    if !q.has_text() {
        // Filters only: in the query's sort order (newest added first unless it says otherwise).
        let wher = conds.join(" AND ");
        let cap = if q.count_all { String::new() } else { format!(" LIMIT {}", FILTER_COUNT_CAP + 1) };
        let counted: i64 = c
            .prepare(&format!("SELECT COUNT(*) FROM (SELECT 1 FROM documents d WHERE {wher}{cap})"))
            .and_then(|mut st| st.query_row(params_from_iter(args.iter()), |r| r.get(0)))?;
        let (total, more) = if !q.count_all && counted > FILTER_COUNT_CAP { (FILTER_COUNT_CAP, true) } else { (counted, false) };
        let n = args.len();
        args.push(page.limit().into());
        args.push(page.offset().into());
        let sql =
            format!("SELECT {DOC_COLS} FROM {DOC_FROM} WHERE {wher} ORDER BY {} LIMIT ?{} OFFSET ?{}", doc_order(q.sort), n + 1, n + 2);
        let mut st = c.prepare(&sql)?;
        let mut docs = st.query_map(params_from_iter(args.iter()), document_from)?.collect::<Result<Vec<_>, _>>()?;
        attach_tags(c, &mut docs)?;
        let items = docs.into_iter().map(|d| SearchHit { document: d, page_number: None, snippet: String::new(), rank: 0.0 }).collect();
        return Ok(Paged { truncated: more, items, total, page: page.page, page_size: page.page_size });
    }
    let expr = fts_expression(q);
    args.push(expr.clone().into());
    let match_arg = args.len();
    let wher = conds.join(" AND ");
    // Page rows (rowid = page id, newest = highest) and title rows (rowid = -document id,
    // newest = lowest) of this user's visible documents, newest first, at most
    // RANKED_MATCHES + 1 of each: the index is walked in rowid order and stops there.
    // Ranking (bm25) reads the whole list of every word searched for, so it is done only
    // when the matches are few; a word on more pages than that lists the newest first.
    let candidates_of = |rank: bool| -> DomainResult<(Vec<Candidate>, bool)> {
        let mut candidates = Vec::new();
        let mut truncated = false;
        let score = if rank { "-bm25(search_index)" } else { "0.0" };
        for (range, newest_first) in [("s.rowid > 0", "s.rowid DESC"), ("s.rowid < 0", "s.rowid ASC")] {
            let mut st = c.prepare_cached(&format!(
                "SELECT s.rowid, s.document_id, s.page_number, {score} FROM search_index s \
                     JOIN documents d ON d.id = s.document_id \
                     WHERE search_index MATCH ?{match_arg} AND {range} AND {wher} ORDER BY {newest_first} LIMIT {}",
                RANKED_MATCHES + 1
            ))?;
            let rows = st
                .query_map(params_from_iter(args.iter()), |r| {
                    Ok((r.get::<_, Id>(0)?, r.get::<_, Id>(1)?, r.get::<_, i32>(2)?, r.get::<_, f64>(3)?))
                })
                .map_err(|e| DomainError::Invalid(format!("cannot search for that: {e}")))?;
            let before = candidates.len();
            for r in rows {
                candidates.push(r?);
            }
            if candidates.len() - before > RANKED_MATCHES as usize {
                truncated = true;
                candidates.pop();
            }
        }
        Ok((candidates, truncated))
    };
    let (mut candidates, truncated) = candidates_of(false)?;
    if !truncated {
        candidates = candidates_of(true)?.0;
    }
    let ranked = best_per_document(candidates);
    let total = ranked.len() as i64;
    let hits: Vec<_> = ranked.into_iter().skip(page.offset() as usize).take(page.limit() as usize).collect();
    // Snippets are cut in Rust from the stored text (the same code on both backends), and
    // the documents of the page shown come from one query.
    let mut body = c.prepare_cached("SELECT body FROM search_index WHERE rowid = ?1")?;
    let doc_ids: Vec<rusqlite::types::Value> = hits.iter().map(|h| h.1.into()).collect();
    let mut docs: HashMap<Id, Document> = if doc_ids.is_empty() {
        HashMap::new()
    } else {
        let sql = format!("SELECT {DOC_COLS} FROM {DOC_FROM} WHERE d.owner_id = ?1 AND d.id IN ({})", placeholders(doc_ids.len(), 2));
        let mut st = c.prepare(&sql)?;
        let mut list = st
            .query_map(params_from_iter(std::iter::once(rusqlite::types::Value::from(owner)).chain(doc_ids)), document_from)?
            .collect::<Result<Vec<_>, _>>()?;
        attach_tags(c, &mut list)?;
        list.into_iter().map(|d| (d.id, d)).collect()
    };
    let mut items = Vec::with_capacity(hits.len());
    for (rid, doc_id, pno, rank) in hits {
        let Some(document) = docs.remove(&doc_id) else { continue };
        let text: String = body.query_row(params![rid], |r| r.get(0)).optional()?.unwrap_or_default();
        items.push(SearchHit {
            document,
            page_number: if pno > 0 { Some(pno) } else { None },
            snippet: crate::domain::snippet_html(&crate::domain::search::snippet(&text, q)),
            rank,
        });
    }
    Ok(Paged { truncated, items, total, page: page.page, page_size: page.page_size })
}
