//! An advertiser that hangs up mid-postback: hyper drops the handler, and a
//! judgement cut short used to keep its claim on the click without recording
//! the conversion, so the advertiser's retry was refused as a duplicate of a
//! conversion that was never written.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use crate::conversion_support::*;
use crate::pg_proxy::PgProxy;

#[tokio::test]
async fn a_postback_whose_sender_hangs_up_is_still_recorded_once() {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    // An offer id of this run only: its cap counter in the shared Redis is fresh.
    let offer = 1_000_000 + i64::from(rand::random::<u32>() % 1_000_000_000);
    db.exec(&format!(
        "INSERT INTO offers (id, advertiser_id, name, offer_url, requires_approval, payout_model, payout, revenue_model, revenue)
         VALUES ({offer}, 1, 'Capped in Redis', 'https://acme.example/?t={{transaction_id}}', false, 'flat', 1, 'flat', 2);
         INSERT INTO offer_caps (offer_id, metric, period, cap_limit, hard) VALUES ({offer}, 'conversions', 'day', 5, true);"
    ))
    .await;
    // Redis behind a proxy that can go silent: the cap reservation then waits
    // for the Redis timeout, long after the advertiser has given up.
    let redis = PgProxy::start(SocketAddr::from(([127, 0, 0, 1], 6379))).await;
    let mut config = config_for(Some(&db));
    config.redis_url = Some(format!("redis://127.0.0.1:{}", redis.port));
    config.redis_timeout_ms = 1_500;
    let server = start(config).await;
    let addr = server.addr;
    wait_ready(addr).await;
    let client = client();
    let tid = click(&client, addr, offer, 1, "hangup").await;

    redis.hang();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let gave_up = impatient
        .get(format!("http://{addr}/postback?transaction_id={tid}"))
        .send()
        .await;
    assert!(
        gave_up.is_err_and(|e| e.is_timeout()),
        "the postback should still be judging when the advertiser hangs up"
    );
    // The judgement goes on without the advertiser (Redis times out, the local
    // fallback admits it) and the conversion is queued.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    redis.restore();

    let (status, body) = postback(&client, addr, &format!("transaction_id={tid}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reason"], "DUPLICATE", "{body}");
    let approved = format!(
        "SELECT count(*) FROM conversions WHERE transaction_id = '{tid}' AND status = 'approved'"
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            db.count(&approved).await == 1
        })
        .await,
        "the conversion judged after the advertiser hung up was never written"
    );
    server.shutdown().await.unwrap();
    assert_eq!(db.count(&approved).await, 1);
    db.drop_database().await;
}
