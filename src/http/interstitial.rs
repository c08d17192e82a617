//! The interstitial's two hops at the edge: the first hop answers the page
//! instead of the redirect when the offer taking the click has a browser-side
//! rule active (`finish_or_hold`); `GET /continue` is the second hop
//! (`second_hop`); `spawn_sweeper` records the visitors who never came back.
//! See `interstitial` for how the two hops are recorded as one hit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::events::HitKind;
use crate::interstitial::pending::{HeldHit, TakeError};
use crate::interstitial::token::TokenError;
use crate::interstitial::verdict::{self, HopReport, Verifier};
use crate::interstitial::{ActiveChecks, active_checks, page};
use crate::routing::{Decision, DiscardDetail, Outcome};
use crate::visit::Visit;

use super::AppState;
use super::error::HttpError;
use super::hit::{self, Requester};

/// Longest value of a second hop's parameter: an Adscore signature is a few
/// hundred characters.
const MAX_VALUE_CHARS: usize = 4_096;

/// Answers a decided click: the interstitial when the offer taking it asks
/// for browser-side checks, else the redirect or discard as usual.
pub(super) async fn finish_or_hold(
    state: &AppState,
    catalog: &Catalog,
    kind: HitKind,
    decision: Decision,
    visit: Visit,
    now: DateTime<Utc>,
    started: Instant,
) -> Response {
    let checks = match (&decision.outcome, kind) {
        (Outcome::Redirect { offer_id, .. }, HitKind::Click) => catalog
            .offer(*offer_id)
            .map(|offer| active_checks(catalog, offer, visit.params.partner_id))
            .unwrap_or_default(),
        _ => ActiveChecks::new(),
    };
    if checks.is_empty() {
        return hit::finish(state, kind, decision, visit, now, started).await;
    }
    let interstitial = &state.interstitial;
    let expires_at = now + interstitial.ttl;
    let token = interstitial.key.sign(decision.transaction_id, expires_at);
    let body = page::render(&token, &checks).into_string();
    let held = HeldHit {
        kind,
        decision,
        visit,
        checks,
        held_at: now,
        expires_at,
    };
    match interstitial.pending.hold(held) {
        Ok(()) => {
            metrics::counter!("switchyard_interstitial_pages_total").increment(1);
            page_response(body)
        }
        Err(held) => {
            // Full: no verdict can come back for this hit, as if every
            // provider had failed; each rule's `on_error` decides. Debug
            // only: a full store is a flood, and the `overloaded` verdicts
            // and `switchyard_interstitial_held` show it without a line a hit.
            tracing::debug!(
                transaction_id = %held.decision.transaction_id,
                "interstitial store full: browser checks skipped for this hit"
            );
            let judged = verdict::without_report(&held.checks, "overloaded", false);
            // Boxed: inline, this rare branch's state made every click's
            // future kilobytes larger, copied by axum on each request.
            Box::pin(conclude(state, *held, judged, now, started)).await
        }
    }
}

fn page_response(body: String) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        body,
    )
        .into_response()
}

/// `GET /continue?t=TOKEN[&ns=1][&adscore=..][&anura=..][&latency_ms=..]
/// [&adscore_error=..][&anura_error=..][&latency_error=..]`.
pub async fn second_hop(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    Box::pin(continue_hit(&state, peer, query.as_deref(), &headers)).await
}

async fn continue_hit(
    state: &AppState,
    peer: SocketAddr,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let started = Instant::now();
    let now = Utc::now();
    let requester = Requester::from_request(state, peer, headers);
    let refuse = |refusal: HopRefusal| {
        hit::refuse(
            state,
            HitKind::Click,
            HttpError::Hop(refusal),
            &requester,
            now,
            started,
        )
    };
    let (token, report) = match parse_query(query.unwrap_or("")) {
        Ok(parsed) => parsed,
        Err(refusal) => return refuse(refusal).await,
    };
    let interstitial = &state.interstitial;
    let id = match interstitial.key.verify(&token, now) {
        Ok(id) => id,
        Err(error) => return refuse(HopRefusal::Token(error)).await,
    };
    let held = match interstitial.pending.take(id) {
        Ok(held) => held,
        Err(error) => return refuse(HopRefusal::Take(error)).await,
    };
    let verifier = Verifier {
        runner: &state.checks,
        adscore_key: interstitial.adscore_key.as_ref(),
        ip: held.visit.ip,
        user_agent: &held.visit.user_agent,
        now,
    };
    let judged = verdict::judge(&verifier, &held.checks, &report).await;
    conclude(state, *held, judged, now, started).await
}

/// Records the held hit with its verdicts and answers it: the redirect it was
/// decided for, or a discard by the first check that refuses it.
async fn conclude(
    state: &AppState,
    held: HeldHit,
    judged: Vec<crate::checks::Judged>,
    now: DateTime<Utc>,
    started: Instant,
) -> Response {
    let waited_ms = (now - held.held_at).num_milliseconds();
    let settled = Settled::new(held, judged, None);
    let response = hit::answer(state, settled.kind, &settled.decision);
    tracing::debug!(
        transaction_id = %settled.decision.transaction_id,
        waited_ms,
        "interstitial continued"
    );
    settled.record(state, started).await;
    response
}

