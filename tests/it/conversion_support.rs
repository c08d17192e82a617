//! Helpers for the conversion and outage tests: a network with every kind of
//! offer a postback can meet, clicks that hand back their transaction id, and
//! a partner endpoint that fails on cue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;

use crate::common::TestDb;

/// Offers by what a postback on them tests; partner 1 has no postback URL.
pub const OFFER_FLAT: i64 = 1; // payout 2.5, revenue 4
pub const OFFER_PERCENT: i64 = 2; // 10% payout, 15% revenue of `amount`
pub const OFFER_DUPLICATES_ALLOWED: i64 = 3;
pub const OFFER_SHORT_WINDOW: i64 = 4; // 1 second conversion window
pub const OFFER_TOKEN: i64 = 5; // verification token `secret-token`
pub const OFFER_CONVERSION_CAP: i64 = 6; // hard cap: 2 conversions a day
pub const OFFER_SOFT_CAP: i64 = 7; // soft cap: 1 conversion a day
pub const OFFER_PAYOUT_CAP: i64 = 8; // payout 2, hard payout cap 5 in total

pub const NETWORK: &str = "
    INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
    INSERT INTO partners (id, name) VALUES (1, 'Blue Media');
    INSERT INTO offers (id, advertiser_id, name, offer_url, requires_approval,
                        payout_model, payout, revenue_model, revenue,
                        conversion_window_seconds, allow_duplicate_conversions, verification_token_sha256)
    VALUES
        (1, 1, 'Flat', 'https://acme.example/?t={transaction_id}', false, 'flat', 2.5, 'flat', 4, 2592000, false, NULL),
        (2, 1, 'Percent', 'https://acme.example/?t={transaction_id}', false, 'percent', 10, 'percent', 15, 2592000, false, NULL),
        (3, 1, 'Dups', 'https://acme.example/?t={transaction_id}', false, 'flat', 1, 'flat', 2, 2592000, true, NULL),
        (4, 1, 'Short', 'https://acme.example/?t={transaction_id}', false, 'flat', 1, 'flat', 2, 1, false, NULL),
        (5, 1, 'Token', 'https://acme.example/?t={transaction_id}', false, 'flat', 1, 'flat', 2, 2592000, false, sha256(convert_to('secret-token', 'UTF8'))),
        (6, 1, 'Capped', 'https://acme.example/?t={transaction_id}', false, 'flat', 1, 'flat', 2, 2592000, false, NULL),
        (7, 1, 'Soft', 'https://acme.example/?t={transaction_id}', false, 'flat', 1, 'flat', 2, 2592000, false, NULL),
        (8, 1, 'Budget', 'https://acme.example/?t={transaction_id}', false, 'flat', 2, 'flat', 3, 2592000, false, NULL);
    INSERT INTO offer_caps (offer_id, metric, period, cap_limit, hard) VALUES
        (6, 'conversions', 'day', 2, true),
        (7, 'conversions', 'day', 1, false),
        (8, 'payout', 'total', 5, true);
";

/// Clicks offer `oid` for partner `affid` and returns the transaction id.
pub async fn click(
    client: &reqwest::Client,
    addr: SocketAddr,
    oid: i64,
    affid: i64,
    sub1: &str,
) -> String {
    let response = client
        .get(format!(
            "http://{addr}/c?oid={oid}&affid={affid}&sub1={sub1}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302, "click on offer {oid}");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    location.split("t=").nth(1).unwrap()[..32].to_owned()
}

/// Sends a postback; returns the status and the JSON body.
pub async fn postback(
    client: &reqwest::Client,
    addr: SocketAddr,
    query: &str,
) -> (u16, serde_json::Value) {
    let response = client
        .get(format!("http://{addr}/postback?{query}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// Partner 2, "Red Traffic", whose postbacks go to `postback_url` (a URL
/// template: `{conversion_id}` and the like stay as they are).
pub async fn red_traffic_posting_to(db: &TestDb, postback_url: &str) {
    db.exec(&format!(
        "INSERT INTO partners (id, name, postback_url) VALUES (2, 'Red Traffic', '{postback_url}')"
    ))
    .await;
}

/// A partner's postback endpoint that answers 500 to the first `failures` calls.
pub struct PartnerEndpoint {
    pub addr: SocketAddr,
    pub calls: Arc<AtomicUsize>,
    pub queries: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct EndpointState {
    failures: usize,
    calls: Arc<AtomicUsize>,
    queries: Arc<Mutex<Vec<String>>>,
}

impl PartnerEndpoint {
    pub async fn start(failures: usize) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let state = EndpointState {
            failures,
            calls: calls.clone(),
            queries: queries.clone(),
        };
        let app = axum::Router::new()
            .route("/pb", axum::routing::get(answer))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            calls,
            queries,
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn answer(State(state): State<EndpointState>, RawQuery(query): RawQuery) -> StatusCode {
    state
        .queries
        .lock()
        .unwrap()
        .push(query.unwrap_or_default());
    let n = state.calls.fetch_add(1, Ordering::SeqCst);
    if n < state.failures {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}
