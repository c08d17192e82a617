//! The one error type at the HTTP boundary: each variant a status and a short,
//! stable JSON body. Discards are outcomes, not errors, and are answered elsewhere.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::conversions::PostbackParamError;
use crate::visit::params::ParamError;

/// What a deferred postback is told to wait before retrying, in seconds.
const RETRY_AFTER_SECONDS: &str = "30";

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    InvalidRequest(#[from] ParamError),
    #[error("unknown offer")]
    UnknownOffer,
    #[error("unknown partner")]
    UnknownPartner,
    #[error("unknown or inactive smart link")]
    UnknownSmartLink,
    #[error("this smart link does not answer on this host")]
    WrongTrackingDomain,
    #[error("missing or invalid X-Api-Key")]
    Unauthorized,
    #[error("missing or invalid `Authorization: Bearer` token")]
    AdminUnauthorized,
    #[error("the admin routes read Postgres: start the server with DATABASE_URL")]
    NoDatabase,
    /// An admin read failed; the cause is logged where it happened.
    #[error("the database is unavailable; retry later")]
    DatabaseUnavailable,
    #[error("no such route")]
    NotFound,
    #[error("no catalog loaded yet")]
    NotReady,
    #[error(transparent)]
    InvalidPostback(#[from] PostbackParamError),
    #[error("no transaction_id parameter and no `sy_tid` cookie")]
    MissingCookie,
    /// The postback cannot be judged now (Postgres unreachable for a click not in
    /// memory); nothing was recorded, and the advertiser is asked to retry.
    #[error("attribution temporarily unavailable; retry later")]
    RetryLater,
    /// An interstitial's second hop that continues no held hit.
    #[error(transparent)]
    Hop(#[from] super::HopRefusal),
}

impl HttpError {
    fn status(&self) -> StatusCode {
        match self {
            HttpError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::UnknownOffer
            | HttpError::UnknownPartner
            | HttpError::UnknownSmartLink
            | HttpError::WrongTrackingDomain
            | HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::Unauthorized | HttpError::AdminUnauthorized => StatusCode::UNAUTHORIZED,
            HttpError::InvalidPostback(_) | HttpError::MissingCookie => StatusCode::BAD_REQUEST,
            HttpError::Hop(refusal) => refusal.status(),
            HttpError::NotReady
            | HttpError::RetryLater
            | HttpError::NoDatabase
            | HttpError::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            HttpError::InvalidRequest(e) => e.code(),
            HttpError::UnknownOffer => "unknown_offer",
            HttpError::UnknownPartner => "unknown_partner",
            HttpError::UnknownSmartLink => "unknown_smart_link",
            HttpError::WrongTrackingDomain => "wrong_tracking_domain",
            HttpError::Unauthorized | HttpError::AdminUnauthorized => "unauthorized",
            HttpError::NoDatabase => "no_database",
            HttpError::DatabaseUnavailable => "database_unavailable",
            HttpError::NotFound => "not_found",
            HttpError::NotReady => "not_ready",
            HttpError::InvalidPostback(e) => e.code(),
            HttpError::MissingCookie => "missing_cookie",
            HttpError::RetryLater => "retry_later",
            HttpError::Hop(refusal) => refusal.code(),
        }
    }

    /// The request parameter at fault, so a client need not parse the message.
    fn field(&self) -> Option<&str> {
        match self {
            HttpError::InvalidRequest(e) => e.field(),
            HttpError::InvalidPostback(e) => e.field(),
            _ => None,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        tracing::debug!(error = %self, "request refused");
        let mut body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        if let Some(field) = self.field() {
            body["field"] = field.into();
        }
        let mut response = (self.status(), Json(body)).into_response();
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        if matches!(self, HttpError::AdminUnauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        if matches!(self, HttpError::RetryLater) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}
