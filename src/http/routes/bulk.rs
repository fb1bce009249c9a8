//! Bulk edit (#22): one change over selected documents or everything a query matches, run as
//! one `bulk_edit` job; `GET /api/v1/jobs/{id}` and the `bulk.progress` events follow it.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppContext;
use crate::domain::bulk::{BulkEdit, MAX_DOCUMENTS};
use crate::domain::jobs::NewJob;
use crate::domain::metadata::{self, LabelKind};
use crate::domain::search::parse_query;
use crate::domain::{Id, PageReq};
use crate::http::auth::Auth;
use crate::http::dto;
use crate::http::error::{ApiError, ApiResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// The selection…
    documents: Option<Vec<Id>>,
    /// …or everything this search matches (the search language).
    query: Option<String>,
    edit: BulkEditIn,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkEditIn {
    #[serde(default)]
    add_tags: Vec<Id>,
    #[serde(default)]
    remove_tags: Vec<Id>,
    #[serde(default, deserialize_with = "super::metadata::double_option")]
    correspondent_id: Option<Option<Id>>,
    #[serde(default, deserialize_with = "super::metadata::double_option")]
    document_type_id: Option<Option<Id>>,
    folder_id: Option<Id>,
    #[serde(default, deserialize_with = "super::metadata::double_option")]
    date: Option<Option<String>>,
    #[serde(default)]
    fields: Vec<super::documents::FieldIn>,
    #[serde(default)]
    remove_fields: Vec<Id>,
    #[serde(default)]
    trash: bool,
    #[serde(default)]
    reprocess: bool,
    /// The path template that places the documents (#23); null detaches them.
    #[serde(default, deserialize_with = "super::metadata::double_option")]
    path_template_id: Option<Option<Id>>,
    /// Run the matching rules again (#23): a bulk edit of its own, as one `match_documents` job.
    #[serde(default)]
    rematch: bool,
}

/// Everything the edit names must be the caller's (404 otherwise) and every value valid (400
/// naming the field), before a job is queued.
async fn check_edit(ctx: &AppContext, owner: Id, e: &BulkEdit) -> ApiResult<()> {
    e.validate()?;
    if !e.add_tags.is_empty() || !e.remove_tags.is_empty() {
        let tags = ctx.store.tags(owner).await?;
        if let Some(t) = e.add_tags.iter().chain(&e.remove_tags).find(|t| !tags.iter().any(|x| x.id == **t)) {
            return Err(ApiError::not_found(format!("tag {t} not found")));
        }
    }
    for (kind, wanted) in [(LabelKind::Correspondent, e.correspondent_id), (LabelKind::DocumentType, e.document_type_id)] {
        if let Some(Some(id)) = wanted
            && !ctx.store.labels(owner, kind).await?.iter().any(|l| l.id == id)
        {
            return Err(ApiError::not_found(format!("{} {id} not found", kind.noun())));
        }
    }
    if let Some(Some(t)) = e.path_template_id {
        ctx.store.path_template(owner, t).await?;
    }
    if let Some(f) = e.folder_id {
        let folder = ctx.store.folder(owner, f).await?;
        if folder.trashed_at.is_some() {
            return Err(ApiError::conflict(format!("folder {f} is in the trash")));
        }
    }
    for (field, value) in &e.fields {
        let def = ctx.store.field(owner, *field).await?;
        if !metadata::validate_value(&def, value)?.links.is_empty() {
            return Err(ApiError::bad_request(format!("field {:?}: document links are set one document at a time", def.name)));
        }
    }
    for field in &e.remove_fields {
        ctx.store.field(owner, *field).await?;
    }
    Ok(())
}

/// The documents of a query, newest first (every page of the search); an empty query: every
/// document (not in the trash).
async fn ids_of_query(ctx: &AppContext, owner: Id, q: &str) -> ApiResult<Vec<Id>> {
    if q.trim().is_empty() {
        let mut ids = Vec::new();
        for page in 1.. {
            let p = ctx.store.list_documents(owner, &crate::domain::DocumentFilter::default(), PageReq { page, page_size: 1000 }).await?;
            if p.total > MAX_DOCUMENTS as i64 {
                return Err(ApiError::bad_request(format!("there are {} documents; a bulk edit takes at most {MAX_DOCUMENTS}", p.total)));
            }
            let n = p.items.len();
            ids.extend(p.items.into_iter().map(|d| d.id));
            if n == 0 || ids.len() as i64 >= p.total {
                break;
            }
        }
        ids.sort_unstable();
        return Ok(ids);
    }
    let mut parsed = parse_query(q)?;
    parsed.time_limit = std::time::Duration::from_secs(ctx.settings.limits.search_timeout_secs.max(1));
    // Every match, not the first FILTER_COUNT_CAP.
    parsed.count_all = true;
    let mut ids = Vec::new();
    for page in 1.. {
        let p = ctx.store.search(owner, &parsed, PageReq { page, page_size: 1000 }).await?;
        if p.truncated {
            return Err(ApiError::bad_request(
                "the query's words are on too many documents to edit them all: add a filter (tag:, correspondent:, created:…)",
            ));
        }
        if p.total > MAX_DOCUMENTS as i64 {
            return Err(ApiError::bad_request(format!(
                "the query matches {} documents; a bulk edit takes at most {MAX_DOCUMENTS}",
                p.total
            )));
        }
        let n = p.items.len();
        ids.extend(p.items.into_iter().map(|h| h.document.id));
        if n == 0 || ids.len() as i64 >= p.total {
            break;
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// `POST /api/v1/documents/bulk`: 202 with the job that does it.
pub async fn bulk(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<BulkRequest>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let body = body.into_inner();
    let e = body.edit;
    let rematch = e.rematch;
    let edit = BulkEdit {
        add_tags: e.add_tags,
        remove_tags: e.remove_tags,
        correspondent_id: e.correspondent_id,
        document_type_id: e.document_type_id,
        folder_id: e.folder_id,
        date: e.date,
        fields: e.fields.into_iter().map(|f| (f.field_id, f.value)).collect(),
        remove_fields: e.remove_fields,
        trash: e.trash,
        reprocess: e.reprocess,
        path_template_id: e.path_template_id,
    };
    if rematch {
        if edit != BulkEdit::default() {
            return Err(ApiError::bad_request("re-running the matching rules is a bulk edit of its own"));
        }
    } else {
        check_edit(&ctx, owner, &edit).await?;
    }
    let documents = match (body.documents, body.query.as_deref()) {
        (Some(mut ids), None) => {
            if ids.is_empty() || ids.len() > MAX_DOCUMENTS {
                return Err(ApiError::bad_request(format!("documents: list 1 to {MAX_DOCUMENTS} document ids")));
            }
            ids.sort_unstable();
            ids.dedup();
            let owned = ctx.store.owned_documents(owner, &ids).await?;
            if let Some(missing) = ids.iter().find(|i| owned.binary_search(i).is_err()) {
                return Err(ApiError::not_found(format!("document {missing} not found")));
            }
            ids
        }
        (None, Some(q)) => ids_of_query(&ctx, owner, q).await?,
        _ => return Err(ApiError::bad_request("give either documents (a list of ids) or query (a search)")),
    };
    let count = documents.len();
    if count == 0 {
        return Ok(HttpResponse::Ok().json(json!({"job_id": null, "documents": 0})));
    }
    let job = if rematch { NewJob::match_documents(owner, documents) } else { NewJob::bulk_edit(owner, documents, edit) };
    let id = ctx.store.enqueue(vec![job]).await?.pop().flatten().ok_or_else(|| ApiError::conflict("the bulk edit could not be queued"))?;
    Ok(HttpResponse::Accepted().json(json!({"job_id": id, "documents": count})))
}

/// `GET /api/v1/jobs/{id}`: one of the caller's jobs.
pub async fn job(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    let j = match ctx.store.job(*path).await {
        Ok(j) if j.owner_id == Some(auth.0.user.id) => j,
        Ok(_) | Err(crate::domain::DomainError::NotFound(_)) => return Err(ApiError::not_found(format!("job {} not found", *path))),
        Err(e) => return Err(e.into()),
    };
    Ok(HttpResponse::Ok().json(dto::job(&j)))
}
