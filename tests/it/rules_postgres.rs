//! Rules end to end: real socket, real Postgres (and Redis where named).

use crate::common::*;
use futures_util::future::join_all;
use std::time::Duration;

const MAXMIND: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/maxmind");

#[tokio::test]
async fn daily_cap_survives_restart() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec("INSERT INTO offer_caps (offer_id, metric, period, cap_limit) VALUES (1, 'clicks', 'day', 3)").await;
    let server = start(config_for(Some(&db))).await;
    let url = format!("http://{}/c?oid=1&affid=1", server.addr);
    for _ in 0..3 {
        assert_eq!(client().get(&url).send().await.unwrap().status(), 302);
    }
    assert_eq!(
        client().get(&url).send().await.unwrap().status(),
        404,
        "cap of 3 is full"
    );
    server.shutdown().await.unwrap();

    let restarted = start(config_for(Some(&db))).await;
    let url = format!("http://{}/c?oid=1&affid=1", restarted.addr);
    assert_eq!(
        client().get(&url).send().await.unwrap().status(),
        404,
        "a restart must not reopen the cap"
    );
    restarted.shutdown().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE discard_rule = 'CLICK_BUDGET_REACHED'")
            .await,
        2
    );
    db.drop_database().await;
}

#[tokio::test]
async fn geo_from_a_trusted_proxy_drives_offer_targeting() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec(r#"UPDATE offers SET targeting = '{"countries": {"include": ["GB"]}}' WHERE id = 1"#)
        .await;
    let mut config = config_for(Some(&db));
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    config.enrichment.geoip_city = Some(format!("{MAXMIND}/GeoIP2-City-Test.mmdb").into());
    let server = start(config).await;
    let url = format!("http://{}/c?oid=1&affid=1&sub1={{}}", server.addr);
    // 81.2.69.160 is London in MaxMind's test data; 216.160.83.56 is Milton, US.
    let london = client()
        .get(url.replace("{}", "london"))
        .header("x-forwarded-for", "81.2.69.160")
        .send()
        .await
        .unwrap();
    assert_eq!(london.status(), 302);
    let us = client()
        .get(url.replace("{}", "us"))
        .header("x-forwarded-for", "216.160.83.56")
        .send()
        .await
        .unwrap();
    assert_eq!(us.status(), 404);
    server.shutdown().await.unwrap();
    let row: (String, Option<String>) =
        sqlx::query_as("SELECT outcome::text, country FROM clicks WHERE sub1 = 'london'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(row, ("redirected".into(), Some("GB".into())));
    let row: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT discard_rule, country FROM clicks WHERE sub1 = 'us'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        row,
        (Some("OFFER_TARGETING_MISMATCH".into()), Some("US".into()))
    );
    db.drop_database().await;
}

#[tokio::test]
async fn impressions_answer_a_pixel_and_are_recorded_with_their_own_budget() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec("INSERT INTO offer_caps (offer_id, metric, period, cap_limit) VALUES (1, 'impressions', 'day', 1)").await;
    let server = start(config_for(Some(&db))).await;
    let url = format!("http://{}/i?oid=1&affid=1", server.addr);
    let first = client().get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "image/gif");
    assert!(first.bytes().await.unwrap().starts_with(b"GIF89a"));
    assert_eq!(
        client().get(&url).send().await.unwrap().status(),
        204,
        "impression budget full"
    );
    assert_eq!(
        client()
            .get(format!("http://{}/c?oid=1&affid=1", server.addr))
            .send()
            .await
            .unwrap()
            .status(),
        302
    );
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM impressions WHERE outcome = 'redirected'")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM impressions WHERE discard_rule = 'IMPRESSION_BUDGET_REACHED' AND offer_id = 1").await,
        1
    );
    db.drop_database().await;
}

