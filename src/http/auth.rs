//! Who is calling: `Authorization: Bearer <token>` or the browser session cookie (then every
//! state-changing request must carry `X-CSRF-Token`).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::error::ApiError;
use crate::app::AppContext;
use crate::domain::{Principal, TokenKind};

pub use crate::auth::SESSION_COOKIE;
pub const CSRF_COOKIE: &str = "docmerge_csrf";
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// An authenticated caller.
pub struct Auth(pub Principal);

/// An authenticated administrator.
pub struct Admin(pub Principal);

/// The token a request carries, and whether it came from the cookie.
pub fn request_token(req: &HttpRequest) -> Option<(String, bool)> {
    if let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION)
        && let Ok(s) = h.to_str()
        && let Some(t) = s.strip_prefix("Bearer ").or_else(|| s.strip_prefix("bearer "))
    {
        return Some((t.trim().to_string(), false));
    }
    req.cookie(SESSION_COOKIE).map(|c| (c.value().to_string(), true))
}

pub async fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let ctx = req.app_data::<web::Data<AppContext>>().ok_or_else(|| {
        ApiError::new(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, crate::http::error::codes::INTERNAL, "server misconfigured")
    })?;
    let (token, from_cookie) = request_token(req)
        .ok_or_else(|| ApiError::unauthorized("log in first: send Authorization: Bearer <token> or the session cookie"))?;
    if token.is_empty() || token.len() > 200 {
        return Err(ApiError::unauthorized("the token is not valid"));
    }
    let principal = ctx
        .store
        .principal_by_token(&crate::auth::token_hash(&token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("the token or session is not valid or has expired; log in again"))?;
    let safe = matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    if from_cookie && !safe && !csrf_matches(req, &principal) {
        return Err(ApiError::forbidden("missing or wrong X-CSRF-Token header (send the csrf_token you got at login)"));
    }
    Ok(principal)
}

/// Whether the request carries the CSRF token bound to this browser session.
pub fn csrf_matches(req: &HttpRequest, principal: &Principal) -> bool {
    principal.token_kind == TokenKind::Session
        && principal.csrf_hash.as_deref().is_some_and(|expected| {
            req.headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|got| crate::auth::same(&crate::auth::token_hash(got), expected))
        })
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await.map(Auth) })
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let p = authenticate(&req).await?;
            if !p.user.is_admin {
                return Err(ApiError::forbidden("only an administrator can do this"));
            }
            Ok(Admin(p))
        })
    }
}

/// Whether the direct peer is one of `server.trusted_proxies`: only then do its `X-Forwarded-*`
/// headers mean anything (anyone else could forge them).
pub fn from_trusted_proxy(req: &HttpRequest, trusted: &[String]) -> bool {
    let peer = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    trusted.iter().any(|t| t == &peer)
}

/// The client reached a trusted reverse proxy over HTTPS (`X-Forwarded-Proto: https`): cookies
/// are then marked `Secure` even without `server.cookie_secure`.
pub fn forwarded_https(req: &HttpRequest, trusted: &[String]) -> bool {
    from_trusted_proxy(req, trusted)
        && req
            .headers()
            .get("X-Forwarded-Proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// The client's address: the peer, or the first untrusted hop of X-Forwarded-For when the peer
/// is a configured proxy.
pub fn client_ip(req: &HttpRequest, trusted: &[String]) -> String {
    let peer = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    if from_trusted_proxy(req, trusted)
        && let Some(xff) = req.headers().get("X-Forwarded-For").and_then(|v| v.to_str().ok())
    {
        for hop in xff.rsplit(',').map(str::trim) {
            if !trusted.iter().any(|t| t == hop) && !hop.is_empty() {
                return hop.to_string();
            }
        }
    }
    peer
}
