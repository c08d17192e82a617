//! What every tracking hit (click, impression, smart link) shares at the edge:
//! who is asking, how a decision is answered, and how it is recorded.

use std::net::SocketAddr;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::events::{Event, HitKind, HitRecord};
use crate::routing::{Decision, DiscardDetail, Outcome};
use crate::rules::RuleCode;
use crate::visit::cookie::visitor_cookie;
use crate::visit::{TrackingParams, Visit};

use super::AppState;
use super::error::HttpError;
use super::hit_metrics;

/// Stored user agents are cut here: longer ones are junk or attacks.
const MAX_USER_AGENT_BYTES: usize = crate::columns::USER_AGENT_CHARS;

/// The request facts a `Visit` is built from.
pub struct Requester<'a> {
    pub ip: std::net::IpAddr,
    pub user_agent: &'a str,
    pub host: Option<String>,
    pub accept_language: Option<&'a str>,
    /// The `sy_uid` cookie, when well-formed (see `visit_cookie`).
    pub click_cookie: Option<String>,
}

impl<'a> Requester<'a> {
    pub fn from_request(state: &AppState, peer: SocketAddr, headers: &'a HeaderMap) -> Self {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let ip = state.trusted_proxies.client_ip(peer.ip(), forwarded);
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(|h| {
                h.rsplit_once(':')
                    .map_or(h, |(name, _)| name)
                    .to_ascii_lowercase()
            });
        let accept_language = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        Self {
            ip,
            user_agent: crate::columns::truncate_to(user_agent, MAX_USER_AGENT_BYTES),
            host,
            accept_language,
            click_cookie: visitor_cookie(
                headers
                    .get_all(header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            ),
        }
    }

    /// The visit without GeoIP or device facts: for hits refused before routing.
    pub fn bare_visit(&self, params: TrackingParams) -> Visit {
        let mut visit = Visit::bare(params, self.ip, self.user_agent);
        visit.host = self.host.clone();
        visit.click_cookie = self.click_cookie.clone();
        visit
    }

    /// The visit with everything the rules may ask about.
    pub fn visit(&self, state: &AppState, params: TrackingParams) -> Visit {
        let mut visit = self.bare_visit(params);
        state.enricher.enrich(&mut visit, self.accept_language);
        visit
    }
}

/// Records the decision and answers it.
pub async fn finish(
    state: &AppState,
    kind: HitKind,
    decision: Decision,
    visit: Visit,
    now: DateTime<Utc>,
    started: Instant,
) -> Response {
    let response = answer(state, kind, &decision);
    record(state, kind, &decision, visit, now, started).await;
    response
}

/// Records a hit refused before routing (bad parameters, no catalog) and answers
/// with the error.
pub async fn refuse(
    state: &AppState,
    kind: HitKind,
    error: HttpError,
    requester: &Requester<'_>,
    now: DateTime<Utc>,
    started: Instant,
) -> Response {
    let (rule, detail) = match &error {
        HttpError::NotReady => (RuleCode::NoCatalog, None),
        HttpError::InvalidRequest(e) => (
            RuleCode::InvalidRequest,
            Some(DiscardDetail::BadParameter(e.code())),
        ),
        HttpError::UnknownOffer => (RuleCode::InvalidRequest, Some(DiscardDetail::UnknownOffer)),
        HttpError::UnknownPartner => (
            RuleCode::InvalidRequest,
            Some(DiscardDetail::UnknownPartner),
        ),
        HttpError::UnknownSmartLink => (
            RuleCode::InvalidRequest,
            Some(DiscardDetail::UnknownSmartLink),
        ),
        HttpError::WrongTrackingDomain => (
            RuleCode::InvalidRequest,
            Some(DiscardDetail::WrongTrackingDomain),
        ),
        HttpError::Unauthorized => (RuleCode::InvalidRequest, Some(DiscardDetail::Unauthorized)),
        HttpError::Hop(refusal) => (
            RuleCode::InvalidRequest,
            Some(DiscardDetail::BadParameter(refusal.code())),
        ),
        // Conversion and admin errors are never raised for hits.
        HttpError::InvalidPostback(_)
        | HttpError::MissingCookie
        | HttpError::RetryLater
        | HttpError::AdminUnauthorized
        | HttpError::NoDatabase
        | HttpError::DatabaseUnavailable
        | HttpError::NotFound => (RuleCode::InvalidRequest, None),
    };
    let decision = Decision {
        transaction_id: crate::routing::TransactionId::new(now, &mut rand::rng()),
        requested_offer_id: None,
        smart_link_id: None,
        outcome: Outcome::Discard {
            rule,
            detail,
            offer_id: None,
            advertiser_id: None,
        },
        checks: Vec::new(),
    };
    let visit = requester.bare_visit(TrackingParams::default());
    record(state, kind, &decision, visit, now, started).await;
    error.into_response()
}

pub(super) fn answer(state: &AppState, kind: HitKind, decision: &Decision) -> Response {
    if kind == HitKind::Impression {
        return answer_impression(decision);
    }
    match &decision.outcome {
        Outcome::Redirect { url, .. } => match HeaderValue::try_from(url.as_str()) {
            Ok(location) => redirect(location),
            // Templates are ASCII-checked at load and values percent-encoded, so this
            // is unreachable; answer like a discard rather than fail the request.
            Err(_) => {
                tracing::error!(url, "expanded offer URL is not a valid header value");
                blank_not_found()
            }
        },
        Outcome::Discard {
            detail: Some(DiscardDetail::UnknownOffer),
            ..
        } => HttpError::UnknownOffer.into_response(),
        Outcome::Discard {
            detail: Some(DiscardDetail::UnknownPartner),
            ..
        } => HttpError::UnknownPartner.into_response(),
        Outcome::Discard { .. } => match &state.fallback_url {
            Some(fallback) => redirect(fallback.clone()),
            None => blank_not_found(),
        },
    }
}

/// A transparent 1x1 GIF.
pub(super) const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Counted impressions get the pixel; discarded ones a 204, so the page still
/// renders and the discard is visible to anyone debugging the tag.
fn answer_impression(decision: &Decision) -> Response {
    let no_store = (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match &decision.outcome {
        Outcome::Redirect { .. } => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
                no_store,
            ],
            PIXEL,
        )
            .into_response(),
        Outcome::Discard {
            detail: Some(DiscardDetail::UnknownOffer),
            ..
        } => HttpError::UnknownOffer.into_response(),
        Outcome::Discard {
            detail: Some(DiscardDetail::UnknownPartner),
            ..
        } => HttpError::UnknownPartner.into_response(),
        Outcome::Discard { .. } => (StatusCode::NO_CONTENT, [no_store]).into_response(),
    }
}

fn redirect(location: HeaderValue) -> Response {
    // 302, never 301: a cached redirect would hide repeat clicks from us.
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

fn blank_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
    )
        .into_response()
}

pub(super) async fn record(
    state: &AppState,
    kind: HitKind,
    decision: &Decision,
    visit: Visit,
    now: DateTime<Utc>,
    started: Instant,
) {
    let (outcome, rule) = match &decision.outcome {
        Outcome::Redirect { .. } => ("redirected", None),
        Outcome::Discard { rule, .. } => ("discarded", Some(*rule)),
    };
    hit_metrics::count(kind, rule);
    tracing::debug!(
        hit.kind = ?kind,
        transaction_id = %decision.transaction_id,
        offer.id = ?decision.requested_offer_id,
        outcome,
        rule = rule.map(|r| r.as_str()),
        "hit decided"
    );
    let hit = HitRecord::from_decision(kind, decision, visit, now);
    // Before the event is queued: a postback may follow the redirect at once.
    state.conversions.remember_hit(&hit, now);
    state.events.send(Event::Hit(hit)).await;
    hit_metrics::observe_duration(kind, started.elapsed().as_secs_f64());
}
