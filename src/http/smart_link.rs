//! `GET /sl/{id}?affid=..`: a smart link click.
//!
//! Besides the redirect, an accepted click sets two cookies on the link's
//! tracking domain (or a configured parent domain): `sy_tid`, the click's
//! transaction id, for cookie-based conversion tracking (the pixel must be
//! served on the same site, as seed 000 warns), and `sy_uid`, a stable browser identity for the duplicate click
//! filter. `sy_tid` changes with every click, so it cannot say "seen before":
//! that is `sy_uid`'s job, set once and kept.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::checks::HitChecks;
use crate::events::HitKind;
use crate::routing::smart_link::decide_smart_link;
use crate::routing::{self, Decision, DiscardDetail, Outcome, TransactionId};
use crate::visit::TrackingParams;

use super::AppState;
use super::cookies;
use super::error::HttpError;
use super::hit::{self, Requester};

pub async fn smart_link_click(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(link): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    // Boxed for the reason `click::offer_click` gives.
    Box::pin(smart_link_hit(state, peer, link, query, headers)).await
}

async fn smart_link_hit(
    state: Arc<AppState>,
    peer: SocketAddr,
    link: String,
    query: Option<String>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let now = Utc::now();
    let requester = Requester::from_request(&state, peer, &headers);
    let params = match TrackingParams::parse(query.as_deref().unwrap_or(""), false) {
        Ok(params) => params,
        Err(error) => {
            let error = HttpError::from(error);
            return hit::refuse(&state, HitKind::Click, error, &requester, now, started).await;
        }
    };
    let Some(catalog) = state.catalog.current() else {
        let error = HttpError::NotReady;
        return hit::refuse(&state, HitKind::Click, error, &requester, now, started).await;
    };
    // A malformed id names no link: answered and recorded like an unknown one.
    let Ok(link_id) = link.parse::<i64>() else {
        let error = HttpError::UnknownSmartLink;
        return hit::refuse(&state, HitKind::Click, error, &requester, now, started).await;
    };
    let transaction_id = TransactionId::new(now, &mut rand::rng());
    let mut visit = requester.visit(&state, params);
    let new_visitor = cookies::identify_visitor(&mut visit, transaction_id);
    // Seeded here because the thread-local generator cannot cross an await.
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let checks = HitChecks::new(&state.checks);
    let inputs = routing::Inputs {
        transaction_id,
        catalog: &catalog,
        counters: &state.counters,
        visit: &visit,
        now,
        checks: &checks,
    };
    let mut decision = decide_smart_link(&inputs, link_id, &mut rng, None).await;
    decision.checks = checks.into_verdicts();
    let refusal = refusal(&decision);
    let tracking_domain = catalog
        .smart_link(link_id)
        .and_then(|l| l.tracking_domain.as_deref());
    let site = cookies::ClickSite {
        host: requester.host.as_deref(),
        tracking_domain,
    };
    let redirected = matches!(decision.outcome, Outcome::Redirect { .. });
    let mut response = super::interstitial::finish_or_hold(
        &state,
        &catalog,
        HitKind::Click,
        decision,
        visit,
        now,
        started,
    )
    .await;
    if let Some(error) = refusal {
        return error.into_response();
    }
    if redirected {
        state
            .cookies
            .set_click_cookies(&mut response, &site, transaction_id, new_visitor);
    }
    response
}

/// Link-level refusals are answered as request errors (404 JSON), not with the
/// fallback page: the link itself is wrong, not the visitor.
fn refusal(decision: &Decision) -> Option<HttpError> {
    match &decision.outcome {
        Outcome::Discard {
            detail: Some(DiscardDetail::UnknownSmartLink),
            ..
        } => Some(HttpError::UnknownSmartLink),
        Outcome::Discard {
            detail: Some(DiscardDetail::WrongTrackingDomain),
            ..
        } => Some(HttpError::WrongTrackingDomain),
        _ => None,
    }
}
