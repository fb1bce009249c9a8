//! Upload, documents, versions, pages, downloads, jobs.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::page_req;
use crate::app::AppContext;
use crate::config::DuplicatePolicy;
use crate::domain::filetype::{FileType, clean_filename, sniff};
use crate::domain::workflows::Source;
use crate::domain::{DocState, DocumentFilter, DomainError, Id, NewUpload, TokenKind};
use crate::http::auth::Auth;
use crate::http::dto;
use crate::http::error::{ApiError, ApiResult};

pub use crate::domain::MAX_TITLE_CHARS;
const MAX_FIELD_BYTES: usize = 8 * 1024;

pub fn validate_title(t: &str) -> Result<String, ApiError> {
    let t = t.trim();
    if t.is_empty() {
        return Err(ApiError::bad_request("a title cannot be empty"));
    }
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::bad_request(format!("a title can have at most {MAX_TITLE_CHARS} characters")));
    }
    if t.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad_request("a title cannot contain control characters"));
    }
    crate::domain::users::validate_visible_name("title", t, MAX_TITLE_CHARS)?;
    Ok(t.to_string())
}

/// Keeps a trickling upload from holding a connection (and a temp file) open for ever: every
/// `server.upload_rate_window_secs` must bring at least `server.upload_min_bytes_per_sec` times
/// that many bytes, or the upload is stopped with a 408.
struct BodyRate {
    window: std::time::Duration,
    min_per_window: u64,
    window_end: tokio::time::Instant,
    in_window: u64,
}

impl BodyRate {
    fn new(s: &crate::config::ServerSettings) -> Self {
        let window = std::time::Duration::from_secs(s.upload_rate_window_secs.max(1));
        BodyRate {
            window,
            min_per_window: s.upload_min_bytes_per_sec.saturating_mul(window.as_secs()),
            window_end: tokio::time::Instant::now() + window,
            in_window: 0,
        }
    }

    fn add(&mut self, n: usize) {
        self.in_window += n as u64;
    }

    /// The stream's next item, or a 408 when a whole window passes with too few bytes.
    async fn next<S: futures_util::Stream + Unpin>(&mut self, stream: &mut S) -> Result<Option<S::Item>, ApiError> {
        loop {
            if tokio::time::Instant::now() >= self.window_end {
                self.roll()?;
            }
            match tokio::time::timeout_at(self.window_end, stream.next()).await {
                Ok(item) => return Ok(item),
                Err(_) => self.roll()?,
            }
        }
    }

    fn roll(&mut self) -> Result<(), ApiError> {
        if self.in_window < self.min_per_window {
            return Err(ApiError::new(
                actix_web::http::StatusCode::REQUEST_TIMEOUT,
                crate::http::error::codes::UPLOAD_TOO_SLOW,
                format!(
                    "the upload was stopped: it sent {} bytes in {} s, less than the minimum of {} bytes per second",
                    self.in_window,
                    self.window.as_secs(),
                    self.min_per_window / self.window.as_secs().max(1)
                ),
            ));
        }
        self.in_window = 0;
        self.window_end = tokio::time::Instant::now() + self.window;
        Ok(())
    }
}

fn parse_tag_names(raw: &str) -> Result<Vec<String>, ApiError> {
    let mut names = Vec::new();
    for n in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if n.chars().count() > 100 || n.chars().any(|c| c.is_control()) {
            return Err(ApiError::bad_request("a tag name has at most 100 characters and no control characters"));
        }
        crate::domain::users::validate_visible_name("tag name", n, 100)?;
        if !names.iter().any(|x: &String| x.eq_ignore_ascii_case(n)) {
            names.push(n.to_string());
        }
    }
    if names.len() > 50 {
        return Err(ApiError::bad_request("at most 50 tags per upload"));
    }
    Ok(names)
}

async fn read_text_field(field: &mut actix_multipart::Field, name: &str) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("the upload was interrupted: {e}")))?;
        buf.extend_from_slice(&chunk);
        if buf.len() > MAX_FIELD_BYTES {
            return Err(ApiError::bad_request(format!("the field {name} is too long")));
        }
    }
    String::from_utf8(buf).map_err(|_| ApiError::bad_request(format!("the field {name} is not valid UTF-8 text")))
}