#[tokio::test]
async fn discards_are_counted_per_rule_in_the_view_and_in_metrics() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec("INSERT INTO optimization_rules (kind, params) VALUES ('IP_RECENCY', '{\"ttl_seconds\": 600}')").await;
    let server = start(config_for(Some(&db))).await;
    let url = format!("http://{}/c?oid=1&affid=1", server.addr);
    for _ in 0..4 {
        client().get(&url).send().await.unwrap();
    }
    client()
        .get(format!("http://{}/c?oid=1&affid=2", server.addr))
        .send()
        .await
        .unwrap();
    let metrics = metrics_text(&server).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchyard_hits_total") && l.contains("rule=\"IP_RECENCY\"")),
        "{metrics}"
    );
    server.shutdown().await.unwrap();
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT discard_rule, offer_id, partner_id, discards FROM discards_daily WHERE kind = 'click' ORDER BY discard_rule",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            ("IP_RECENCY".into(), 1, 1, 3),
            ("PUBLISHER_NOT_APPROVED".into(), 1, 2, 1)
        ]
    );
    db.drop_database().await;
}

/// Two servers sharing Redis enforce one cap between them.
#[tokio::test]
async fn instances_sharing_redis_never_admit_more_than_the_cap() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec("INSERT INTO offer_caps (offer_id, metric, period, cap_limit) VALUES (1, 'clicks', 'total', 20)").await;
    let redis_prefix_db = format!("{}", std::process::id() % 15 + 1);
    let mut config = config_for(Some(&db));
    config.redis_url = Some(format!("redis://127.0.0.1:6379/{redis_prefix_db}"));
    // A loaded CI machine must not trip the fail-open path, which is per instance.
    config.redis_timeout_ms = 2_000;
    // Fresh counters: cap keys are shared by offer id, so clear this database first.
    let redis = redis::Client::open(config.redis_url.clone().unwrap()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();

    let a = start(config.clone()).await;
    let b = start(config).await;
    let client = client();
    let responses = join_all((0..120).map(|i| {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        client
            .get(format!("http://{addr}/c?oid=1&affid=1&sub1=r{i}"))
            .send()
    }))
    .await;
    let admitted = responses
        .into_iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status() == 302))
        .count();
    assert!(admitted <= 20, "admitted {admitted}");
    assert!(
        admitted >= 19,
        "Redis shared the cap but admitted only {admitted}"
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn soft_cap_counts_and_alerts_but_never_discards() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    // An offer id of its own: the metrics recorder is shared by every test in
    // this process, and other tests exceed soft caps on offer 1.
    db.exec(
        "INSERT INTO offers (id, advertiser_id, name, offer_url) VALUES (4021, 1, 'Soft', 'https://acme.example/soft');
         INSERT INTO offer_approvals (offer_id, partner_id) VALUES (4021, 1);
         INSERT INTO offer_caps (offer_id, metric, period, cap_limit, hard) VALUES (4021, 'clicks', 'day', 1, false)",
    )
    .await;
    let server = start(config_for(Some(&db))).await;
    for _ in 0..3 {
        let response = client()
            .get(format!("http://{}/c?oid=4021&affid=1", server.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
    }
    let metrics = metrics_text(&server).await;
    let exceeded = metrics
        .lines()
        .find(|l| {
            l.starts_with("switchyard_soft_cap_exceeded_total{metric=\"clicks\",offer_id=\"4021\"}")
        })
        .unwrap_or_else(|| panic!("no soft cap alert in:\n{metrics}"));
    assert!(exceeded.ends_with(" 2"), "{exceeded}");
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn a_cap_added_while_running_counts_the_period_so_far() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let server = start(config_for(Some(&db))).await;
    let url = format!("http://{}/c?oid=1&affid=1", server.addr);
    for _ in 0..3 {
        assert_eq!(client().get(&url).send().await.unwrap().status(), 302);
    }
    assert!(
        eventually(Duration::from_secs(10), || async {
            db.count("SELECT count(*) FROM clicks").await == 3
        })
        .await,
        "the clicks were written"
    );
    let restores = || async {
        let metrics = metrics_text(&server).await;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("switchyard_cap_restores_total{trigger=\"new_cap\"} "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = restores().await;
    db.exec("INSERT INTO offer_caps (offer_id, metric, period, cap_limit) VALUES (1, 'clicks', 'day', 4)")
        .await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            restores().await > before
        })
        .await,
        "the new cap was restored"
    );
    assert_eq!(client().get(&url).send().await.unwrap().status(), 302);
    assert_eq!(
        client().get(&url).send().await.unwrap().status(),
        404,
        "the day's 3 clicks before the cap count towards it"
    );
    server.shutdown().await.unwrap();
    db.drop_database().await;
}