/// A held hit with its verdicts applied: what is recorded for it.
struct Settled {
    kind: HitKind,
    decision: Decision,
    visit: Visit,
    held_at: DateTime<Utc>,
}

impl Settled {
    fn new(
        held: HeldHit,
        judged: Vec<crate::checks::Judged>,
        detail: Option<DiscardDetail>,
    ) -> Self {
        let HeldHit {
            kind,
            mut decision,
            visit,
            checks,
            held_at,
            ..
        } = held;
        // An abandoned hit was never redirected, monitor mode or not: it is
        // discarded by the first browser-side rule.
        let rule = match detail {
            Some(DiscardDetail::Abandoned) => checks.first().map(|(code, _)| *code),
            _ => verdict::discarding(&judged, &checks),
        };
        if let Some(rule) = rule {
            decision.outcome = discard(&decision.outcome, rule, detail);
        }
        // After the first hop's own checks (`ANURA_DIRECT`, ...), if it had any.
        decision
            .checks
            .extend(judged.into_iter().map(|j| j.verdict));
        Self {
            kind,
            decision,
            visit,
            held_at,
        }
    }

    /// Under the first hop's transaction id and time: one row for both hops.
    async fn record(self, state: &AppState, started: Instant) {
        hit::record(
            state,
            self.kind,
            &self.decision,
            self.visit,
            self.held_at,
            started,
        )
        .await;
    }
}

fn discard(
    outcome: &Outcome,
    rule: crate::rules::RuleCode,
    detail: Option<DiscardDetail>,
) -> Outcome {
    let (offer_id, advertiser_id) = match outcome {
        Outcome::Redirect {
            offer_id,
            advertiser_id,
            ..
        } => (Some(*offer_id), Some(*advertiser_id)),
        Outcome::Discard {
            offer_id,
            advertiser_id,
            ..
        } => (*offer_id, *advertiser_id),
    };
    Outcome::Discard {
        rule,
        detail,
        offer_id,
        advertiser_id,
    }
}

/// Why a second hop is refused before its verdicts are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HopRefusal {
    #[error("the second hop's parameters are malformed")]
    Malformed,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Take(#[from] TakeError),
}

impl HopRefusal {
    pub fn code(self) -> &'static str {
        match self {
            HopRefusal::Malformed => "malformed_hop",
            HopRefusal::Token(e) => e.code(),
            HopRefusal::Take(e) => e.code(),
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            HopRefusal::Malformed | HopRefusal::Token(TokenError::Forged) => {
                StatusCode::BAD_REQUEST
            }
            HopRefusal::Token(TokenError::Expired) => StatusCode::GONE,
            HopRefusal::Take(TakeError::Replayed) => StatusCode::CONFLICT,
            HopRefusal::Take(TakeError::Unknown) => StatusCode::NOT_FOUND,
        }
    }
}

/// The token and the report; a repeated, oversized or unknown parameter
/// refuses the hop (the page never sends one).
fn parse_query(query: &str) -> Result<(String, HopReport), HopRefusal> {
    let mut token = None;
    let mut report = HopReport::default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if value.len() > MAX_VALUE_CHARS {
            return Err(HopRefusal::Malformed);
        }
        let value = value.into_owned();
        let slot = match name.as_ref() {
            "t" => &mut token,
            "adscore" => &mut report.adscore,
            "anura" => &mut report.anura,
            "latency_ms" => &mut report.latency_ms,
            "ns" => {
                report.no_script = true;
                continue;
            }
            "adscore_error" => {
                report.adscore_error = true;
                continue;
            }
            "anura_error" => {
                report.anura_error = true;
                continue;
            }
            "latency_error" => {
                report.latency_error = true;
                continue;
            }
            _ => return Err(HopRefusal::Malformed),
        };
        if slot.replace(value).is_some() {
            return Err(HopRefusal::Malformed);
        }
    }
    let token = token.ok_or(HopRefusal::Malformed)?;
    Ok((token, report))
}

/// Every second, records the held hits whose token has expired: their
/// visitors never came back. One second past expiry, so that a second hop
/// verified at the last moment still finds its hit.
pub fn spawn_sweeper(
    state: Arc<AppState>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let cutoff = Utc::now() - chrono::Duration::seconds(1);
                    record_abandoned(&state, state.interstitial.pending.expire(cutoff)).await;
                }
                _ = shutdown.changed() => return,
            }
        }
    })
}

/// On a clean shutdown, once no request runs any more: what is still held is
/// recorded as abandoned, since nobody can take it now.
pub async fn drain(state: &AppState) {
    record_abandoned(state, state.interstitial.pending.drain()).await;
}

async fn record_abandoned(state: &AppState, hits: Vec<HeldHit>) {
    for held in hits {
        let started = Instant::now();
        let judged = verdict::without_report(&held.checks, "abandoned", true);
        let settled = Settled::new(held, judged, Some(DiscardDetail::Abandoned));
        tracing::debug!(transaction_id = %settled.decision.transaction_id, "interstitial abandoned");
        settled.record(state, started).await;
    }
}
