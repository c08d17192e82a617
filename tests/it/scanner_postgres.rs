//! The offer URL scanner with Postgres: scans stored and read into the
//! snapshot, backoff, and DOES_NOT_REACH_STORE / DOES_NOT_REACH_TRACKER over a
//! real socket.

use std::time::Duration;

use switchyard::scanner::store::ScanTarget;
use switchyard::scanner::{Outcome, ScanMode, Scanner};

use crate::common::*;
use crate::scanner_support::LocalWeb;

const NETWORK: &str = "
    INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
    INSERT INTO partners (id, name) VALUES (1, 'Blue Media');
    INSERT INTO offers (id, advertiser_id, name, offer_url, requires_approval)
        VALUES (1, 1, 'Puzzle', 'http://adv.example/landing?t={transaction_id}&p={affiliate_id}', false);
";

fn target(url: &str) -> ScanTarget {
    ScanTarget {
        id: 1,
        advertiser_id: 1,
        offer_url: url.to_owned(),
    }
}

async fn set_url(db: &TestDb, url: &str) {
    sqlx::query("UPDATE offers SET offer_url = $1 WHERE id = 1")
        .bind(url)
        .execute(&db.pool)
        .await
        .unwrap();
}

async fn hit(server: &switchyard::app::RunningServer, sub: &str) -> u16 {
    client()
        .get(format!("http://{}/c?oid=1&affid=1&sub1={sub}", server.addr))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_scan_is_stored_and_loaded_into_the_snapshot() {
    let web = LocalWeb::start().await;
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let url = "http://adv.example/via-tracker?t={transaction_id}";
    set_url(&db, url).await;
    let scanner = Scanner::new(&web.scan_config()).unwrap();
    let outcome = scanner
        .scan_offer(&db.pool, &target(url), ScanMode::Due)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Scanned(_)), "{outcome:?}");
    let row: (String, String, String, bool, Option<String>, i32, Vec<String>, i32) = sqlx::query_as(
        "SELECT offer_url, scanned_url, result::text, reached_tracker, final_url, hops, chain, failures
         FROM offer_url_scans WHERE offer_id = 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(row.0, url);
    assert_eq!(
        row.1,
        "http://adv.example/via-tracker?t=00000000000000000000000000000000"
    );
    assert_eq!(row.2, "store");
    assert!(row.3);
    assert_eq!(row.4.as_deref(), Some(crate::scanner_support::STORE));
    assert_eq!(row.5, 2);
    assert_eq!(row.6.len(), 3);
    assert_eq!(row.7, 0);
    assert_eq!(
        scanner
            .scan_offer(&db.pool, &target(url), ScanMode::Due)
            .await
            .unwrap(),
        Outcome::NotDue,
        "a passing scan is not due again before the interval"
    );

    let catalog = switchyard::kpi::show::load_catalog(&db.pool).await.unwrap();
    let scan = catalog.offer(1).unwrap().last_scan.unwrap();
    assert_eq!(scan.result, switchyard::scanner::ScanResult::Store);
    assert!(scan.reached_tracker);

    set_url(&db, "http://adv.example/direct-store").await;
    let catalog = switchyard::kpi::show::load_catalog(&db.pool).await.unwrap();
    assert_eq!(
        catalog.offer(1).unwrap().last_scan,
        None,
        "a scan of another URL does not count"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn failing_urls_are_rescanned_with_backoff() {
    let web = LocalWeb::start().await;
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let url = "http://adv.example/loop-a";
    set_url(&db, url).await;
    let mut config = web.scan_config();
    config.scan_retry_secs = 60;
    config.scan_interval_secs = 3_600;
    let scanner = Scanner::new(&config).unwrap();
    for _ in 0..3 {
        scanner
            .scan_offer(&db.pool, &target(url), ScanMode::Force)
            .await
            .unwrap();
    }
    let rows: Vec<(String, Option<String>, i32, f64)> = sqlx::query_as(
        "SELECT result::text, error, failures, extract(epoch FROM next_scan_at - scanned_at)::float8
         FROM offer_url_scans ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let error = Some("loop".to_owned());
    assert_eq!(
        rows,
        [
            ("error".to_owned(), error.clone(), 1, 60.0),
            ("error".to_owned(), error.clone(), 2, 120.0),
            ("error".to_owned(), error, 3, 240.0),
        ]
    );
    db.drop_database().await;
}

#[tokio::test]
async fn does_not_reach_store_discards_until_a_changed_url_is_rescanned() {
    let web = LocalWeb::start().await;
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    db.exec(
        "INSERT INTO optimization_rules (kind, scope) VALUES ('DOES_NOT_REACH_STORE', 'global')",
    )
    .await;
    let mut config = config_for(Some(&db));
    config.scan = web.scan_config();
    let server = start(config).await;
    wait_ready(server.addr).await;

    // The landing page never reaches a store: once its scan is in the
    // snapshot, clicks are discarded under the rule's code.
    let discarded = eventually(Duration::from_secs(20), || async {
        hit(&server, "before").await == 404
    })
    .await;
    assert!(discarded, "the failed scan never reached the snapshot");
    assert_eq!(
        db.count("SELECT count(*) FROM offer_url_scans WHERE result = 'neither'")
            .await,
        1
    );

    // A new URL: the scanner sees the swap, rescans at once, and the store
    // it reaches lets clicks through.
    set_url(&db, "http://adv.example/via-tracker?t={transaction_id}").await;
    let rescanned = eventually(Duration::from_secs(20), || async {
        db.count("SELECT count(*) FROM offer_url_scans WHERE result = 'store'")
            .await
            == 1
    })
    .await;
    assert!(rescanned, "the changed URL was not rescanned");
    let passed = eventually(Duration::from_secs(10), || async {
        hit(&server, "after").await == 302
    })
    .await;
    assert!(passed);
    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains("switchyard_offer_scans_total{result=\"neither\"}"),
        "{metrics}"
    );
    server.shutdown().await.unwrap();
    assert!(
        db.count(
            "SELECT count(*) FROM clicks WHERE sub1 = 'before' AND discard_rule = 'DOES_NOT_REACH_STORE'"
        )
        .await
            >= 1
    );
    assert!(
        db.count("SELECT count(*) FROM clicks WHERE sub1 = 'after' AND outcome = 'redirected'")
            .await
            >= 1
    );
    db.drop_database().await;
}

#[tokio::test]
async fn does_not_reach_tracker_discards_a_direct_store_link_unless_monitoring() {
    let web = LocalWeb::start().await;
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    db.exec(
        "INSERT INTO partners (id, name) VALUES (2, 'Red Traffic');
         INSERT INTO optimization_rules (kind, scope) VALUES ('DOES_NOT_REACH_TRACKER', 'global');
         INSERT INTO optimization_rules (kind, scope, partner_id, params)
             VALUES ('DOES_NOT_REACH_TRACKER', 'partner', 2, '{\"mode\": \"monitor\"}');",
    )
    .await;
    let url = "http://adv.example/direct-store";
    set_url(&db, url).await;
    Scanner::new(&web.scan_config())
        .unwrap()
        .scan_offer(&db.pool, &target(url), ScanMode::Due)
        .await
        .unwrap();
    let mut config = config_for(Some(&db));
    config.scan_enabled = false;
    let server = start(config).await;
    wait_ready(server.addr).await;
    assert_eq!(
        hit(&server, "x").await,
        404,
        "a store link without a tracker"
    );
    let monitored = client()
        .get(format!("http://{}/c?oid=1&affid=2", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        monitored.status(),
        302,
        "monitor mode records, never discards"
    );
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE discard_rule = 'DOES_NOT_REACH_TRACKER'")
            .await,
        1
    );
    let verdict: serde_json::Value = sqlx::query_scalar(
        "SELECT checks FROM clicks WHERE partner_id = 2 AND outcome = 'redirected'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        verdict,
        serde_json::json!([{
            "check": "DOES_NOT_REACH_TRACKER",
            "verdict": "store_without_tracker",
            "latency_us": 0,
            "monitor": true
        }])
    );
    db.drop_database().await;
}

#[tokio::test]
async fn switchyard_scan_scans_an_offer_and_prints_its_chain() {
    let web = LocalWeb::start().await;
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    set_url(&db, "http://adv.example/meta").await;
    let pins = format!("adv.example={0},app.appsflyer.com={0}", web.addr);
    let args = ["scan", "--offer", "1", "--json", "--scan-resolve", &pins];
    let line = switchyard_json(&args, &db.url).await;
    assert_eq!(line["outcome"], "scanned");
    assert_eq!(line["result"], "store");
    assert_eq!(line["reached_tracker"], true);
    assert_eq!(line["chain"].as_array().unwrap().len(), 3);
    assert_eq!(
        db.count("SELECT count(*) FROM offer_url_scans WHERE offer_id = 1 AND result = 'store'")
            .await,
        1
    );
    db.drop_database().await;
}
