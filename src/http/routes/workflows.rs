//! Workflows (#23): list, create, change, delete; their runs and deliveries; the dry run.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::page_req;
use crate::app::AppContext;
use crate::domain::metadata::{FieldKind, validate_value};
use crate::domain::workflows::{self, Action, Trigger, Workflow, WorkflowSpec};
use crate::domain::{Id, now_millis};
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};

/// The checks that need the owner's vocabulary: a scheduled workflow counts from a date field;
/// a field action's value is one the field takes.
async fn check_fields(ctx: &AppContext, owner: Id, spec: &WorkflowSpec) -> ApiResult<()> {
    if let Trigger::Scheduled { field_id: Some(id), .. } = &spec.trigger {
        let f = ctx.store.field(owner, *id).await?;
        if f.kind != FieldKind::Date {
            return Err(ApiError::bad_request(format!("trigger: {:?} is not a date field", f.name)));
        }
    }
    for a in &spec.actions {
        if let Action::SetField { field_id, value } = a
            && !value.is_null()
        {
            let def = ctx.store.field(owner, *field_id).await?;
            validate_value(&def, value).map_err(|e| ApiError::bad_request(format!("actions.set_field {:?}: {e}", def.name)))?;
        }
    }
    Ok(())
}

async fn validated(ctx: &AppContext, owner: Id, body: Value) -> ApiResult<WorkflowSpec> {
    let spec: WorkflowSpec = serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("the workflow is not valid: {e}")))?;
    let spec = spec.validate(ctx.settings.smtp.configured(), ctx.settings.llm.enabled())?;
    check_fields(ctx, owner, &spec).await?;
    Ok(spec)
}

fn items(list: &[Workflow]) -> Value {
    json!({"items": list, "total": list.len()})
}

/// `GET /api/v1/workflows`: in the order they run.
pub async fn list(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let list = ctx.store.workflows(auth.0.user.id).await?;
    Ok(HttpResponse::Ok().json(items(&list)))
}

pub async fn get(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ctx.store.workflow(auth.0.user.id, *path).await?))
}

/// `POST /api/v1/workflows`: 201.
pub async fn create(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<Value>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let spec = validated(&ctx, owner, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(ctx.store.create_workflow(owner, &spec).await?))
}

/// `PATCH /api/v1/workflows/{id}`: the fields given replace the workflow's (`trigger`,
/// `filters` and `actions` as a whole).
pub async fn patch(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>, body: web::Json<Value>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let now = ctx.store.workflow(owner, *path).await?;
    let Value::Object(changes) = body.into_inner() else { return Err(ApiError::bad_request("the body is a JSON object")) };
    let mut merged = serde_json::to_value(&now.spec).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Value::Object(m) = &mut merged {
        m.extend(changes);
    }
    let spec = validated(&ctx, owner, merged).await?;
    Ok(HttpResponse::Ok().json(ctx.store.update_workflow(owner, *path, &spec).await?))
}

/// `DELETE /api/v1/workflows/{id}`: its runs stay, with its name.
pub async fn delete(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    ctx.store.delete_workflow(auth.0.user.id, *path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    workflow_id: Option<Id>,
    document_id: Option<Id>,
    page: Option<u32>,
    page_size: Option<u32>,
}

/// `GET /api/v1/workflow-runs`: newest first, with their deliveries.
pub async fn runs(ctx: web::Data<AppContext>, auth: Auth, q: web::Query<RunsQuery>) -> ApiResult<HttpResponse> {
    let page = page_req(q.page, q.page_size)?;
    let out = ctx.store.workflow_runs(auth.0.user.id, q.workflow_id, q.document_id, page).await?;
    Ok(HttpResponse::Ok().json(json!({"items": out.items, "total": out.total, "page": out.page, "page_size": out.page_size})))
}

/// `POST /api/v1/workflow-deliveries/{id}/retry`: a failed webhook or email is tried again.
pub async fn retry_delivery(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Accepted().json(ctx.store.retry_delivery(auth.0.user.id, *path).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunIn {
    document_id: Id,
    /// Only this saved workflow (default: all of them).
    workflow_id: Option<Id>,
    /// An unsaved workflow to try instead.
    workflow: Option<Value>,
}

/// `POST /api/v1/workflows/dry-run`: what the workflows would do to a document now — each
/// filter's verdict, each action, the webhook bodies and emails. Nothing is changed or sent.
pub async fn dry_run(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<DryRunIn>) -> ApiResult<HttpResponse> {
    let owner = auth.0.user.id;
    let b = body.into_inner();
    let facts = ctx.store.workflow_facts(owner, b.document_id).await?;
    let list = match (b.workflow, b.workflow_id) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give workflow_id or workflow, not both")),
        (Some(spec), None) => {
            let spec = validated(&ctx, owner, spec).await?;
            let now = now_millis();
            vec![Workflow { id: 0, owner_id: owner, spec, created_at: now, updated_at: now }]
        }
        (None, Some(id)) => vec![ctx.store.workflow(owner, id).await?],
        (None, None) => ctx.store.workflows(owner).await?,
    };
    let now = now_millis();
    let results: Vec<_> = list.iter().map(|w| workflows::dry_run(w, &facts, now)).collect();
    Ok(HttpResponse::Ok().json(json!({
        "document_id": b.document_id,
        "source": facts.source.map(|s| s.as_str()),
        "results": results,
    })))
}
