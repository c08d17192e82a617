//! The offer URL scanner's walk against a local web: where chains end.

use switchyard::scanner::{ScanError, ScanResult, Scanner};

use crate::scanner_support::{LocalWeb, STORE};

async fn walk(path: &str) -> switchyard::scanner::walk::Walk {
    let web = LocalWeb::start().await;
    let scanner = Scanner::new(&web.scan_config()).unwrap();
    scanner.walk(&format!("http://adv.example{path}")).await
}

#[tokio::test]
async fn redirects_through_a_tracker_reach_the_store() {
    let walk = walk("/via-tracker").await;
    assert_eq!(walk.result, ScanResult::Store, "{walk:?}");
    assert!(walk.reached_tracker);
    assert_eq!(walk.hops, 2);
    assert_eq!(walk.final_url.as_deref(), Some(STORE));
    assert_eq!(
        walk.chain,
        [
            "http://adv.example/via-tracker",
            "http://app.appsflyer.com/com.acme?pid=sy",
            STORE
        ]
    );
}

#[tokio::test]
async fn a_meta_refresh_is_followed() {
    let walk = walk("/meta").await;
    assert_eq!(walk.result, ScanResult::Store, "{walk:?}");
    assert!(walk.reached_tracker);
    assert_eq!(walk.chain[1], "http://app.appsflyer.com/com.acme?a=1&b=2");
}

#[tokio::test]
async fn a_script_location_is_followed() {
    let walk = walk("/script").await;
    assert_eq!(walk.result, ScanResult::Store, "{walk:?}");
    assert!(!walk.reached_tracker);
    assert_eq!(
        walk.final_url.as_deref(),
        Some("market://details?id=com.acme.puzzle")
    );
}

#[tokio::test]
async fn a_store_without_a_tracker_is_not_a_tracker() {
    let walk = walk("/direct-store").await;
    assert_eq!(walk.result, ScanResult::Store);
    assert!(!walk.reached_tracker);
}

#[tokio::test]
async fn a_redirect_loop_is_an_error() {
    let walk = walk("/loop-a").await;
    assert_eq!(walk.result, ScanResult::Error);
    assert_eq!(walk.error, Some(ScanError::Loop), "{walk:?}");
}

#[tokio::test]
async fn an_endless_chain_stops_at_the_hop_limit() {
    let walk = walk("/hop/1").await;
    assert_eq!(walk.error, Some(ScanError::TooManyHops), "{walk:?}");
    // The first URL, six hops followed, and the seventh not taken.
    assert_eq!(walk.chain.len(), 8);
}

#[tokio::test]
async fn a_slow_hop_times_out() {
    let walk = walk("/slow").await;
    assert_eq!(walk.error, Some(ScanError::Timeout), "{walk:?}");
    assert!(walk.duration < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let web = LocalWeb::start().await;
    let scanner = Scanner::new(&web.scan_config()).unwrap();
    let walk = scanner.walk("http://down.example/x").await;
    assert_eq!(walk.error, Some(ScanError::Connect), "{walk:?}");
}

#[tokio::test]
async fn a_landing_page_reaches_neither() {
    let walk = walk("/landing").await;
    assert_eq!(walk.result, ScanResult::Neither, "{walk:?}");
    assert!(!walk.reached_tracker);
}

#[tokio::test]
async fn a_chain_that_stops_at_a_tracker_ends_there() {
    let walk = walk("/stuck-at-tracker").await;
    assert_eq!(walk.result, ScanResult::Tracker, "{walk:?}");
    assert!(walk.reached_tracker);
}

#[tokio::test]
async fn a_server_error_is_an_error_the_scanner_could_not_judge() {
    let walk = walk("/down").await;
    assert_eq!(walk.error, Some(ScanError::Http5xx), "{walk:?}");
    assert!(ScanError::Http5xx.is_transient());
}

#[tokio::test]
async fn cookies_set_on_the_way_are_sent_back() {
    let walk = walk("/cookie-check").await;
    assert_eq!(walk.result, ScanResult::Store, "{walk:?}");
}

#[tokio::test]
async fn redirects_into_a_private_network_are_refused() {
    let walk = walk("/to-metadata").await;
    assert_eq!(walk.error, Some(ScanError::PrivateAddress), "{walk:?}");
    let web = LocalWeb::start().await;
    let scanner = Scanner::new(&web.scan_config()).unwrap();
    // `localhost` is not pinned: it resolves to loopback only.
    let walk = scanner
        .walk(&format!(
            "http://localhost:{}/direct-store",
            web.addr.port()
        ))
        .await;
    assert_eq!(walk.error, Some(ScanError::PrivateAddress), "{walk:?}");
}
