//! Postbacks, events, the pixel and partner postbacks end to end: real socket,
//! real Postgres.

use std::time::Duration;

use crate::common::*;
use crate::conversion_support::*;

async fn network() -> (TestDb, switchyard::app::RunningServer) {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let server = start(config_for(Some(&db))).await;
    (db, server)
}

async fn stop(db: TestDb, server: switchyard::app::RunningServer) {
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn approved_flat_conversion_is_priced_and_reported_under_its_offer() {
    let (db, server) = network().await;
    let client = client();
    let tid = click(&client, server.addr, OFFER_FLAT, 1, "s").await;
    let (status, body) = postback(
        &client,
        server.addr,
        &format!("transaction_id={tid}&amount=99&order_id=A1&adv1=x"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "approved");
    assert_eq!(body["payout"], "2.5");
    assert_eq!(body["revenue"], "4");
    assert_eq!(body["offer_id"], OFFER_FLAT);
    let conversion_id = body["conversion_id"].as_str().unwrap().to_owned();
    server.shutdown().await.unwrap();

    let row: (String, String, i64, i64, String, String, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT transaction_id, status::text, offer_id, partner_id, payout::text, revenue::text, order_id, adv1
         FROM conversions WHERE conversion_id = $1",
    )
    .bind(&conversion_id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(row.0, tid);
    assert_eq!((row.1.as_str(), row.2, row.3), ("approved", OFFER_FLAT, 1));
    assert_eq!((row.4.as_str(), row.5.as_str()), ("2.5000", "4.0000"));
    assert_eq!(
        (row.6.as_deref(), row.7.as_deref()),
        (Some("A1"), Some("x"))
    );
    let stats: (i64, i64, String, String, String) = sqlx::query_as(
        "SELECT clicks, conversions, payout::text, revenue::text, profit::text FROM daily_offer_stats WHERE offer_id = $1",
    )
    .bind(OFFER_FLAT)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        stats,
        (1, 1, "2.5000".into(), "4.0000".into(), "1.5000".into())
    );
    let partner: (i64, i64) =
        sqlx::query_as("SELECT clicks, conversions FROM daily_partner_stats WHERE partner_id = 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(partner, (1, 1));
    db.drop_database().await;
}

#[tokio::test]
async fn percent_payout_and_revenue_are_shares_of_the_amount() {
    let (db, server) = network().await;
    let client = client();
    let tid = click(&client, server.addr, OFFER_PERCENT, 1, "s").await;
    let (_, body) = postback(
        &client,
        server.addr,
        &format!("transaction_id={tid}&amount=200"),
    )
    .await;
    assert_eq!(body["status"], "approved");
    assert_eq!(body["payout"], "20");
    assert_eq!(body["revenue"], "30");
    stop(db, server).await;
}

#[tokio::test]
async fn postback_right_after_the_click_is_attributed_before_its_row_is_written() {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let mut config = config_for(Some(&db));
    config.event_flush_ms = 60_000; // the click row is not written before the postback
    let server = start(config).await;
    let client = client();
    let tid = click(&client, server.addr, OFFER_FLAT, 1, "s").await;
    assert_eq!(db.count("SELECT count(*) FROM clicks").await, 0);
    let (_, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["status"], "approved");
    stop(db, server).await;
}

#[tokio::test]
async fn unknown_click_is_rejected_and_recorded() {
    let (db, server) = network().await;
    let client = client();
    let tid = "0123456789abcdef0123456789abcdef";
    let (status, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["reason"], "UNKNOWN_CLICK");
    assert!(
        body["conversion_id"]
            .as_str()
            .is_some_and(|id| id.len() == 32)
    );
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM conversions WHERE status = 'rejected' AND reject_reason = 'UNKNOWN_CLICK' AND offer_id IS NULL").await,
        1
    );
    db.drop_database().await;
}

#[tokio::test]
async fn second_postback_for_a_click_is_a_duplicate_unless_the_offer_allows_them() {
    let (db, server) = network().await;
    let client = client();
    let strict = click(&client, server.addr, OFFER_FLAT, 1, "s").await;
    let lenient = click(&client, server.addr, OFFER_DUPLICATES_ALLOWED, 1, "s").await;
    for (tid, second) in [(&strict, "DUPLICATE"), (&lenient, "approved")] {
        let (_, first) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
        assert_eq!(first["status"], "approved");
        let (status, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
        assert_eq!(status, 200);
        let verdict = body["reason"]
            .as_str()
            .unwrap_or(body["status"].as_str().unwrap());
        assert_eq!(verdict, second, "{tid}");
    }
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM conversions WHERE reject_reason = 'DUPLICATE'")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM conversions WHERE status = 'approved'")
            .await,
        3
    );
    db.drop_database().await;
}

#[tokio::test]
async fn duplicate_is_detected_from_postgres_after_a_restart() {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let client = client();
    let first = start(config_for(Some(&db))).await;
    let tid = click(&client, first.addr, OFFER_FLAT, 1, "s").await;
    let (_, body) = postback(&client, first.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["status"], "approved");
    first.shutdown().await.unwrap();

    // A new process: its memory knows neither the click nor the conversion.
    let second = start(config_for(Some(&db))).await;
    let (_, body) = postback(&client, second.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["reason"], "DUPLICATE");
    stop(db, second).await;
}

#[tokio::test]
async fn same_order_id_on_the_offer_is_a_duplicate() {
    let (db, server) = network().await;
    let client = client();
    let a = click(&client, server.addr, OFFER_FLAT, 1, "a").await;
    let b = click(&client, server.addr, OFFER_FLAT, 1, "b").await;
    let c = click(&client, server.addr, OFFER_PERCENT, 1, "c").await;
    let (_, body) = postback(
        &client,
        server.addr,
        &format!("transaction_id={a}&order_id=ORD-1"),
    )
    .await;
    assert_eq!(body["status"], "approved");
    let (_, body) = postback(
        &client,
        server.addr,
        &format!("transaction_id={b}&order_id=ORD-1"),
    )
    .await;
    assert_eq!(body["reason"], "DUPLICATE");
    // Another offer may reuse the advertiser's order id.
    let (_, body) = postback(
        &client,
        server.addr,
        &format!("transaction_id={c}&order_id=ORD-1&amount=1"),
    )
    .await;
    assert_eq!(body["status"], "approved");
    // The rejected one did not use up click b: it can still convert with its own order.
    let (_, body) = postback(
        &client,
        server.addr,
        &format!("transaction_id={b}&order_id=ORD-2"),
    )
    .await;
    assert_eq!(body["status"], "approved");
    stop(db, server).await;
}

#[tokio::test]
async fn postback_after_the_conversion_window_is_rejected() {
    let (db, server) = network().await;
    let client = client();
    let tid = click(&client, server.addr, OFFER_SHORT_WINDOW, 1, "s").await;
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let (_, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["reason"], "OUTSIDE_WINDOW");
    stop(db, server).await;
}

#[tokio::test]
async fn wrong_or_missing_verification_token_is_rejected() {
    let (db, server) = network().await;
    let client = client();
    let tid = click(&client, server.addr, OFFER_TOKEN, 1, "s").await;
    for query in [
        format!("transaction_id={tid}"),
        format!("transaction_id={tid}&verification_token=secret-tokeX"),
    ] {
        let (_, body) = postback(&client, server.addr, &query).await;
        assert_eq!(body["reason"], "BAD_TOKEN", "{query}");
    }
    let (_, body) = postback(
        &client,
        server.addr,
        &format!("transaction_id={tid}&verification_token=secret-token"),
    )
    .await;
    assert_eq!(body["status"], "approved");
    stop(db, server).await;
}

#[tokio::test]
async fn hard_conversion_and_payout_caps_reject_the_overflow() {
    let (db, server) = network().await;
    let client = client();
    for (offer, approved) in [(OFFER_CONVERSION_CAP, 2), (OFFER_PAYOUT_CAP, 2)] {
        // Clicks first: once the cap is full, clicks on the offer are discarded too.
        let mut tids = Vec::new();
        for i in 0..3 {
            tids.push(click(&client, server.addr, offer, 1, &format!("s{i}")).await);
        }
        let mut verdicts = Vec::new();
        for tid in &tids {
            let (status, body) =
                postback(&client, server.addr, &format!("transaction_id={tid}")).await;
            assert_eq!(status, 200);
            verdicts.push(body["reason"].as_str().unwrap_or("APPROVED").to_owned());
        }
        let mut expected = vec!["APPROVED".to_owned(); approved];
        expected.push("CAP_REACHED".to_owned());
        assert_eq!(verdicts, expected, "offer {offer}");
    }
    stop(db, server).await;
}

#[tokio::test]
async fn postback_for_an_offer_paused_since_the_click_is_rejected() {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let mut config = config_for(Some(&db));
    config.reload_secs = 1;
    let server = start(config).await;
    let client = client();
    let tid = click(&client, server.addr, OFFER_FLAT, 1, "s").await;
    db.exec("UPDATE offers SET status = 'paused' WHERE id = 1")
        .await;
    // The change itself, not any newer version: a periodic reload may swap in
    // a snapshot read before the UPDATE committed.
    assert!(
        eventually(Duration::from_secs(10), || async {
            server.catalog.current().unwrap().offer(1).unwrap().status
                == switchyard::catalog::Status::Paused
        })
        .await,
        "catalog did not reload"
    );
    let (_, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["reason"], "INACTIVE_OFFER");
    stop(db, server).await;
}

#[tokio::test]
async fn malformed_postbacks_get_a_400_never_a_500() {
    let (db, server) = network().await;
    let client = client();
    let tid = "0123456789abcdef0123456789abcdef";
    let cases = [
        ("amount=1".to_owned(), "missing_parameter"),
        ("transaction_id=12345".to_owned(), "invalid_transaction_id"),
        (format!("transaction_id={tid}&amount=ten"), "invalid_amount"),
        (format!("transaction_id={tid}&amount=1e5"), "invalid_amount"),
        (
            format!("transaction_id={tid}&transaction_id={tid}"),
            "repeated_parameter",
        ),
        (
            format!("transaction_id={tid}&adv1=a%0D%0ASet-Cookie:x"),
            "forbidden_character",
        ),
        (
            format!("transaction_id={tid}&order_id=%0A"),
            "forbidden_character",
        ),
    ];
    for (query, code) in &cases {
        let (status, body) = postback(&client, server.addr, query).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"], *code, "{query}");
    }
    server.shutdown().await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM conversions").await, 0);
    db.drop_database().await;
}

#[tokio::test]
async fn events_are_stored_apart_from_conversions_and_counted() {
    let (db, server) = network().await;
    let client = client();
    let tid = click(&client, server.addr, OFFER_FLAT, 1, "s").await;
    let (_, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["status"], "approved");
    for _ in 0..2 {
        let (_, body) = postback(
            &client,
            server.addr,
            &format!("transaction_id={tid}&adv_event_id=purchase&amount=10"),
        )
        .await;
        assert_eq!(body["status"], "approved");
        assert_eq!(body["kind"], "event");
    }
    server.shutdown().await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM conversions").await, 1);
    assert_eq!(
        db.count("SELECT count(*) FROM conversion_events WHERE adv_event_id = 'purchase' AND status = 'approved' AND offer_id = 1").await,
        2
    );
    assert_eq!(
        db.count("SELECT events FROM daily_offer_stats WHERE offer_id = 1")
            .await,
        2
    );
    db.drop_database().await;
}

#[tokio::test]
async fn pixel_attributes_the_conversion_by_the_sy_tid_cookie() {
    let (db, server) = network().await;
    let client = client();
    let tid = click(&client, server.addr, OFFER_FLAT, 1, "s").await;
    let pixel = |cookie: Option<String>| {
        let mut request = client.get(format!("http://{}/pixel?amount=5", server.addr));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    let response = pixel(Some(format!("other=1; sy_tid={tid}"))).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/gif");
    assert_eq!(response.headers()["x-switchyard-conversion"], "APPROVED");
    assert_eq!(&response.bytes().await.unwrap()[..6], b"GIF89a");
    let again = pixel(Some(format!("sy_tid={tid}"))).await.unwrap();
    assert_eq!(again.headers()["x-switchyard-conversion"], "DUPLICATE");
    assert_eq!(pixel(None).await.unwrap().status(), 400);
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM conversions WHERE transaction_id = '{tid}' AND status = 'approved' AND amount = 5")).await,
        1
    );
    db.drop_database().await;
}

#[tokio::test]
async fn conversion_of_an_older_click_is_attributed_from_postgres_with_its_smart_link() {
    let (db, server) = network().await;
    let client = client();
    // A click this process never saw, e.g. redirected by another instance.
    let tid = "00000000000000000000000000000abc";
    db.exec(&format!(
        "INSERT INTO clicks (transaction_id, created_at, outcome, offer_id, advertiser_id, partner_id, smart_link_id, ip, user_agent)
         VALUES ('{tid}', now() - interval '2 days', 'redirected', 1, 1, 1, 42, '127.0.0.1', 'ua');
         -- The other instance's writer counted it in the rollups the reports read.
         SELECT rollup_rebuild(now() - interval '2 days', now() - interval '2 days' + interval '1 hour');"
    ))
    .await;
    let (_, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["status"], "approved");
    server.shutdown().await.unwrap();
    let stats: (i64, i64, i64) = sqlx::query_as(
        "SELECT offer_id, sum(clicks)::bigint, sum(conversions)::bigint FROM daily_smart_link_stats WHERE smart_link_id = 42 GROUP BY offer_id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stats, (1, 1, 1));
    db.drop_database().await;
}

#[tokio::test]
async fn partner_postback_is_retried_until_the_partner_answers_and_each_attempt_recorded() {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let partner = PartnerEndpoint::start(2).await;
    red_traffic_posting_to(
        &db,
        &format!(
            "http://{}/pb?click={{transaction_id}}&s1={{sub1}}&p={{payout}}&c={{conversion_id}}&e={{adv_event_id}}",
            partner.addr
        ),
    )
    .await;
    let mut config = config_for(Some(&db));
    config.postback_retry_ms = 50;
    let server = start(config).await;
    let client = client();
    let tid = click(&client, server.addr, OFFER_FLAT, 2, "a b").await;
    let (_, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["status"], "approved");
    let conversion_id = body["conversion_id"].as_str().unwrap().to_owned();
    assert!(
        eventually(Duration::from_secs(10), || async { partner.calls() == 3 }).await,
        "partner called {} times",
        partner.calls()
    );
    assert_eq!(
        partner.queries.lock().unwrap()[2],
        format!("click={tid}&s1=a%20b&p=2.5&c={conversion_id}&e=")
    );
    // Rejected postbacks tell the partner nothing.
    let (_, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["reason"], "DUPLICATE");
    server.shutdown().await.unwrap();
    assert_eq!(partner.calls(), 3);
    let attempts: Vec<(i32, Option<i32>, Option<String>)> = sqlx::query_as(
        "SELECT attempt, http_status, error FROM partner_postback_attempts WHERE conversion_id = $1 AND partner_id = 2 ORDER BY attempt",
    )
    .bind(&conversion_id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(
        attempts[0],
        (1, Some(500), Some("HTTP 500 Internal Server Error".into()))
    );
    assert_eq!(attempts[2], (3, Some(200), None));
    db.drop_database().await;
}

#[tokio::test]
async fn over_a_soft_cap_the_conversion_stands_but_the_partner_is_not_told() {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let partner = PartnerEndpoint::start(0).await;
    red_traffic_posting_to(
        &db,
        &format!("http://{}/pb?c={{conversion_id}}", partner.addr),
    )
    .await;
    let server = start(config_for(Some(&db))).await;
    let client = client();
    for i in 0..2 {
        let tid = click(&client, server.addr, OFFER_SOFT_CAP, 2, &format!("s{i}")).await;
        let (_, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
        assert_eq!(body["status"], "approved");
    }
    assert!(eventually(Duration::from_secs(5), || async { partner.calls() >= 1 }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        partner.calls(),
        1,
        "the conversion over the soft cap was passed on"
    );
    stop(db, server).await;
}

#[tokio::test]
async fn a_sub_the_partner_asks_for_after_the_click_is_read_from_the_click_row() {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let partner = PartnerEndpoint::start(0).await;
    red_traffic_posting_to(
        &db,
        &format!("http://{}/pb?c={{conversion_id}}", partner.addr),
    )
    .await;
    let mut config = config_for(Some(&db));
    config.reload_secs = 1;
    let server = start(config).await;
    let client = client();
    // The partner's URL mentions no sub: the click index keeps none of them.
    let tid = click(&client, server.addr, OFFER_FLAT, 2, "asked-later").await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            db.count("SELECT count(*) FROM clicks").await == 1
        })
        .await,
        "the click row was not written"
    );
    let version = server.catalog.current().unwrap().version;
    db.exec(&format!(
        "UPDATE partners SET postback_url = 'http://{}/pb?s1={{sub1}}' WHERE id = 2",
        partner.addr
    ))
    .await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            server.catalog.current().unwrap().version > version
        })
        .await,
        "catalog did not reload"
    );
    let (_, body) = postback(&client, server.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["status"], "approved");
    assert!(
        eventually(Duration::from_secs(10), || async { partner.calls() == 1 }).await,
        "the partner was not called"
    );
    assert_eq!(partner.queries.lock().unwrap()[0], "s1=asked-later");
    stop(db, server).await;
}
