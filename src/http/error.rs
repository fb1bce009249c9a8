//! The one mapping from errors to HTTP: status + stable `code` + a message in words, and the one
//! place an error body is built — for the handlers' errors, actix's own rejections (rewritten
//! by `http::observe`) and the websocket's refusals alike. Internal causes are logged with the
//! request id, never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::{DbErrorKind, DomainError};

/// The stable `code` of every error body: clients branch on these, so they are never renamed.
pub mod codes {
    pub const BAD_REQUEST: &str = "bad_request";
    /// A field of the request is not acceptable (the message names it).
    pub const VALIDATION: &str = "validation";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const FORBIDDEN: &str = "forbidden";
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    /// An upload sent less than `server.upload_min_bytes_per_sec`.
    pub const UPLOAD_TOO_SLOW: &str = "upload_too_slow";
    pub const CONFLICT: &str = "conflict";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
    /// A search past its cost or time limit.
    pub const QUERY_TOO_EXPENSIVE: &str = "query_too_expensive";
    pub const INTERNAL: &str = "internal";
    /// The database cannot be reached or is busy: try again.
    pub const UNAVAILABLE: &str = "unavailable";
    /// Every search slot is taken: try again after `Retry-After`.
    pub const BUSY: &str = "busy";
    pub const STORAGE_UNAVAILABLE: &str = "storage_unavailable";
    pub const INSUFFICIENT_STORAGE: &str = "insufficient_storage";

    /// The code for a status when nothing more specific is known (actix's own rejections).
    pub fn for_status(status: actix_web::http::StatusCode) -> &'static str {
        match status.as_u16() {
            400 => BAD_REQUEST,
            401 => UNAUTHORIZED,
            403 => FORBIDDEN,
            404 => NOT_FOUND,
            405 => METHOD_NOT_ALLOWED,
            408 => REQUEST_TIMEOUT,
            409 => CONFLICT,
            413 => PAYLOAD_TOO_LARGE,
            415 => UNSUPPORTED_MEDIA_TYPE,
            429 => TOO_MANY_REQUESTS,
            503 => UNAVAILABLE,
            507 => INSUFFICIENT_STORAGE,
            402..=499 => BAD_REQUEST,
            _ => INTERNAL,
        }
    }
}

/// The JSON of every error body: `{"code": …, "message": …}`.
pub fn body(code: &str, message: &str) -> String {
    serde_json::to_string(&Body { code, message }).unwrap_or_else(|_| format!("{{\"code\":\"{code}\",\"message\":\"\"}}"))
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
    /// An error of this status with its generic code (see [`codes::for_status`]).
    pub fn of_status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, codes::for_status(status), message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, codes::CONFLICT, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            res.insert_header(("Retry-After", secs.to_string()));
        }
        res.content_type("application/json").body(body(self.code, &self.message))
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            DomainError::Conflict(m) => ApiError::conflict(m),
            DomainError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, codes::VALIDATION, m),
            DomainError::Unauthorized(m) => ApiError::unauthorized(m),
            DomainError::Forbidden(m) => ApiError::forbidden(m),
            DomainError::TooLarge(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE, m),
            DomainError::UnsupportedType(m) => ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, codes::UNSUPPORTED_MEDIA_TYPE, m),
            DomainError::TooManyRequests(m) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, codes::TOO_MANY_REQUESTS, m),
            DomainError::TooExpensive(m) => ApiError::new(StatusCode::BAD_REQUEST, codes::QUERY_TOO_EXPENSIVE, m),
            DomainError::StorageFull(m) => {
                tracing::error!(error = %m, "storage full or read-only");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    codes::INSUFFICIENT_STORAGE,
                    "the server's storage is full or read-only; nothing new can be saved until the administrator frees space (deleting documents from the trash still works)",
                )
            }
            DomainError::Database(e) => match e.kind {
                // Constraint violations the domain did not turn into its own Conflict first
                // (a race between two requests): the second request conflicts, no retry helps.
                DbErrorKind::Conflict => {
                    tracing::warn!(error = %e, "constraint violation");
                    ApiError::conflict("the change conflicts with data written at the same time; reload and try again")
                }
                DbErrorKind::NotFound => ApiError::not_found("not found"),
                _ => {
                    tracing::error!(error = %e, kind = ?e.kind, "database error");
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        codes::UNAVAILABLE,
                        "the database is not available right now; try again shortly",
                    )
                    .retry_after(5)
                }
            },
            DomainError::Storage(m) => {
                tracing::error!(error = %m, "storage error");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::STORAGE_UNAVAILABLE,
                    "the file store could not be read or written; try again shortly (the administrator finds the cause in the server log)",
                )
                .retry_after(30)
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
