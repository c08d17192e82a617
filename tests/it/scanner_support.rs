//! A local web for the offer URL scanner: one server answering for an
//! advertiser, a tracker (app.appsflyer.com) and the stores, with the
//! scanner's resolver pinning those host names to it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use switchyard::config::ScanConfig;
use switchyard::scanner::client::PinnedHost;

pub const HOSTS: &[&str] = &[
    "adv.example",
    "app.appsflyer.com",
    "play.google.com",
    "apps.apple.com",
];

pub const STORE: &str = "https://play.google.com/store/apps/details?id=com.acme.puzzle";

pub struct LocalWeb {
    pub addr: SocketAddr,
    /// A port nothing listens on.
    pub closed: SocketAddr,
}

impl LocalWeb {
    pub async fn start() -> Self {
        let app = axum::Router::new()
            .route("/via-tracker", get(|| async { found("http://app.appsflyer.com/com.acme?pid=sy") }))
            .route("/com.acme", get(|| async { found(STORE) }))
            .route("/direct-store", get(|| async { found(STORE) }))
            .route("/meta", get(|| async {
                Html(r#"<html><head><meta http-equiv="refresh" content="0; url=http://app.appsflyer.com/com.acme?a=1&amp;b=2"></head></html>"#)
            }))
            .route("/script", get(|| async {
                Html(r#"<html><script>window.location.replace("market://details?id=com.acme.puzzle");</script></html>"#)
            }))
            .route("/loop-a", get(|| async { found("/loop-b") }))
            .route("/loop-b", get(|| async { found("/loop-a") }))
            .route("/hop/{n}", get(|Path(n): Path<u32>| async move { found(&format!("/hop/{}", n + 1)) }))
            .route("/slow", get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                found(STORE)
            }))
            .route("/landing", get(|| async { Html("<html><body>Sign up!</body></html>") }))
            .route("/stuck-at-tracker", get(|| async { found("http://app.appsflyer.com/stuck") }))
            .route("/stuck", get(|| async { Html("<html><body>Open in the app</body></html>") }))
            .route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
            .route("/to-metadata", get(|| async { found("http://169.254.169.254/latest/meta-data/") }))
            .route("/cookie-check", get(cookie_check));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let closed = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap()
        };
        Self { addr, closed }
    }

    /// Scanner settings for this web: short timeouts, hosts pinned to it, and
    /// `down.example` to a closed port.
    pub fn scan_config(&self) -> ScanConfig {
        let mut pinned: Vec<PinnedHost> = HOSTS
            .iter()
            .map(|host| PinnedHost {
                host: (*host).to_owned(),
                addr: self.addr,
            })
            .collect();
        pinned.push(PinnedHost {
            host: "down.example".into(),
            addr: self.closed,
        });
        ScanConfig {
            scan_max_hops: 6,
            scan_hop_timeout_ms: 500,
            scan_chain_timeout_ms: 3_000,
            scan_resolve: pinned,
            ..ScanConfig::default()
        }
    }
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

/// A tracker that sets a cookie and sends the browser back to itself to see
/// it: without a cookie jar this looks like a loop.
async fn cookie_check(headers: HeaderMap) -> Response {
    let has_cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("seen=1"));
    if has_cookie {
        found(STORE)
    } else {
        (
            StatusCode::FOUND,
            [
                (header::LOCATION, "/cookie-check".to_owned()),
                (header::SET_COOKIE, "seen=1; Path=/".to_owned()),
            ],
        )
            .into_response()
    }
}
