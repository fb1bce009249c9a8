//! Login, logout, sessions, personal API tokens, users (admin).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppContext;
use crate::auth::{hash_password, new_secret, token_hash, validate_password, verify_password};
use crate::domain::login::{Limited, LoginDecision, LoginPolicy};
use crate::domain::{TokenKind, now_millis};
use crate::http::auth::{Admin, Auth, CSRF_COOKIE, SESSION_COOKIE, client_ip, request_token};
use crate::http::dto;
use crate::http::error::{ApiError, ApiResult};

/// "42 seconds", "3 minutes".
fn wait_words(secs: i64) -> String {
    match secs {
        ..=1 => "1 second".to_string(),
        2..90 => format!("{secs} seconds"),
        _ => format!("{} minutes", (secs + 59) / 60),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    username: String,
    password: String,
}

pub async fn login(ctx: web::Data<AppContext>, req: HttpRequest, body: web::Json<LoginBody>) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if body.username.len() > 200 || body.password.len() > 1024 {
        return Err(ApiError::unauthorized("wrong username or password"));
    }
    let account = body.username.to_lowercase();
    let source = client_ip(&req, &ctx.settings.server.trusted_proxies);
    let policy = LoginPolicy::new(ctx.settings.auth.max_failed_logins);
    let attempt = match ctx.store.begin_login(&account, &source, policy).await? {
        Ok(attempt) => attempt,
        Err(LoginDecision::Wait { retry_after_ms, per }) => {
            let secs = (retry_after_ms + 999) / 1000;
            tracing::info!(user = %body.username, %source, ?per, retry_after = secs, "login refused by the limiter");
            let message = match per {
                Limited::Source => format!("too many failed logins from your address; try again in {}", wait_words(secs)),
                Limited::Account => format!(
                    "too many failed logins for this account from unfamiliar addresses; try again in {} or from a device you signed in from before",
                    wait_words(secs)
                ),
            };
            return Err(ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                crate::http::error::codes::TOO_MANY_REQUESTS,
                message,
            )
            .retry_after(secs as u64));
        }
        Err(LoginDecision::Proceed) => unreachable!("begin_login records every attempt it lets proceed"),
    };
    let found = ctx.store.user_by_name(&body.username).await?;
    let password = body.password.clone();
    let (ok, user) = match found {
        Some(u) => {
            let hash = u.password_hash.clone();
            let ok = web::block(move || verify_password(&password, &hash)).await.unwrap_or(false);
            (ok && !u.user.disabled, Some(u.user))
        }
        None => {
            let _ = web::block(move || verify_password(&password, crate::auth::dummy_hash())).await;
            (false, None)
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        ctx.store.finish_login(attempt, None, &source).await?;
        tracing::info!(user = %body.username, %source, "failed login");
        return Err(ApiError::unauthorized("wrong username or password"));
    };
    ctx.store.finish_login(attempt, Some(user.id), &source).await?;
    let token = new_secret("dms_");
    let csrf = new_secret("");
    let expires = now_millis() + (ctx.settings.auth.session_hours as i64) * 3_600_000;
    let agent = req.headers().get("User-Agent").and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(120).collect::<String>();
    ctx.store
        .create_token(
            user.id,
            &format!("session {agent}"),
            TokenKind::Session,
            &token_hash(&token),
            Some(&token_hash(&csrf)),
            Some(expires),
        )
        .await?;
    let secure = ctx.settings.server.cookie_secure || crate::http::auth::forwarded_https(&req, &ctx.settings.server.trusted_proxies);
    let max_age = actix_web::cookie::time::Duration::hours(ctx.settings.auth.session_hours as i64);
    let session = Cookie::build(SESSION_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(max_age)
        .finish();
    let csrf_cookie =
        Cookie::build(CSRF_COOKIE, csrf.clone()).path("/").same_site(SameSite::Strict).secure(secure).max_age(max_age).finish();
    Ok(HttpResponse::Ok().cookie(session).cookie(csrf_cookie).json(json!({
        "token": token, "csrf_token": csrf, "expires_at": dto::time(expires),
        "user": {"id": user.id, "username": user.username, "is_admin": user.is_admin},
    })))
}

/// Ends the session behind the request (if it is still valid) and always clears the cookies,
/// so a browser with an expired session can log out too.
pub async fn logout(ctx: web::Data<AppContext>, req: HttpRequest) -> ApiResult<HttpResponse> {
    if let Some((token, from_cookie)) = request_token(&req)
        && let Some(p) = ctx.store.principal_by_token(&token_hash(&token)).await?
        && p.token_kind == TokenKind::Session
    {
        // A live cookie session ends only with its CSRF token: another site cannot log the user
        // out. (An expired or unknown session has nothing to protect: its cookies are cleared.)
        if from_cookie && !crate::http::auth::csrf_matches(&req, &p) {
            return Err(ApiError::forbidden("missing or wrong X-CSRF-Token header (send the csrf_token you got at login)"));
        }
        ctx.store.delete_token(p.user.id, p.token_id).await?;
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    let mut gone_csrf = Cookie::build(CSRF_COOKIE, "").path("/").finish();
    gone_csrf.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).cookie(gone_csrf).finish())
}

