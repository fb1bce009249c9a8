//! Full-text search.

use super::*;

#[async_trait]
impl SearchStore for PgStore {
    async fn search(&self, owner: Id, q: &SearchQuery, page: PageReq) -> DomainResult<Paged<SearchHit>> {
        // One read-only transaction with a statement timeout, cancelled on the server when this
        // future is dropped (the client went away): a search costs at most `q.time_limit`.
        let mut guard = super::super::CancelOnDrop::new(self.client().await?, self.tls.clone());
        let result = async {
            let tx = guard.client().build_transaction().read_only(true).start().await?;
            let ms = q.time_limit.as_millis().clamp(1, i32::MAX as u128);
            tx.batch_execute(&format!("SET LOCAL statement_timeout = {ms}")).await?;
            let out = search_in(&tx, owner, q, page).await.map_err(|e| super::super::timeout_as_too_expensive(e, q.time_limit))?;
            tx.commit().await?;
            Ok(out)
        }
        .await;
        // Finished either way: nothing is running on the connection any more.
        guard.disarm();
        result
    }
}

/// A search's `tag:` and `folder:` filters as ids. `None`: some name matches nothing, so nothing
/// can match the search.
struct ResolvedFilters {
    /// Every tag id named, with the number of the filter it answers (a name can match tags that
    /// differ only in case); a document must carry tags of all `groups` filters.
    tag_ids: Vec<Id>,
    tag_groups: Vec<i32>,
    groups: i64,
    /// The folders whose name matches every `folder:` filter (None: no folder filter).
    folder_ids: Option<Vec<Id>>,
}

async fn resolve_filters<C: GenericClient>(c: &C, owner: Id, q: &SearchQuery) -> DomainResult<Option<ResolvedFilters>> {
    let mut out = ResolvedFilters { tag_ids: Vec::new(), tag_groups: Vec::new(), groups: q.tags.len() as i64, folder_ids: None };
    if !q.tags.is_empty() {
        let names: Vec<String> = q.tags.iter().map(|t| t.to_lowercase()).collect();
        let rows = query(c, "SELECT id, lower(name) FROM tags WHERE owner_id = $1 AND lower(name) = ANY($2)", &[&owner, &names]).await?;
        for (g, name) in names.iter().enumerate() {
            let before = out.tag_ids.len();
            for r in &rows {
                if col::<String>(r, 1)? == *name {
                    out.tag_ids.push(col(r, 0)?);
                    out.tag_groups.push(g as i32);
                }
            }
            if out.tag_ids.len() == before {
                return Ok(None);
            }
        }
    }
    for f in &q.folders {
        let rows = query(
            c,
            "SELECT id FROM folders WHERE owner_id = $1 AND trashed_at IS NULL AND name ILIKE $2 ESCAPE '\\'",
            &[&owner, &like_escape(f)],
        )
        .await?;
        let ids: HashSet<Id> = rows.iter().map(|r| col::<Id>(r, 0)).collect::<DomainResult<_>>()?;
        let kept: Vec<Id> = match out.folder_ids.take() {
            None => ids.into_iter().collect(),
            Some(prev) => prev.into_iter().filter(|i| ids.contains(i)).collect(),
        };
        if kept.is_empty() {
            return Ok(None);
        }
        out.folder_ids = Some(kept);
    }
    Ok(Some(out))
}

