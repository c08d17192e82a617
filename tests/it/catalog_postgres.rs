//! The catalog against a real Postgres: schema constraints, live reload, and
//! keeping the last good snapshot.

use std::time::{Duration, Instant};

use crate::common::*;

#[tokio::test]
async fn schema_refuses_nonsense_an_admin_might_type() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let refused = [
        "INSERT INTO offers (advertiser_id, name, offer_url) VALUES (1, 'x', 'ftp://a.example/')",
        "INSERT INTO offers (advertiser_id, name, offer_url) VALUES (1, 'x', 'https://{sub1}.example/')",
        "INSERT INTO offers (advertiser_id, name, offer_url) VALUES (1, 'x', 'https://acme{sub1}.example/')",
        "INSERT INTO offers (advertiser_id, name, offer_url) VALUES (1, 'x', 'https://a.example/ x')",
        "INSERT INTO offers (advertiser_id, name, offer_url) VALUES (99, 'x', 'https://a.example/')",
        "INSERT INTO offers (advertiser_id, name, offer_url, payout_model, payout) VALUES (1, 'x', 'https://a.example/', 'percent', 150)",
        "INSERT INTO offer_approvals (offer_id, partner_id, status) VALUES (1, 2, 'maybe')",
        "INSERT INTO optimization_rules (kind, scope) VALUES ('IP_RECENCY', 'offer')",
        "INSERT INTO optimization_rules (kind, scope, offer_id, partner_id) VALUES ('IP_RECENCY', 'offer', 1, 1)",
        "UPDATE offers SET fail_offer_id = id WHERE id = 1",
        "INSERT INTO smart_link_offers (smart_link_id, offer_id) VALUES (42, 1)",
        "INSERT INTO offer_caps (offer_id, metric, period, cap_limit) VALUES (1, 'clicks', 'week', 10)",
    ];
    for sql in refused {
        let result = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&db.pool)
            .await;
        assert!(result.is_err(), "schema accepted: {sql}");
    }
    db.drop_database().await;
}

#[tokio::test]
async fn offer_inserted_by_sql_is_served_within_a_second() {
    let db = TestDb::create().await;
    let server = start(config_for(Some(&db))).await;
    let client = client();
    let url = format!("http://{}/c?oid=1&affid=1", server.addr);
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        404,
        "unknown before the insert"
    );

    db.exec(SMALL_NETWORK).await;
    let committed = Instant::now();
    let served = eventually(Duration::from_secs(1), || async {
        client.get(&url).send().await.unwrap().status() == 302
    })
    .await;
    assert!(served, "offer not served within a second of the commit");
    assert!(committed.elapsed() < Duration::from_secs(1));

    server.shutdown().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn malformed_row_does_not_replace_the_good_snapshot() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let server = start(config_for(Some(&db))).await;
    let client = client();
    let url = format!("http://{}/c?oid=1&affid=1", server.addr);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 302);
    let good_version = server.catalog.current().unwrap().version;

    // Valid SQL, invalid catalog: the timezone does not exist, and a second offer
    // added in the same change must not go live either.
    db.exec(
        "BEGIN;
         UPDATE offers SET timezone = 'Mars/Olympus_Mons' WHERE id = 1;
         INSERT INTO offers (id, advertiser_id, name, offer_url, requires_approval)
             VALUES (2, 1, 'New', 'https://new.example/', false);
         COMMIT;",
    )
    .await;
    let attempted = eventually(Duration::from_secs(2), || async {
        server.catalog.last_version_issued() > good_version
    })
    .await;
    assert!(attempted);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let current = server.catalog.current().unwrap();
    assert_eq!(
        current.version, good_version,
        "a bad catalog replaced the good one"
    );
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        302,
        "old offer still served"
    );
    let new_offer = format!("http://{}/c?oid=2&affid=1", server.addr);
    assert_eq!(
        client.get(&new_offer).send().await.unwrap().status(),
        404,
        "half of a bad change went live"
    );

    // Fixing the row lets the change through.
    db.exec("UPDATE offers SET timezone = 'Europe/Berlin' WHERE id = 1")
        .await;
    let fixed = eventually(Duration::from_secs(1), || async {
        client.get(&new_offer).send().await.unwrap().status() == 302
    })
    .await;
    assert!(fixed, "fixed catalog not picked up");

    server.shutdown().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn readiness_reports_the_snapshot() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let server = start(config_for(Some(&db))).await;
    let body: serde_json::Value = client()
        .get(format!("http://{}/readyz", server.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["catalog"]["offers"], 1);
    let metrics = metrics_text(&server).await;
    assert!(metrics.contains("switchyard_snapshot_version"), "{metrics}");
    server.shutdown().await.unwrap();
    db.drop_database().await;
}
