//! The auto classifier (#23): its state (the newest model, how it did on held-out documents),
//! "train now", and per document the suggestions it makes, with the words behind each.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::app::AppContext;
use crate::domain::Id;
use crate::domain::classifier::ClassifierInfo;
use crate::domain::jobs::NewJob;
use crate::domain::matching::{Algorithm, TargetKind};
use crate::domain::metadata::LabelKind;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};

fn model_json(info: &ClassifierInfo) -> Value {
    json!({
        "id": info.id,
        "created_at": crate::http::dto::time(info.created_at),
        "documents": info.stats.documents,
        "features": info.stats.features,
        "train_ms": info.stats.train_ms,
        "fields": info.stats.fields,
    })
}

/// `GET /api/v1/classifier`: the caller's newest model (null before the first training) and
/// the settings that decide what it does.
pub async fn status(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let info = ctx.store.newest_classifier(auth.0.user.id).await?;
    let s = &ctx.settings.classifier;
    Ok(HttpResponse::Ok().json(json!({
        "model": info.as_ref().map(model_json),
        "apply_confidence": s.apply_confidence,
        "suggest_confidence": s.suggest_confidence,
        "train_every_minutes": s.train_every_minutes,
        "min_documents": s.min_documents,
    })))
}

/// `POST /api/v1/classifier/train`: trains the caller's model now (even when nothing changed),
/// as a job: 202 with the job to follow (`GET /api/v1/jobs/{id}`); null when one is queued.
pub async fn train(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let ids = ctx.store.enqueue(vec![NewJob::train_classifier(auth.0.user.id, true)]).await?;
    let id = ids.into_iter().next().flatten();
    Ok(HttpResponse::Accepted().json(json!({"job_id": id, "already_queued": id.is_none()})))
}

/// `GET /api/v1/documents/{id}/suggestions`: what the caller's model suggests for the document
/// and it does not have yet, most confident first: each with its confidence, the words behind
/// it and whether an `auto` rule assigns it by itself (`applies`).
pub async fn suggestions(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<Id>) -> ApiResult<HttpResponse> {
    let (owner, id) = (auth.0.user.id, *path);
    let (state, text) =
        ctx.store.match_inputs(owner, &[id]).await?.pop().ok_or_else(|| ApiError::not_found(format!("document {id} not found")))?;
    let Some((info, model)) = ctx.models.newest(ctx.store.as_ref(), owner).await? else {
        return Ok(HttpResponse::Ok().json(json!({"model": null, "items": []})));
    };
    let least = ctx.settings.classifier.suggest_confidence;
    let predictions = web::block(move || model.classify(&text, least)).await.map_err(|_| {
        ApiError::of_status(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, "classifying stopped unexpectedly; try again")
    })?;
    let auto: Vec<(TargetKind, Id)> = ctx
        .store
        .match_rules(owner)
        .await?
        .into_iter()
        .filter(|r| r.rule.algorithm == Algorithm::Auto)
        .map(|r| (r.kind, r.target_id))
        .collect();
    // Names of what is suggested (a label deleted since the training is left out).
    let mut names: HashMap<(TargetKind, Id), String> = HashMap::new();
    let wants = |k: TargetKind| predictions.iter().any(|p| p.kind == k);
    if wants(TargetKind::Correspondent) {
        names.extend(
            ctx.store.labels(owner, LabelKind::Correspondent).await?.into_iter().map(|l| ((TargetKind::Correspondent, l.id), l.name)),
        );
    }
    if wants(TargetKind::DocumentType) {
        names.extend(
            ctx.store.labels(owner, LabelKind::DocumentType).await?.into_iter().map(|l| ((TargetKind::DocumentType, l.id), l.name)),
        );
    }
    if wants(TargetKind::Tag) {
        names.extend(ctx.store.tags(owner).await?.into_iter().map(|t| ((TargetKind::Tag, t.id), t.name)));
    }
    for p in predictions.iter().filter(|p| p.kind == TargetKind::Folder) {
        if let Ok(f) = ctx.store.folder(owner, p.target_id).await
            && f.trashed_at.is_none()
        {
            names.insert((TargetKind::Folder, f.id), f.name);
        }
    }
    let sure = ctx.settings.classifier.apply_confidence;
    let items: Vec<Value> = predictions
        .into_iter()
        .filter(|p| match p.kind {
            TargetKind::Tag => !state.tag_ids.contains(&p.target_id),
            TargetKind::Correspondent => state.correspondent_id != Some(p.target_id),
            TargetKind::DocumentType => state.document_type_id != Some(p.target_id),
            TargetKind::Folder => state.folder_id != p.target_id,
            TargetKind::PathTemplate => state.path_template_id != Some(p.target_id),
        })
        .filter_map(|p| {
            let name = names.get(&(p.kind, p.target_id))?;
            Some(json!({
                "kind": p.kind, "target_id": p.target_id, "name": name, "confidence": p.confidence, "words": p.words,
                "applies": p.confidence >= sure && auto.contains(&(p.kind, p.target_id)),
            }))
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"model": model_json(&info), "items": items})))
}
