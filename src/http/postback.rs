//! `GET /postback` (server to server) and `GET /pixel` (the browser, with the
//! click id the landing page passes on, or the `sy_tid` cookie): both record a conversion or event through
//! `Conversions::record`. A judged postback is a 200 whatever the verdict, as
//! advertisers' systems expect; only bad input (400) and "cannot judge now"
//! (503 with Retry-After) are not.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::conversions::{ConversionError, PostbackParamError, PostbackParams, Recorded};
use crate::visit::cookie::{TRANSACTION_COOKIE, cookie_value};

use super::AppState;
use super::error::HttpError;
use super::hit::PIXEL;

pub async fn postback(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let params = match PostbackParams::parse(query.as_deref().unwrap_or("")) {
        Ok(params) => params,
        Err(error) => return HttpError::from(error).into_response(),
    };
    match record(&state, params).await {
        Ok(recorded) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(recorded),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

/// Answers the GIF once judged (approved or rejected: the page must render
/// either way); the verdict is in `X-Switchyard-Conversion` for debugging.
pub async fn pixel(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.as_deref().unwrap_or("");
    let tid = cookie(&headers, TRANSACTION_COOKIE);
    // Pixels that come with neither are a landing page on another site
    // relying on the cookie: the setup to fix (docs/SMART_LINKS.md).
    metrics::counter!("switchyard_pixels_total", "source" => click_id_source(query, tid))
        .increment(1);
    let params = match PostbackParams::parse_for_pixel(query, tid) {
        Ok(params) => params,
        // Neither a click id from the page nor the cookie: on another site,
        // the browser did not send it.
        Err(PostbackParamError::Missing("transaction_id")) => {
            return HttpError::MissingCookie.into_response();
        }
        Err(error) => return HttpError::from(error).into_response(),
    };
    match record(&state, params).await {
        Ok(recorded) => {
            let verdict = match recorded.reason {
                Some(reason) => reason.as_str(),
                None => "APPROVED",
            };
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    (
                        header::HeaderName::from_static("x-switchyard-conversion"),
                        HeaderValue::from_static(verdict),
                    ),
                ],
                PIXEL,
            )
                .into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// Judging claims the click (and the order id) before the conversion is
/// queued: cancelled in between, a retry would be refused as a duplicate of a
/// conversion never written. So it runs in its own task, which an advertiser
/// hanging up (hyper then drops this handler) does not cancel.
async fn record(state: &AppState, params: PostbackParams) -> Result<Recorded, HttpError> {
    let conversions = state.conversions.clone();
    let judged = tokio::spawn(async move { conversions.record(params, Utc::now()).await }).await;
    match judged {
        Ok(Ok(recorded)) => Ok(recorded),
        Ok(Err(ConversionError::NotReady)) => Err(HttpError::NotReady),
        Ok(Err(ConversionError::AttributionUnavailable)) => Err(HttpError::RetryLater),
        Err(error) => {
            // A panic while judging: nothing is known to be recorded, so the
            // advertiser is asked to retry rather than told it failed.
            tracing::error!(%error, "judging a postback failed");
            Err(HttpError::RetryLater)
        }
    }
}

/// Where a pixel's click id comes from: `click_id` (a parameter the page
/// passed on), `cookie` (`sy_tid`), or `none`.
fn click_id_source(query: &str, cookie: Option<&str>) -> &'static str {
    let passed = form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "transaction_id");
    match (passed, cookie) {
        (true, _) => "click_id",
        (false, Some(_)) => "cookie",
        (false, None) => "none",
    }
}

/// The first cookie named `name` across every `Cookie` header.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let lines = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    cookie_value(lines, name).map(|value| value.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; sy_tid=abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("sy_tid=later"));
        assert_eq!(cookie(&headers, "sy_tid"), Some("abc"));
        assert_eq!(cookie(&headers, "other"), None);
    }

    #[test]
    fn a_pixels_click_id_comes_from_the_page_else_the_cookie() {
        assert_eq!(
            click_id_source("transaction_id=ab&amount=1", Some("cd")),
            "click_id"
        );
        assert_eq!(click_id_source("amount=1", Some("cd")), "cookie");
        assert_eq!(click_id_source("amount=1", None), "none");
    }
}
