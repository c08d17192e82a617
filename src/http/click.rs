//! `GET /c?oid=..&affid=..` (a direct offer click) and `GET /i?oid=..&affid=..`
//! (an impression): the same parameters and rules, a different decision and answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;

use crate::checks::HitChecks;
use crate::events::HitKind;
use crate::routing::{self, Outcome, TransactionId};
use crate::visit::TrackingParams;

use super::AppState;
use super::cookies;
use super::error::HttpError;
use super::hit::{self, Requester};

pub async fn offer_click(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    // Boxed: axum moves a handler's future several times before and while
    // polling it, and inline, the whole decision's state (kilobytes) was
    // copied each time; a box is one allocation and one copy.
    Box::pin(offer_hit(
        &state,
        HitKind::Click,
        peer,
        query.as_deref(),
        &headers,
    ))
    .await
}

/// Answers a 1x1 GIF when counted, 204 when discarded.
pub async fn impression(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    // Boxed for the reason `offer_click` gives.
    Box::pin(offer_hit(
        &state,
        HitKind::Impression,
        peer,
        query.as_deref(),
        &headers,
    ))
    .await
}

async fn offer_hit(
    state: &AppState,
    kind: HitKind,
    peer: SocketAddr,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let started = Instant::now();
    let now = Utc::now();
    let requester = Requester::from_request(state, peer, headers);
    let params = match TrackingParams::parse(query.unwrap_or(""), true) {
        Ok(params) => params,
        Err(error) => {
            return hit::refuse(
                state,
                kind,
                HttpError::from(error),
                &requester,
                now,
                started,
            )
            .await;
        }
    };
    let Some(catalog) = state.catalog.current() else {
        return hit::refuse(state, kind, HttpError::NotReady, &requester, now, started).await;
    };
    let transaction_id = TransactionId::new(now, &mut rand::rng());
    let mut visit = requester.visit(state, params);
    let new_visitor = cookies::identify_visitor(&mut visit, transaction_id);
    let checks = HitChecks::new(&state.checks);
    let inputs = routing::Inputs {
        transaction_id,
        catalog: &catalog,
        counters: &state.counters,
        visit: &visit,
        now,
        checks: &checks,
    };
    let mut decision = match kind {
        HitKind::Click => routing::decide_offer_click(&inputs, None).await,
        HitKind::Impression => routing::decide_impression(&inputs).await,
    };
    decision.checks = checks.into_verdicts();
    let redirected = matches!(decision.outcome, Outcome::Redirect { .. });
    let mut response =
        super::interstitial::finish_or_hold(state, &catalog, kind, decision, visit, now, started)
            .await;
    // Cookie-based conversion tracking works for direct clicks too: the pixel on
    // the same (tracking) host, or under the same configured parent domain,
    // reads `sy_tid`.
    if kind == HitKind::Click && redirected {
        let site = cookies::ClickSite {
            host: requester.host.as_deref(),
            tracking_domain: None,
        };
        state
            .cookies
            .set_click_cookies(&mut response, &site, transaction_id, new_visitor);
    }
    response
}
