//! Matching rules (#23): one per tag, correspondent, document type or folder; tried on a text
//! or a document; run over one document now (or as a dry run), over many with a bulk edit.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppContext;
use crate::domain::Id;
use crate::domain::matching::{self, Algorithm, Compiled, MatchRule, Prepared, RuleSet, TargetKind};
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};

/// The blocking pool lost the matching (a panic): say so, retryable.
fn stopped() -> ApiError {
    ApiError::of_status(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, "matching stopped unexpectedly; try again")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleIn {
    algorithm: String,
    #[serde(default)]
    pattern: String,
    #[serde(default = "yes")]
    insensitive: bool,
}

fn yes() -> bool {
    true
}

impl RuleIn {
    fn rule(&self) -> ApiResult<MatchRule> {
        let rule =
            MatchRule { algorithm: Algorithm::parse(&self.algorithm)?, pattern: self.pattern.clone(), insensitive: self.insensitive };
        rule.validate()?;
        Ok(rule)
    }
}

/// `GET /api/v1/match-rules`: every rule of the caller's, by target kind then name.
pub async fn list(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let rules = ctx.store.match_rules(auth.0.user.id).await?;
    Ok(HttpResponse::Ok().json(json!({"items": rules, "total": rules.len()})))
}

/// `PUT /api/v1/match-rules/{kind}/{id}`: sets the target's rule (algorithm `none` removes it:
/// 204).
pub async fn put(
    ctx: web::Data<AppContext>,
    auth: Auth,
    path: web::Path<(String, Id)>,
    body: web::Json<RuleIn>,
) -> ApiResult<HttpResponse> {
    let (kind, id) = path.into_inner();
    let kind = TargetKind::parse(&kind)?;
    let rule = body.rule()?;
    if rule.algorithm == Algorithm::Auto && !kind.learned() {
        return Err(ApiError::bad_request(format!(
            "the classifier does not learn {}s: give a pattern (any, all, exact, regex or fuzzy)",
            kind.as_str().replace('_', " ")
        )));
    }
    Ok(match ctx.store.set_match_rule(auth.0.user.id, kind, id, &rule).await? {
        Some(r) => HttpResponse::Ok().json(r),
        None => HttpResponse::NoContent().finish(),
    })
}

/// `DELETE /api/v1/match-rules/{kind}/{id}`.
pub async fn delete(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<(String, Id)>) -> ApiResult<HttpResponse> {
    let (kind, id) = path.into_inner();
    let none = MatchRule { algorithm: Algorithm::None, pattern: String::new(), insensitive: true };
    ctx.store.set_match_rule(auth.0.user.id, TargetKind::parse(&kind)?, id, &none).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryIn {
    #[serde(flatten)]
    rule: RuleIn,
    /// A text to try the rule on…
    text: Option<String>,
    /// …or one of the caller's documents.
    document_id: Option<Id>,
}

/// `POST /api/v1/match-rules/try`: whether a rule (not saved) matches a text or a document,
/// and what it found.
pub async fn try_rule(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<TryIn>) -> ApiResult<HttpResponse> {
    let rule = body.rule.rule()?;
    if rule.algorithm == Algorithm::Auto {
        return Err(ApiError::bad_request(
            "an auto rule has no pattern to try: the classifier decides (see a document's suggestions, GET /api/v1/documents/{id}/suggestions)",
        ));
    }
    let text = match (&body.text, body.document_id) {
        (Some(t), None) => t.clone(),
        (None, Some(id)) => {
            let mut inputs = ctx.store.match_inputs(auth.0.user.id, &[id]).await?;
            inputs.pop().map(|(_, t)| t).ok_or_else(|| ApiError::not_found(format!("document {id} not found")))?
        }
        _ => return Err(ApiError::bad_request("give either text or document_id")),
    };
    let compiled = Compiled::new(&rule)?;
    let hit = web::block(move || compiled.find(&Prepared::new(&text))).await.map_err(|_| stopped())?;
    Ok(HttpResponse::Ok().json(json!({"matches": hit.is_some(), "found": hit.map(|h| h.found)})))
}

#[derive(Deserialize)]
pub struct RunQuery {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/v1/documents/{id}/match`: runs the caller's rules over the document now (or only
/// says what they would do, `?dry_run=true`): what was assigned, by which rule, and what
/// matched without changing anything.
pub async fn run_on_document(
    ctx: web::Data<AppContext>,
    auth: Auth,
    path: web::Path<Id>,
    q: web::Query<RunQuery>,
) -> ApiResult<HttpResponse> {
    let (owner, id) = (auth.0.user.id, *path);
    let (state, text) =
        ctx.store.match_inputs(owner, &[id]).await?.pop().ok_or_else(|| ApiError::not_found(format!("document {id} not found")))?;
    let rules = RuleSet::new(ctx.store.match_rules(owner).await?);
    let model = if rules.has_auto() { ctx.models.newest(ctx.store.as_ref(), owner).await?.map(|m| m.1) } else { None };
    let sure = ctx.settings.classifier.apply_confidence;
    let plan = web::block(move || {
        let auto = model.map(|m| m.sure_of(&text, sure)).unwrap_or_default();
        matching::plan_with(&rules, &Prepared::new(&text), &state, &auto)
    })
    .await
    .map_err(|_| stopped())?;
    if !q.dry_run && plan.changes_something() {
        ctx.store.apply_matches(owner, std::slice::from_ref(&plan), None).await?;
    }
    Ok(HttpResponse::Ok().json(json!({"dry_run": q.dry_run, "assigned": plan.assigned, "also_matched": plan.also_matched})))
}