async fn search_in<C: GenericClient>(c: &C, owner: Id, q: &SearchQuery, page: PageReq) -> DomainResult<Paged<SearchHit>> {
    let mut conds = vec!["d.owner_id = $1".to_string(), "d.trashed_at IS NULL".to_string()];
    let mut args: Params = vec![Box::new(owner)];
    // Tag and folder names are looked up once, so that each kind of filter is one condition
    // however many names it has (one EXISTS per name made planning time grow steeply).
    let Some(filters) = resolve_filters(c, owner, q).await? else {
        return Ok(Paged { truncated: false, items: Vec::new(), total: 0, page: page.page, page_size: page.page_size });
    };
    if !filters.tag_ids.is_empty() {
        args.push(Box::new(filters.tag_ids));
        args.push(Box::new(filters.tag_groups));
        args.push(Box::new(filters.groups));
        conds.push(format!(
            "(SELECT COUNT(DISTINCT m.g) FROM document_tags dt JOIN UNNEST(${}::bigint[], ${}::int[]) AS m(t, g) ON m.t = dt.tag_id \
             WHERE dt.document_id = d.id) = ${}",
            args.len() - 2,
            args.len() - 1,
            args.len()
        ));
    }
    if let Some(folder_ids) = filters.folder_ids {
        args.push(Box::new(folder_ids));
        conds.push(format!("d.folder_id = ANY(${})", args.len()));
    }
    if let Some(a) = q.after {
        args.push(Box::new(a));
        conds.push(format!("d.created_at >= ${}", args.len()));
    }
    if let Some(b) = q.before {
        args.push(Box::new(b));
        conds.push(format!("d.created_at < ${}", args.len()));
    }
    if !q.meta.is_empty() {
        let (correspondents, document_types, fields) = super::metadata_store::vocabulary(c, owner).await?;
        let v = crate::domain::query::Vocabulary { correspondents: &correspondents, document_types: &document_types, fields: &fields };
        for cond in crate::domain::query::plan(&q.meta, &v)? {
            // PostgreSQL plans IN and EXISTS alike (a semi-join, by its statistics).
            conds.push(crate::db::render_cond(&cond, crate::db::FieldForm::In, &mut |a| {
                args.push(match a {
                    crate::db::SqlArg::Int(i) => Box::new(i),
                    crate::db::SqlArg::Float(f) => Box::new(f),
                    crate::db::SqlArg::Text(t) => Box::new(t),
                });
                format!("${}", args.len())
            }));
        }
    }
    if !q.has_text() {
        // Filters only: in the query's sort order (newest added first unless it says otherwise).
        let wher = conds.join(" AND ");
        let cap = if q.count_all { String::new() } else { format!(" LIMIT {}", FILTER_COUNT_CAP + 1) };
        let counted = count(c, &format!("SELECT COUNT(*) FROM (SELECT 1 FROM documents d WHERE {wher}{cap}) m"), &refs(&args)).await?;
        let (total, more) = if !q.count_all && counted > FILTER_COUNT_CAP { (FILTER_COUNT_CAP, true) } else { (counted, false) };
        let n = args.len();
        args.push(Box::new(page.limit()));
        args.push(Box::new(page.offset()));
        let sql =
            format!("SELECT {DOC_COLS} FROM {DOC_FROM} WHERE {wher} ORDER BY {} LIMIT ${} OFFSET ${}", doc_order(q.sort), n + 1, n + 2);
        let docs = load_docs(c, &sql, &refs(&args)).await?;
        let items = docs.into_iter().map(|d| SearchHit { document: d, page_number: None, snippet: String::new(), rank: 0.0 }).collect();
        return Ok(Paged { truncated: more, items, total, page: page.page, page_size: page.page_size });
    }
    let expr = ts_expression(q);
    args.push(Box::new(expr.clone()));
    let q_arg = args.len();
    args.push(Box::new(RANKED_MATCHES + 1));
    let limit_arg = args.len();
    let wher = conds.join(" AND ");
    // This user's matching pages newest first (rowid = page id), and the documents whose title
    // matches (rowid = -document id), newest first: at most RANKED_MATCHES + 1 of each. For a
    // word on most pages the planner walks search_index(owner_id, rowid) and stops there; for
    // a rarer one it asks the GIN index. When there are more matches than that, the newest are
    // listed newest first instead of ranked; otherwise ts_rank ranks them.
    let tsq = format!("to_tsquery('simple', ${q_arg})");
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut truncated = false;
    // Pages: read from search_index alone (its owner_id column), newest first, in batches;
    // each batch's documents are then checked against the filters in one query. Joining
    // documents inside the index scan would look up the document of every match before
    // sorting, not only of the newest ones kept.
    let filter_args = &args[..q_arg - 1];
    let docs_sql = format!("SELECT d.id FROM documents d WHERE d.id = ANY(${}) AND {wher}", q_arg);
    let (pages, pages_truncated) = matching_pages(c, owner, &expr, filter_args, &docs_sql).await?;
    truncated |= pages_truncated;
    candidates.extend(pages);
    // Titles: documents.title_tsv (GIN), small rows, filtered in the same query; read in
    // windows of document ids, newest first, so that a title word on thousands of documents
    // costs about the RANKED_MATCHES + 1 newest of them (BitmapAnd of the GIN and the primary
    // key), not a heap read and a ts_rank of every one.
    let title_sql = format!(
        "SELECT -d.id, d.id, 0, ts_rank(d.title_tsv, {tsq}) FROM documents d \
         WHERE d.title_tsv @@ {tsq} AND {wher} AND d.id < ${} AND d.id >= ${} ORDER BY d.id DESC LIMIT ${limit_arg}",
        args.len() + 1,
        args.len() + 2
    );
    let mut titles = matching_titles(c, &args, &title_sql).await?;
    truncated |= titles.len() as i64 > RANKED_MATCHES;
    titles.truncate(RANKED_MATCHES as usize);
    candidates.extend(titles);
    if truncated {
        for c in &mut candidates {
            c.3 = 0.0;
        }
    }
    let ranked = best_per_document(candidates);
    let total = ranked.len() as i64;
    let hits: Vec<_> = ranked.into_iter().skip(page.offset() as usize).take(page.limit() as usize).collect();
    let items = hits_with_documents(c, owner, q, hits).await?;
    Ok(Paged { truncated, items, total, page: page.page, page_size: page.page_size })
}