pub async fn me(auth: Auth, req: HttpRequest) -> ApiResult<HttpResponse> {
    let u = &auth.0.user;
    // The CSRF secret itself is only known to the browser (cookie); echo it back for the UI.
    let csrf = req.cookie(CSRF_COOKIE).map(|c| c.value().to_string());
    Ok(HttpResponse::Ok().json(json!({"id": u.id, "username": u.username, "is_admin": u.is_admin, "csrf_token": csrf})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
}

pub async fn list_tokens(ctx: web::Data<AppContext>, auth: Auth) -> ApiResult<HttpResponse> {
    let tokens = ctx.store.list_tokens(auth.0.user.id, TokenKind::Api).await?;
    let items: Vec<_> = tokens
        .iter()
        .map(|t| json!({"id": t.id, "name": t.name, "created_at": dto::time(t.created_at), "last_used_at": dto::opt_time(t.last_used_at)}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items, "total": items.len()})))
}

pub async fn create_token(ctx: web::Data<AppContext>, auth: Auth, body: web::Json<NewToken>) -> ApiResult<HttpResponse> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("a token name needs 1 to 100 characters"));
    }
    let token = new_secret("dmt_");
    let t = ctx.store.create_token(auth.0.user.id, name, TokenKind::Api, &token_hash(&token), None, None).await?;
    Ok(HttpResponse::Created().json(json!({"id": t.id, "name": t.name, "token": token, "created_at": dto::time(t.created_at)})))
}

pub async fn delete_token(ctx: web::Data<AppContext>, auth: Auth, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    ctx.store.delete_token(auth.0.user.id, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_users(ctx: web::Data<AppContext>, _admin: Admin) -> ApiResult<HttpResponse> {
    let users = ctx.store.list_users().await?;
    Ok(HttpResponse::Ok().json(json!({"items": users.iter().map(dto::user).collect::<Vec<_>>(), "total": users.len()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    is_admin: bool,
}

pub async fn create_user(ctx: web::Data<AppContext>, _admin: Admin, body: web::Json<NewUser>) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    crate::domain::users::validate_username(&body.username)?;
    validate_password(&body.password)?;
    let hash = web::block(move || hash_password(&body.password)).await.map_err(|_| ApiError::bad_request("cannot hash the password"))??;
    let user = ctx.store.create_user(&body.username, &hash, body.is_admin).await?;
    Ok(HttpResponse::Created().json(dto::user(&user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    password: Option<String>,
    is_admin: Option<bool>,
    disabled: Option<bool>,
    /// With a new password: keep the user's API tokens (sessions end either way). Default false.
    #[serde(default)]
    keep_tokens: bool,
}

pub async fn patch_user(
    ctx: web::Data<AppContext>,
    admin: Admin,
    path: web::Path<i64>,
    body: web::Json<PatchUser>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let body = body.into_inner();
    if id == admin.0.user.id && (body.disabled == Some(true) || body.is_admin == Some(false)) {
        return Err(ApiError::conflict("you cannot disable yourself or remove your own administrator rights"));
    }
    let hash = match body.password {
        Some(p) => {
            validate_password(&p)?;
            Some(web::block(move || hash_password(&p)).await.map_err(|_| ApiError::bad_request("cannot hash the password"))??)
        }
        None => None,
    };
    let user = ctx.store.update_user(id, hash.as_deref(), body.is_admin, body.disabled, body.keep_tokens).await?;
    Ok(HttpResponse::Ok().json(dto::user(&user)))
}