/// Refuses an upload before its body is read: larger than the limit by its Content-Length, or
/// a (nearly) full disk — the space left keeps the database, processing and deleting working.
fn check_room(ctx: &AppContext, req: &HttpRequest, limit: u64) -> Result<(), ApiError> {
    if let Some(len) = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > limit + 64 * 1024
    {
        return Err(DomainError::TooLarge(format!("the file is larger than the upload limit of {} MiB", limit / (1024 * 1024))).into());
    }
    // A disk that is (nearly) full refuses new files before they are read: the space left keeps
    // the database, processing and deleting working.
    let min_free = ctx.settings.storage.min_free_mb.saturating_mul(1024 * 1024);
    if let Some(free) = crate::storage::free_bytes(ctx.blobs.root())
        && free < min_free
    {
        return Err(DomainError::StorageFull(format!(
            "{} MiB free in {}, less than storage.min_free_mb = {}",
            free / (1024 * 1024),
            ctx.blobs.root().display(),
            ctx.settings.storage.min_free_mb
        ))
        .into());
    }
    Ok(())
}

/// The type of the uploaded bytes (never the name), and a name that claims another type is
/// refused rather than stored under a misleading extension.
fn file_type(head: &[u8], filename: &str) -> Result<FileType, ApiError> {
    let Some(kind) = sniff(head) else {
        return Err(DomainError::UnsupportedType("unsupported file type: docmerge accepts PDF, PNG, JPEG and TIFF files".into()).into());
    };
    if let Some(ext) = filename.rsplit_once('.').map(|(_, e)| e)
        && let Some(claimed) = FileType::from_extension(ext)
        && claimed != kind
    {
        return Err(DomainError::UnsupportedType(format!(
            "the file name {filename:?} says {} but the content is {}; rename the file or upload the right one",
            claimed.describe(),
            kind.describe()
        ))
        .into());
    }
    Ok(kind)
}

