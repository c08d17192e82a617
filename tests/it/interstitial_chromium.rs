//! The interstitial in a real browser (issue 14, part 3): headless Chromium
//! follows a tracking link whose offer has browser-side rules, runs a local
//! stand-in of Adscore's script (which signs a clean verdict for the
//! browser's own IP and user agent, as Adscore does) and the latency probe,
//! and ends on the offer's landing page; with JavaScript off, the
//! `<noscript>` refresh ends it in a recorded outcome too.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use axum::response::Html;
use base64::Engine;
use switchyard::config::SecretText;
use switchyard::interstitial::adscore::sign_for_test;

use crate::common::chromium::{headless, headless_without_javascript};
use crate::common::{self, TestDb};

const ZONE_KEY: &[u8] = b"browser zone key";

/// Adscore's script, the probe and the landing page, on one local server.
async fn start_provider() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let adscore = |headers: HeaderMap| async move {
        let ua = headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap();
        let signature = sign_for_test(ZONE_KEY, 0, now, now, IpAddr::from([127, 0, 0, 1]), &ua);
        (
            [("content-type", "application/javascript")],
            format!(
                "window.AdscoreInit = function (zone, options) {{ setTimeout(function () {{ options.callback({{ signature: '{signature}' }}); }}, 10); }};"
            ),
        )
    };
    let landing =
        || async { Html(r#"<!doctype html><html><body><p id="landed">offer</p></body></html>"#) };
    let app = axum::Router::new()
        .route("/adscore.js", axum::routing::get(adscore))
        .route("/probe", axum::routing::get(|| async { "" }))
        .route("/landing", axum::routing::get(landing));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Offer 1: Adscore and the latency probe; offer 2: Adscore alone.
fn network(provider: SocketAddr) -> String {
    format!(
        r#"INSERT INTO advertisers (id, name) VALUES (1, 'Adv');
         INSERT INTO partners (id, name) VALUES (1, 'Blue Media');
         INSERT INTO offers (id, advertiser_id, name, offer_url) VALUES
             (1, 1, 'Checked', 'http://{provider}/landing?click_id={{transaction_id}}'),
             (2, 1, 'Adscore only', 'http://{provider}/landing?click_id={{transaction_id}}');
         INSERT INTO offer_approvals (offer_id, partner_id) VALUES (1, 1), (2, 1);
         INSERT INTO optimization_rules (kind, scope, offer_id, params) VALUES
             ('ADSCORE_SCRIPT', 'offer', 1, '{{"zone": "zone-1", "script_url": "http://{provider}/adscore.js"}}'),
             ('CLIENT_SIDE_SEARCH_LATENCY', 'offer', 1, '{{"threshold_ms": 5000, "probe_url": "http://{provider}/probe"}}'),
             ('ADSCORE_SCRIPT', 'offer', 2, '{{"zone": "zone-1", "script_url": "http://{provider}/adscore.js"}}');"#
    )
}

fn tracking_link(server: SocketAddr, offer: i64, sub1: &str) -> String {
    format!("http://{server}/c?oid={offer}&affid=1&sub1={sub1}")
}

/// Dump the DOM once the page's timers and navigations have run.
fn dump_after_navigation() -> Vec<String> {
    vec![
        "--dump-dom".to_owned(),
        "--virtual-time-budget=10000".to_owned(),
    ]
}

#[tokio::test]
async fn the_interstitial_runs_the_providers_and_lands_on_the_offer() {
    let db = TestDb::create().await;
    let provider = start_provider().await;
    db.exec(&network(provider)).await;
    let mut config = common::config_for(Some(&db));
    let key = base64::engine::general_purpose::STANDARD.encode(ZONE_KEY);
    config.interstitial.adscore_response_key = Some(SecretText(key));
    let server = common::start(config).await;
    common::wait_ready(server.addr).await;

    let with_js = headless(
        &tracking_link(server.addr, 1, "js"),
        &dump_after_navigation(),
    )
    .await;
    let without_js = headless_without_javascript(
        &tracking_link(server.addr, 2, "nojs"),
        &dump_after_navigation(),
    )
    .await;
    server.shutdown().await.unwrap();

    assert!(with_js.contains(r#"<p id="landed">"#), "{with_js}");
    assert!(without_js.contains(r#"<p id="landed">"#), "{without_js}");
    let rows: Vec<(String, bool, serde_json::Value)> =
        sqlx::query_as("SELECT sub1, discard_rule IS NULL, checks FROM clicks ORDER BY sub1")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let words = |checks: &serde_json::Value| -> Vec<(String, String)> {
        checks
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["check"].as_str().unwrap().to_owned(),
                    c["verdict"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(rows.len(), 2, "one row per click: {rows:?}");
    assert_eq!(rows[0].0, "js");
    assert!(rows[0].1, "redirected");
    assert_eq!(
        words(&rows[0].2),
        [
            ("ADSCORE_SCRIPT".to_owned(), "ok".to_owned()),
            ("CLIENT_SIDE_SEARCH_LATENCY".to_owned(), "fast".to_owned())
        ]
    );
    // Without JavaScript Adscore has no verdict, and the rule fails open.
    assert_eq!(rows[1].0, "nojs");
    assert!(rows[1].1, "redirected");
    assert_eq!(
        words(&rows[1].2),
        [("ADSCORE_SCRIPT".to_owned(), "no_script".to_owned())]
    );
    db.drop_database().await;
}