/// This owner's pages matching `expr`, newest first, read from search_index alone in batches;
/// each batch's documents are checked against the search's filters in one query. At most
/// RANKED_MATCHES; ranked with ts_rank when there are not more than that (the flag says there
/// were more, and then they are listed newest first).
async fn matching_pages<C: GenericClient>(
    c: &C,
    owner: Id,
    expr: &String,
    filter_args: &[Box<dyn ToSql + Sync + Send>],
    docs_sql: &str,
) -> DomainResult<(Vec<Candidate>, bool)> {
    // Read in windows of page ids, newest first (as the titles are): a word on a few percent of
    // all pages costs about the pages of the windows that hold its newest matches, instead of
    // a heap check of every match (21,100 pages for a word start at 100k documents cost 0.3 s
    // read whole; see BENCHMARKS.md).
    let page_sql = "SELECT s.rowid, s.document_id, s.page_number FROM search_index s \
                    WHERE s.owner_id = $1 AND s.tsv @@ to_tsquery('simple', $2) AND s.rowid < $3 AND s.rowid >= $4 \
                    ORDER BY s.rowid DESC LIMIT $5";
    let bounds = query_one(c, "SELECT min(rowid), max(rowid) FROM search_index WHERE owner_id = $1", &[&owner]).await?;
    let (Some(lowest), Some(highest)) = (col::<Option<Id>>(&bounds, 0)?, col::<Option<Id>>(&bounds, 1)?) else {
        return Ok((Vec::new(), false));
    };
    let want = RANKED_MATCHES + 1;
    let mut windows = crate::domain::search::IdWindows::new(lowest, highest);
    let mut pages: Vec<Candidate> = Vec::new();
    while let Some((from, below)) = windows.next(pages.len() as i64, want) {
        let limit = want - pages.len() as i64;
        let rows = query(c, page_sql, &[&owner, expr, &below, &from, &limit]).await?;
        let found: Vec<(Id, Id, i32)> =
            rows.iter().map(|r| Ok((col::<Id>(r, 0)?, col::<Id>(r, 1)?, col::<i32>(r, 2)?))).collect::<DomainResult<_>>()?;
        // A full batch stops at its last row; the rest of the window is read next time.
        let read_to = if found.len() as i64 == limit { found.last().map_or(from, |f| f.0) } else { from };
        windows.read_down_to(read_to);
        if found.is_empty() {
            continue;
        }
        let mut ids: Vec<Id> = found.iter().map(|f| f.1).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut p = refs(filter_args);
        p.push(&ids);
        let visible: HashSet<Id> = query(c, docs_sql, &p).await?.iter().map(|r| col::<Id>(r, 0)).collect::<DomainResult<_>>()?;
        pages.extend(found.into_iter().filter(|f| visible.contains(&f.1)).map(|(rid, doc, pno)| (rid, doc, pno, 0.0)));
    }
    let truncated = pages.len() as i64 > RANKED_MATCHES;
    pages.truncate(RANKED_MATCHES as usize);
    if !truncated && !pages.is_empty() {
        // Few enough to rank: ts_rank of just these rows.
        let rids: Vec<Id> = pages.iter().map(|p| p.0).collect();
        let rank: HashMap<Id, f64> =
            query(c, "SELECT rowid, ts_rank(tsv, to_tsquery('simple', $2)) FROM search_index WHERE rowid = ANY($1)", &[&rids, expr])
                .await?
                .iter()
                .map(|r| Ok((col::<Id>(r, 0)?, col::<f32>(r, 1)? as f64)))
                .collect::<DomainResult<_>>()?;
        for p in &mut pages {
            p.3 = rank.get(&p.0).copied().unwrap_or(0.0);
        }
    }
    Ok((pages, truncated))
}