/// `POST /api/v1/documents`: streams the file to a temp file (hashing, size limit), sniffs its
/// type, moves it into the blob store, then one transaction creates document + version + job +
/// event. Nothing is written for a rejected upload.
pub async fn upload(ctx: web::Data<AppContext>, auth: Auth, req: HttpRequest, mut payload: Multipart) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let limit = ctx.settings.max_upload_bytes();
    check_room(&ctx, &req, limit)?;
    let mut incoming = None;
    let mut filename = String::new();
    let (mut folder_id, mut title, mut tags): (Option<Id>, Option<String>, Vec<String>) = (None, None, Vec::new());
    let mut rate = BodyRate::new(&ctx.settings.server);
    while let Some(field) = rate.next(&mut payload).await? {
        let mut field = field.map_err(|e| ApiError::bad_request(format!("the request is not valid multipart/form-data: {e}")))?;
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "file" => {
                if incoming.is_some() {
                    return Err(ApiError::bad_request("send one file per upload request"));
                }
                let raw = field.content_disposition().and_then(|cd| cd.get_filename()).unwrap_or("upload");
                if raw.contains(['/', '\\']) || raw.split('.').all(str::is_empty) {
                    return Err(ApiError::bad_request("the file name must be a plain name like scan.pdf, not a path"));
                }
                filename = clean_filename(raw);
                let mut inc = ctx.blobs.incoming(limit)?;
                while let Some(chunk) = rate.next(&mut field).await? {
                    let chunk = chunk.map_err(|e| ApiError::bad_request(format!("the upload was interrupted: {e}")))?;
                    rate.add(chunk.len());
                    inc.write(&chunk)?;
                }
                incoming = Some(inc);
            }
            "folder_id" => {
                let v = read_text_field(&mut field, "folder_id").await?;
                folder_id = Some(v.trim().parse().map_err(|_| ApiError::bad_request("folder_id must be a folder id (a number)"))?);
            }
            "title" => title = Some(validate_title(&read_text_field(&mut field, "title").await?)?),
            "tags" => tags = parse_tag_names(&read_text_field(&mut field, "tags").await?)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown form field {:?}: expected file, folder_id, title, tags",
                    other.chars().take(40).collect::<String>()
                )));
            }
        }
    }
    let incoming = incoming.ok_or_else(|| ApiError::bad_request("no file: send the document in a form field named \"file\""))?;
    if incoming.size() == 0 {
        return Err(ApiError::bad_request("the file is empty (0 bytes)"));
    }
    let kind = file_type(incoming.head(), &filename)?;
    let folder_id = match folder_id {
        Some(f) => f,
        None => ctx.store.root_folders(owner).await?.1.id,
    };
    // Check the folder before storing anything.
    let folder = ctx.store.folder(owner, folder_id).await?;
    if folder.trashed_at.is_some() {
        return Err(ApiError::conflict("that folder is in the trash"));
    }
    let size = incoming.size();
    let title = match title {
        Some(t) => t,
        None => {
            let stem = filename.rsplit_once('.').map(|(s, _)| s).unwrap_or(&filename);
            validate_title(&stem.chars().take(MAX_TITLE_CHARS).collect::<String>()).unwrap_or_else(|_| "Untitled".into())
        }
    };
    let blobs = ctx.blobs.clone();
    let sha = web::block(move || incoming.commit(&blobs)).await.map_err(|_| ApiError::bad_request("the upload was interrupted"))??;
    let upload = NewUpload {
        owner_id: owner,
        folder_id,
        title,
        filename,
        mime: kind.mime().to_string(),
        size: size as i64,
        sha256: sha.clone(),
        tag_names: tags,
        reject_duplicates: ctx.settings.server.duplicates == DuplicatePolicy::Reject,
        max_attempts: ctx.settings.worker.max_attempts,
        // The web interface signs in with a session; scripts and other programs use API tokens.
        source: Some(match auth.0.token_kind {
            TokenKind::Session => Source::Upload,
            TokenKind::Api => Source::Api,
        }),
    };
    // Refused (a duplicate under `server.duplicates = "reject"`, a folder trashed meanwhile):
    // the stored file may be shared with another document, so it stays; if nothing refers to
    // it, the periodic sweep deletes it (jobs::maintenance).
    let out = ctx.store.create_upload(upload).await?;
    ctx.metrics.count_upload(size);
    Ok(HttpResponse::Accepted().json(json!({
        "document": dto::document(&out.document), "version_id": out.version_id, "job_id": out.job_id,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    folder_id: Option<Id>,
    tag: Option<Id>,
    state: Option<String>,
    created_after: Option<String>,
    created_before: Option<String>,
    duplicate: Option<bool>,
    /// A correspondent id, or `none`.
    correspondent: Option<String>,
    /// A document type id, or `none`.
    document_type: Option<String>,
    date_from: Option<String>,
    date_to: Option<String>,
    asn: Option<i64>,
    sort: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

/// `none` or an id.
fn label_filter(name: &str, v: Option<&str>) -> Result<Option<Option<Id>>, ApiError> {
    match v {
        None => Ok(None),
        Some("none") => Ok(Some(None)),
        Some(v) => v.parse::<Id>().map(|id| Some(Some(id))).map_err(|_| ApiError::bad_request(format!("{name} must be an id or none"))),
    }
}

fn iso_date(name: &str, v: &str) -> Result<chrono::NaiveDate, ApiError> {
    crate::domain::metadata::parse_date(v).ok_or_else(|| ApiError::bad_request(format!("{name} must be a date like 2025-12-31")))
}

fn parse_date_param(name: &str, v: &str) -> Result<i64, ApiError> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(d.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis())
        .map_err(|_| ApiError::bad_request(format!("{name} must be a date (2024-01-31) or an RFC 3339 time")))
}

pub async fn list(ctx: web::Data<AppContext>, auth: Auth, q: web::Query<ListQuery>) -> ApiResult<HttpResponse> {
    let page = page_req(q.page, q.page_size)?;
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(DocState::parse(s).ok_or_else(|| ApiError::bad_request("state must be queued, processing, ready or failed"))?),
    };
    let sort = crate::domain::views::parse_sort(q.sort.as_deref().unwrap_or("-created_at"))?;
    let filter = DocumentFilter {
        folder_id: q.folder_id,
        tag_id: q.tag,
        state,
        created_after: q.created_after.as_deref().map(|v| parse_date_param("created_after", v)).transpose()?,
        created_before: q.created_before.as_deref().map(|v| parse_date_param("created_before", v)).transpose()?,
        duplicate: q.duplicate,
        trashed: false,
        correspondent_id: label_filter("correspondent", q.correspondent.as_deref())?,
        document_type_id: label_filter("document_type", q.document_type.as_deref())?,
        date_from: q.date_from.as_deref().map(|v| iso_date("date_from", v)).transpose()?,
        date_to: q.date_to.as_deref().map(|v| iso_date("date_to", v)).transpose()?,
        asn: q.asn,
        sort,
    };
    if let Some(f) = filter.folder_id {
        ctx.store.folder(auth.0.user.id, f).await?;
    }
    let p = ctx.store.list_documents(auth.0.user.id, &filter, page).await?;
    Ok(HttpResponse::Ok().json(dto::paged(&p, dto::document)))
}

pub async fn get(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    let d = ctx.store.document(auth.0.user.id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(dto::document(&d)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchDocument {
    title: Option<String>,
    folder_id: Option<Id>,
    tag_ids: Option<Vec<Id>>,
    #[serde(default, deserialize_with = "super::metadata::double_option")]
    correspondent_id: Option<Option<Id>>,
    #[serde(default, deserialize_with = "super::metadata::double_option")]
    document_type_id: Option<Option<Id>>,
    /// When the document was written: `YYYY-MM-DD`, or null.
    #[serde(default, deserialize_with = "super::metadata::double_option")]
    date: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::metadata::double_option")]
    asn: Option<Option<i64>>,
    /// Values to set: `[{"field_id": 3, "value": …}]` (null: the field stays, empty).
    #[serde(default)]
    fields: Vec<FieldIn>,
    #[serde(default)]
    remove_fields: Vec<Id>,
    /// The path template that places the document (null: none; it stays where it is). Moving
    /// the document to another folder by hand (folder_id) detaches it from its template.
    #[serde(default, deserialize_with = "super::metadata::double_option")]
    path_template_id: Option<Option<Id>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldIn {
    pub(super) field_id: Id,
    pub(super) value: serde_json::Value,
}

/// A document in the trash is read-only until it is restored.
async fn live_document(ctx: &AppContext, owner: Id, id: Id) -> ApiResult<()> {
    let d = ctx.store.document(owner, id).await?;
    if d.trashed_at.is_some() {
        return Err(ApiError::conflict(format!("document {id} is in the trash; restore it first")));
    }
    Ok(())
}

pub async fn patch(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<PatchDocument>) -> ApiResult<HttpResponse> {
    live_document(&ctx, auth.0.user.id, *path).await?;
    let body = body.into_inner();
    let title = body.title.as_deref().map(validate_title).transpose()?;
    if body.tag_ids.as_ref().is_some_and(|t| t.len() > 200) {
        return Err(ApiError::bad_request("at most 200 tags per document"));
    }
    if body.fields.len() + body.remove_fields.len() > 100 {
        return Err(ApiError::bad_request("at most 100 field changes per request"));
    }
    let date = match body.date {
        Some(Some(d)) => Some(Some(iso_date("date", &d)?)),
        Some(None) => Some(None),
        None => None,
    };
    let asn = match body.asn {
        Some(Some(a)) => Some(Some(crate::domain::metadata::validate_asn(a)?)),
        other => other,
    };
    let patch = crate::domain::metadata::DocumentPatch {
        title,
        folder_id: body.folder_id,
        tag_ids: body.tag_ids,
        correspondent_id: body.correspondent_id,
        document_type_id: body.document_type_id,
        date,
        asn,
        fields: body.fields.into_iter().map(|f| (f.field_id, f.value)).collect(),
        remove_fields: body.remove_fields,
        path_template_id: body.path_template_id,
    };
    let d = ctx.store.update_document(auth.0.user.id, path.into_inner(), &patch).await?;
    Ok(HttpResponse::Ok().json(dto::document(&d)))
}

pub async fn add_tags(
    ctx: web::Data<AppContext>,
    auth: Auth,
    path: web::Path<Id>,
    body: web::Json<super::folders::TagIds>,
) -> ApiResult<HttpResponse> {
    live_document(&ctx, auth.0.user.id, *path).await?;
    let d = ctx.store.change_document_tags(auth.0.user.id, path.into_inner(), &body.tag_ids, &[]).await?;
    Ok(HttpResponse::Ok().json(dto::document(&d)))
}

/// Documents one bulk tag change may touch.
pub const MAX_BULK_DOCUMENTS: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkTags {
    documents: Vec<Id>,
    #[serde(default)]
    add: Vec<Id>,
    #[serde(default)]
    remove: Vec<Id>,
}

/// `POST /api/v1/documents/tags`: adds and removes tags on many documents at once, all or
/// nothing.
pub async fn bulk_tags(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<BulkTags>) -> ApiResult<HttpResponse> {
    if body.documents.is_empty() || body.documents.len() > MAX_BULK_DOCUMENTS {
        return Err(ApiError::bad_request(format!("documents: list 1 to {MAX_BULK_DOCUMENTS} document ids")));
    }
    if body.add.is_empty() && body.remove.is_empty() {
        return Err(ApiError::bad_request("nothing to do: list tag ids in add and/or remove"));
    }
    if body.add.len() + body.remove.len() > 100 {
        return Err(ApiError::bad_request("at most 100 tags per request"));
    }
    if let Some(t) = body.add.iter().find(|t| body.remove.contains(t)) {
        return Err(ApiError::bad_request(format!("tag {t} is both added and removed")));
    }
    let n = ctx.store.change_tags_of_documents(auth.0.user.id, &body.documents, &body.add, &body.remove).await?;
    Ok(HttpResponse::Ok().json(json!({ "updated": n })))
}

pub async fn remove_tag(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<(Id, Id)>) -> ApiResult<HttpResponse> {
    let (id, tag) = path.into_inner();
    live_document(&ctx, auth.0.user.id, id).await?;
    let d = ctx.store.change_document_tags(auth.0.user.id, id, &[], &[tag]).await?;
    Ok(HttpResponse::Ok().json(dto::document(&d)))
}

pub async fn trash(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    ctx.store.trash_document(auth.0.user.id, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn restore(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    let d = ctx.store.restore_document(auth.0.user.id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(dto::document(&d)))
}

pub async fn purge(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    // Its files are deleted by the sweep job the purge queued (see storage::BlobStore::sweep).
    ctx.store.purge_document(auth.0.user.id, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn versions(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    let v = ctx.store.versions(auth.0.user.id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"items": v.iter().map(dto::version).collect::<Vec<_>>(), "total": v.len()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    kind: Option<String>,
    version: Option<Id>,
}

fn attachment_name(name: &str) -> String {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') { c } else { '_' }).collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{}", urlencoding::encode(name))
}

pub async fn download(
    ctx: web::Data<AppContext>,
    auth: Auth,
    req: HttpRequest,
    path: web::Path<Id>,
    q: web::Query<DownloadQuery>,
) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let id = path.into_inner();
    let doc = ctx.store.document(owner, id).await?;
    let v = ctx.store.version(owner, id, q.version).await?;
    let (sha, mime, mut name) = match q.kind.as_deref().unwrap_or("original") {
        "original" => (v.sha256.clone(), v.mime.clone(), v.filename.clone()),
        "searchable" => {
            let sha = v
                .searchable_sha256
                .clone()
                .ok_or_else(|| ApiError::conflict(format!("the searchable PDF is not ready yet (document is {})", doc.state.as_str())))?;
            let stem = v.filename.rsplit_once('.').map(|(s, _)| s).unwrap_or(&v.filename).to_string();
            (sha, "application/pdf".to_string(), format!("{stem}.pdf"))
        }
        other => return Err(ApiError::bad_request(format!("kind must be original or searchable, not {other:?}"))),
    };
    // A path template with a file name names the download (#23).
    if let Some(t) = &doc.meta.path_template {
        let t = ctx.store.path_template(owner, t.id).await?;
        if let Some(f) = t.filename.as_deref().and_then(|f| crate::domain::path_templates::Template::parse_file_name(f).ok()) {
            let fields = ctx.store.fields(owner).await?;
            let ext = name.rsplit_once('.').map(|(_, e)| e.to_string()).unwrap_or_default();
            name = f.file_name(&crate::domain::path_templates::Subject { doc: &doc, fields: &fields }, &t.fallback, &ext);
        }
    }
    let file = actix_files::NamedFile::open(ctx.blobs.path(&sha)).map_err(|_| {
        ApiError::not_found(format!(
            "the file of document {id} is missing from the storage; the administrator should check the storage root"
        ))
    })?;
    let mut resp = file
        .set_content_type(mime.parse().unwrap_or(mime::APPLICATION_OCTET_STREAM))
        .use_last_modified(false)
        .disable_content_disposition()
        .into_response(&req);
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_str(&attachment_name(&name)).unwrap_or(header::HeaderValue::from_static("attachment")),
    );
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("private, max-age=3600"));
    Ok(resp)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    version: Option<Id>,
    /// Only part of the URL (a cache key for the immutable image), see dto::page.
    #[allow(dead_code)]
    rev: Option<String>,
}

pub async fn pages(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, q: web::Query<VersionQuery>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let id = path.into_inner();
    let v = ctx.store.version(owner, id, q.version).await?;
    let pages = ctx.store.pages(owner, id, Some(v.id)).await?;
    let items: Vec<_> = pages.iter().map(|p| dto::page(id, v.id, p)).collect();
    Ok(HttpResponse::Ok().json(json!({"items": items, "total": items.len(), "version_id": v.id, "state": v.state.as_str()})))
}

pub async fn page_image(
    ctx: web::Data<AppContext>,
    auth: Auth,
    req: HttpRequest,
    path: web::Path<(Id, i32, String)>,
    q: web::Query<VersionQuery>,
) -> ApiResult<HttpResponse> {
    let (id, number, which) = path.into_inner();
    let page = ctx.store.page(auth.0.user.id, id, q.version, number).await?;
    let sha = match which.as_str() {
        "thumbnail" => page.thumbnail_sha256,
        "preview" => page.preview_sha256,
        _ => return Err(ApiError::not_found("no such page image: use thumbnail or preview")),
    }
    .ok_or_else(|| ApiError::not_found(format!("page {number} has no image yet")))?;
    let etag = format!("\"{sha}\"");
    if req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
    }
    let bytes =
        tokio::fs::read(ctx.blobs.path(&sha)).await.map_err(|_| ApiError::not_found("the page image is missing from the storage"))?;
    let mime = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(b"RIFF") {
        "image/webp"
    } else {
        "image/jpeg"
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mime))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, max-age=31536000, immutable"))
        .body(bytes))
}

pub async fn reprocess(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    live_document(&ctx, auth.0.user.id, *path).await?;
    let job_id = ctx.store.reprocess_document(auth.0.user.id, path.into_inner(), ctx.settings.worker.max_attempts).await?;
    Ok(HttpResponse::Accepted().json(json!({"job_id": job_id})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    document: Option<Id>,
    page: Option<u32>,
    page_size: Option<u32>,
}

pub async fn jobs(ctx: web::Data<AppContext>, auth: Auth, q: web::Query<JobsQuery>) -> ApiResult<HttpResponse> {
    let page = page_req(q.page, q.page_size)?;
    let p = ctx.store.jobs_for_owner(auth.0.user.id, q.document, page).await?;
    Ok(HttpResponse::Ok().json(dto::paged(&p, dto::job)))
}

pub async fn retry_job(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    let j = ctx.store.retry_job(auth.0.user.id, path.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(dto::job(&j)))
}
