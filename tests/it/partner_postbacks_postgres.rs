//! Partner postbacks queued in Postgres: retries survive a restart, two
//! instances share the queue without calling a partner twice, and a delivery
//! that keeps failing is given up with its reason.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::Row;

use crate::common::*;
use crate::conversion_support::*;
use crate::pg_proxy::PgProxy;

/// Partner 2 gets postbacks at `path` on the endpoint, with the idempotency key.
async fn network_with_partner(db: &TestDb, partner: &PartnerEndpoint, path: &str) {
    db.exec(NETWORK).await;
    red_traffic_posting_to(
        db,
        &format!(
            "http://{}{path}?c={{conversion_id}}&k={{idempotency_key}}",
            partner.addr
        ),
    )
    .await;
}

/// One approved conversion for partner 2; returns its conversion id.
async fn convert(addr: std::net::SocketAddr, sub1: &str) -> String {
    let client = client();
    let tid = click(&client, addr, OFFER_FLAT, 2, sub1).await;
    let (_, body) = postback(&client, addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["status"], "approved");
    body["conversion_id"].as_str().unwrap().to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct QueueRow {
    delivery_id: String,
    state: String,
    attempts: i32,
    last_http_status: Option<i32>,
    last_error: Option<String>,
    given_up_reason: Option<String>,
}

async fn queue_row(db: &TestDb, conversion_id: &str) -> Option<QueueRow> {
    let row = sqlx::query(
        "SELECT delivery_id, state::text AS state, attempts, last_http_status, last_error, given_up_reason
         FROM partner_postback_queue WHERE conversion_id = $1",
    )
    .bind(conversion_id)
    .fetch_optional(&db.pool)
    .await
    .unwrap()?;
    Some(QueueRow {
        delivery_id: row.get("delivery_id"),
        state: row.get("state"),
        attempts: row.get("attempts"),
        last_http_status: row.get("last_http_status"),
        last_error: row.get("last_error"),
        given_up_reason: row.get("given_up_reason"),
    })
}

fn key_of(query: &str) -> String {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("k="))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_retry_pending_at_shutdown_is_delivered_by_the_next_start_with_the_same_key() {
    let db = TestDb::create().await;
    let partner = PartnerEndpoint::start(1).await;
    network_with_partner(&db, &partner, "/pb").await;
    let mut config = config_for(Some(&db));
    // Long enough that the first server is gone before the retry falls due.
    config.postback_retry_ms = 3_000;
    let first = start(config.clone()).await;
    let conversion_id = convert(first.addr, "s").await;
    assert!(
        eventually(Duration::from_secs(10), || async { partner.calls() == 1 }).await,
        "the first attempt was never made"
    );
    // Shut down while the retry waits (the failed call's outcome is recorded
    // within the shutdown grace).
    first.shutdown().await.unwrap();
    assert_eq!(partner.calls(), 1, "the retry ran before the shutdown");

    let second = start(config).await;
    assert!(
        eventually(Duration::from_secs(15), || async { partner.calls() == 2 }).await,
        "the restarted server did not deliver the pending retry"
    );
    second.shutdown().await.unwrap();

    let row = queue_row(&db, &conversion_id).await.unwrap();
    assert_eq!((row.state.as_str(), row.attempts), ("delivered", 2));
    assert_eq!(row.last_http_status, Some(200));
    let queries = partner.queries.lock().unwrap().clone();
    assert_eq!(key_of(&queries[0]), row.delivery_id);
    assert_eq!(key_of(&queries[1]), row.delivery_id);
    assert_eq!(row.delivery_id.len(), 32);
    let attempts: Vec<(i32, Option<i32>)> = sqlx::query_as(
        "SELECT attempt, http_status FROM partner_postback_attempts WHERE conversion_id = $1 ORDER BY attempt",
    )
    .bind(&conversion_id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(attempts, [(1, Some(500)), (2, Some(200))]);
    db.drop_database().await;
}

#[tokio::test]
async fn two_servers_on_one_database_deliver_each_postback_exactly_once() {
    let db = TestDb::create().await;
    let partner = PartnerEndpoint::start(0).await;
    network_with_partner(&db, &partner, "/pb").await;
    let a = start(config_for(Some(&db))).await;
    let b = start(config_for(Some(&db))).await;
    // A backlog left by an earlier run, due now for both dispatchers at once...
    let backlog = 40;
    db.exec(&format!(
        "INSERT INTO partner_postback_queue (delivery_id, conversion_id, partner_id, url, created_at, next_attempt_at)
         SELECT lpad(to_hex(i), 32, '0'), 'backlog' || i, 2, 'http://{}/pb?k=' || lpad(to_hex(i), 32, '0'), now(), now()
         FROM generate_series(1, {backlog}) AS i",
        partner.addr
    ))
    .await;
    // ...and new conversions through each server.
    let mut conversions = Vec::new();
    for i in 0..5 {
        conversions.push(convert(a.addr, &format!("a{i}")).await);
        conversions.push(convert(b.addr, &format!("b{i}")).await);
    }
    let total = backlog + conversions.len();
    assert!(
        eventually(Duration::from_secs(20), || async {
            db.count("SELECT count(*) FROM partner_postback_queue WHERE state = 'delivered'")
                .await
                == total as i64
        })
        .await,
        "not everything was delivered"
    );
    // Time for a second delivery to show up, if there were one.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        metrics_text(&a)
            .await
            .contains("switchyard_partner_postbacks_pending")
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();

    let queries = partner.queries.lock().unwrap().clone();
    let keys: HashSet<String> = queries.iter().map(|q| key_of(q)).collect();
    assert_eq!(queries.len(), total, "some postback was sent twice");
    assert_eq!(keys.len(), total);
    assert_eq!(
        db.count("SELECT count(*) FROM partner_postback_queue WHERE attempts <> 1")
            .await,
        0
    );
    assert_eq!(
        db.count("SELECT count(*) FROM partner_postback_attempts")
            .await,
        total as i64
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_partner_that_always_fails_is_given_up_after_the_configured_attempts() {
    let db = TestDb::create().await;
    let partner = PartnerEndpoint::start(usize::MAX).await;
    network_with_partner(&db, &partner, "/pb").await;
    let mut config = config_for(Some(&db));
    config.postback_attempts = 3;
    config.postback_retry_ms = 50;
    let server = start(config).await;
    let conversion_id = convert(server.addr, "s").await;
    assert!(
        eventually(Duration::from_secs(15), || async {
            queue_row(&db, &conversion_id)
                .await
                .is_some_and(|row| row.state == "given_up")
        })
        .await,
        "the delivery was never given up"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.shutdown().await.unwrap();

    assert_eq!(partner.calls(), 3);
    let row = queue_row(&db, &conversion_id).await.unwrap();
    assert_eq!(row.attempts, 3);
    assert_eq!(row.last_http_status, Some(500));
    assert_eq!(
        row.last_error.as_deref(),
        Some("HTTP 500 Internal Server Error")
    );
    assert_eq!(row.given_up_reason.as_deref(), Some("attempts_exhausted"));
    let attempts: Vec<(i32, Option<i32>, Option<String>)> = sqlx::query_as(
        "SELECT attempt, http_status, error FROM partner_postback_attempts WHERE conversion_id = $1 ORDER BY attempt",
    )
    .bind(&conversion_id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let failed = |n| {
        (
            n,
            Some(500),
            Some("HTTP 500 Internal Server Error".to_owned()),
        )
    };
    assert_eq!(attempts, [failed(1), failed(2), failed(3)]);
    db.drop_database().await;
}

#[tokio::test]
async fn a_partner_refusing_the_url_is_given_up_after_one_attempt() {
    let db = TestDb::create().await;
    let partner = PartnerEndpoint::start(0).await;
    // No such route on the endpoint: it answers 404.
    network_with_partner(&db, &partner, "/gone").await;
    let mut config = config_for(Some(&db));
    config.postback_retry_ms = 50;
    let server = start(config).await;
    let conversion_id = convert(server.addr, "s").await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            queue_row(&db, &conversion_id)
                .await
                .is_some_and(|row| row.state == "given_up")
        })
        .await,
        "the delivery was never given up"
    );
    server.shutdown().await.unwrap();
    let row = queue_row(&db, &conversion_id).await.unwrap();
    assert_eq!(row.attempts, 1);
    assert_eq!(row.given_up_reason.as_deref(), Some("refused"));
    assert_eq!(row.last_error.as_deref(), Some("HTTP 404 Not Found"));
    db.drop_database().await;
}

#[tokio::test]
async fn a_postback_approved_during_an_outage_is_delivered_once_postgres_returns() {
    let db = TestDb::create().await;
    let partner = PartnerEndpoint::start(0).await;
    network_with_partner(&db, &partner, "/pb").await;
    let proxy = PgProxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], 5432))).await;
    let spill = std::env::temp_dir().join(format!(
        "switchyard-spill-{}-postback-outage",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&spill);
    let mut config = config_for(Some(&db));
    config.database_url = Some(proxy.url_for(&db.url));
    config.spill_dir = Some(spill.clone());
    config.event_write_timeout_ms = 1_000;
    config.conversion_lookup_ms = 300;
    let server = start(config).await;
    wait_ready(server.addr).await;
    let client = client();
    let tid = click(&client, server.addr, OFFER_FLAT, 2, "s").await;

    proxy.cut();
    // Attributed from memory; its delivery waits in the spill file.
    let (_, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["status"], "approved");
    // Claims fail meanwhile: the delivery waits, and nothing crashes or spins.
    tokio::time::sleep(Duration::from_secs(2)).await;

    proxy.restore();
    assert!(
        eventually(Duration::from_secs(30), || async { partner.calls() == 1 }).await,
        "the delivery queued during the outage was never made"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    server.shutdown().await.unwrap();
    assert_eq!(partner.calls(), 1);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM partner_postback_queue WHERE state = 'delivered' AND attempts = 1"
        )
        .await,
        1
    );
    let _ = std::fs::remove_dir_all(&spill);
    db.drop_database().await;
}
