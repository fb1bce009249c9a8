//! The one mapping from domain errors to HTTP: status + stable `code` + a message in words.
//! Internal causes are logged with the request id, never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::{DbErrorKind, DomainError};

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
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
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
        res.json(Body { code: self.code, message: &self.message })
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            DomainError::Conflict(m) => ApiError::conflict(m),
            DomainError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "validation", m),
            DomainError::Unauthorized(m) => ApiError::unauthorized(m),
            DomainError::Forbidden(m) => ApiError::forbidden(m),
            DomainError::TooLarge(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", m),
            DomainError::UnsupportedType(m) => ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", m),
            DomainError::TooManyRequests(m) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", m),
            DomainError::TooExpensive(m) => ApiError::new(StatusCode::BAD_REQUEST, "query_too_expensive", m),
            DomainError::StorageFull(m) => {
                tracing::error!(error = %m, "storage full or read-only");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "insufficient_storage",
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
                        "unavailable",
                        "the database is not available right now; try again shortly",
                    )
                    .retry_after(5)
                }
            },
            DomainError::Storage(m) => {
                tracing::error!(error = %m, "storage error");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the file store could not be read or written; try again shortly (the administrator finds the cause in the server log)",
                )
                .retry_after(30)
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
