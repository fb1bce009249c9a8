//! Search as people type it: the exact words first, then, when they find little, the words as
//! the start of longer words. The query language itself is `domain::search`.

use super::search::{FEW_MATCHES, RANKED_MATCHES, SearchQuery};
use super::store::SearchStore;
use super::{DomainResult, Id, PageReq, Paged, SearchHit};

/// A search as people type it: the exact words first; when they find fewer than
/// [`FEW_MATCHES`] documents, documents where a word is the start of a longer word follow
/// (ranked among themselves), their snippets marking those words.
pub async fn search_with_prefixes<S: SearchStore + ?Sized>(
    store: &S,
    owner: Id,
    q: &SearchQuery,
    page: PageReq,
) -> DomainResult<Paged<SearchHit>> {
    let exact = store.search(owner, q, page).await?;
    let Some(wide) = q.widened() else { return Ok(exact) };
    if exact.total >= FEW_MATCHES || exact.truncated {
        return Ok(exact);
    }
    // Every exact match, in order (there are fewer than FEW_MATCHES).
    let exact_all = if page.offset() == 0 && exact.items.len() as i64 == exact.total {
        exact.items
    } else {
        store.search(owner, q, PageReq { page: 1, page_size: FEW_MATCHES as u32 }).await?.items
    };
    let want = (page.offset() + page.limit()).min(2 * RANKED_MATCHES) as u32;
    let widened = store.search(owner, &wide, PageReq { page: 1, page_size: want.max(1) }).await?;
    let seen: std::collections::HashSet<Id> = exact_all.iter().map(|h| h.document.id).collect();
    let more = widened.items.into_iter().filter(|h| !seen.contains(&h.document.id));
    // The widened search finds every exact match too: its total counts them all.
    let total = widened.total.max(exact.total);
    let items = exact_all.into_iter().chain(more).skip(page.offset() as usize).take(page.limit() as usize).collect();
    Ok(Paged { truncated: widened.truncated, items, total, page: page.page, page_size: page.page_size })
}