/// Documents whose title matches, read in windows of document ids, newest first (see the
/// caller): at most RANKED_MATCHES + 1.
async fn matching_titles<C: GenericClient>(c: &C, args: &[Box<dyn ToSql + Sync + Send>], title_sql: &str) -> DomainResult<Vec<Candidate>> {
    let bounds = query_one(c, "SELECT min(id), max(id) FROM documents", &[]).await?;
    let mut titles: Vec<Candidate> = Vec::new();
    if let (Some(lowest), Some(highest)) = (col::<Option<Id>>(&bounds, 0)?, col::<Option<Id>>(&bounds, 1)?) {
        let want = RANKED_MATCHES + 1;
        let mut windows = crate::domain::search::IdWindows::new(lowest, highest);
        while let Some((from, below)) = windows.next(titles.len() as i64, want) {
            let mut p = refs(args);
            p.push(&below);
            p.push(&from);
            let rows = query(c, title_sql, &p).await?;
            for r in &rows {
                titles.push((col::<Id>(r, 0)?, col::<Id>(r, 1)?, col::<i32>(r, 2)?, col::<f32>(r, 3)? as f64));
            }
            windows.read_down_to(from);
        }
    }
    Ok(titles)
}

/// The page of results shown: its documents in one query, snippets cut in Rust from the stored
/// text of just these pages.
async fn hits_with_documents<C: GenericClient>(c: &C, owner: Id, q: &SearchQuery, hits: Vec<Candidate>) -> DomainResult<Vec<SearchHit>> {
    let rids: Vec<Id> = hits.iter().map(|r| r.0).filter(|r| *r > 0).collect();
    // Snippets only for the page of results shown, cut in Rust from the stored text (the same
    // code on both backends; ts_headline would re-parse every page's whole text).
    let mut snippets: HashMap<Id, String> = HashMap::new();
    if !rids.is_empty() {
        for r in &query(c, "SELECT id, text FROM pages WHERE id = ANY($1)", &[&rids]).await? {
            let body: String = col(r, 1)?;
            snippets.insert(col(r, 0)?, crate::domain::search::snippet(&body, q));
        }
    }
    // The documents of the page shown, in one query.
    let doc_ids: Vec<Id> = hits.iter().map(|r| r.1).collect();
    let docs =
        load_docs(c, &format!("SELECT {DOC_COLS} FROM {DOC_FROM} WHERE d.id = ANY($1) AND d.owner_id = $2"), &[&doc_ids, &owner]).await?;
    let mut docs: HashMap<Id, Document> = docs.into_iter().map(|d| (d.id, d)).collect();
    let mut items = Vec::with_capacity(hits.len());
    for (rid, doc_id, pno, rank) in hits {
        let Some(document) = docs.remove(&doc_id) else { continue };
        let snippet = match snippets.remove(&rid) {
            Some(s) => s,
            None if rid < 0 => crate::domain::search::snippet(&document.title, q),
            None => String::new(),
        };
        items.push(SearchHit {
            document,
            page_number: if pno > 0 { Some(pno) } else { None },
            snippet: crate::domain::snippet_html(&snippet),
            rank,
        });
    }
    Ok(items)
}
