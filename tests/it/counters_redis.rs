//! Against the real Redis on 127.0.0.1:6379. Every test uses its own random
//! key prefix so parallel and repeated runs never see each other's keys.

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard::counters::{CounterStore, CounterStoreConfig, Refused, Reservation};

const REDIS: &str = "redis://127.0.0.1:6379";

fn config(url: &str) -> CounterStoreConfig {
    CounterStoreConfig {
        redis_url: Some(url.to_owned()),
        key_prefix: format!("sy-test-{:016x}:", rand::random::<u64>()),
        // Generous so a loaded CI machine doesn't turn into fallbacks.
        timeout: Duration::from_millis(500),
        ..CounterStoreConfig::default()
    }
}

async fn store() -> Arc<CounterStore> {
    Arc::new(
        CounterStore::connect(&config(REDIS))
            .await
            .expect("valid redis url"),
    )
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn cap(key: &str, limit: i64) -> Reservation {
    Reservation::Cap {
        key: key.into(),
        amount: 1,
        limit: Some(limit),
        expires_at: Some(now() + TimeDelta::minutes(5)),
    }
}

async fn race(
    store: &Arc<CounterStore>,
    tasks: usize,
    tries: usize,
    make: fn() -> Vec<Reservation>,
) -> usize {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let mut admitted = 0;
                for _ in 0..tries {
                    if store.reserve(&make(), now()).await.is_ok() {
                        admitted += 1;
                    }
                }
                admitted
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await.expect("task");
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_tasks_admit_exactly_the_cap_on_one_counter() {
    let store = store().await;
    let admitted = race(&store, 16, 20, || vec![cap("offer", 50)]).await;
    assert_eq!(admitted, 50);
    assert_eq!(store.current(&"offer".into(), now()).await, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_tasks_never_exceed_any_of_several_caps() {
    let store = store().await;
    let admitted = race(&store, 16, 20, || {
        vec![cap("offer", 60), cap("partner", 30), cap("offer", 60)]
    })
    .await;
    // The script is atomic, so unlike local counters nothing is lost to
    // rollbacks: the tightest cap is met exactly.
    assert_eq!(admitted, 30);
    assert_eq!(store.current(&"partner".into(), now()).await, 30);
    assert_eq!(store.current(&"offer".into(), now()).await, 60);
}

#[tokio::test]
async fn refusal_applies_nothing() {
    let store = store().await;
    store
        .add(
            &"full".into(),
            3,
            Some(now() + TimeDelta::minutes(5)),
            now(),
        )
        .await;
    let reservations = [
        cap("free", 10),
        Reservation::Recency {
            key: "seen".into(),
            ttl: Duration::from_secs(60),
        },
        Reservation::RateLimit {
            key: "rate".into(),
            limit: 5,
            window: Duration::from_secs(60),
        },
        cap("full", 3),
    ];
    assert_eq!(
        store.reserve(&reservations, now()).await,
        Err(Refused { index: 3 })
    );
    for key in ["free", "seen", "rate"] {
        assert_eq!(store.current(&key.into(), now()).await, 0, "{key}");
    }
    assert_eq!(store.current(&"full".into(), now()).await, 3);
}

#[tokio::test]
async fn recency_refuses_within_ttl_then_admits() {
    let store = store().await;
    let r = [Reservation::Recency {
        key: "ip".into(),
        ttl: Duration::from_millis(300),
    }];
    assert!(store.reserve(&r, now()).await.is_ok());
    assert!(store.reserve(&r, now()).await.is_err());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(store.reserve(&r, now()).await.is_err());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(store.reserve(&r, now()).await.is_ok());
}

#[tokio::test]
async fn rate_limit_window_starts_at_first_hit() {
    let store = store().await;
    let r = [Reservation::RateLimit {
        key: "ip".into(),
        limit: 2,
        window: Duration::from_millis(400),
    }];
    assert!(store.reserve(&r, now()).await.is_ok());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(store.reserve(&r, now()).await.is_ok());
    assert!(store.reserve(&r, now()).await.is_err());
    // 400 ms after the FIRST hit the window is over, although the second
    // hit was only 200 ms ago.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(store.reserve(&r, now()).await.is_ok());
    assert!(store.reserve(&r, now()).await.is_ok());
    assert!(store.reserve(&r, now()).await.is_err());
}

#[tokio::test]
async fn cap_key_expires_at_period_end() {
    let store = store().await;
    let r = [Reservation::Cap {
        key: "hourly".into(),
        amount: 1,
        limit: Some(1),
        expires_at: Some(now() + TimeDelta::milliseconds(300)),
    }];
    assert!(store.reserve(&r, now()).await.is_ok());
    assert!(store.reserve(&r, now()).await.is_err());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.current(&"hourly".into(), now()).await, 0);
}

#[tokio::test]
async fn restore_raises_but_never_lowers_and_keeps_expiry() {
    let store = store().await;
    let expires = Some(now() + TimeDelta::milliseconds(300));
    store.add(&"c".into(), 7, expires, now()).await;
    store.restore(&"c".into(), 5, expires, now()).await;
    assert_eq!(store.current(&"c".into(), now()).await, 7);
    store.restore(&"c".into(), 9, expires, now()).await;
    assert_eq!(store.current(&"c".into(), now()).await, 9);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.current(&"c".into(), now()).await, 0);
}

#[tokio::test]
async fn soft_cap_money_counts_exactly_in_micro_units() {
    let store = store().await;
    let payout = Reservation::Cap {
        key: "payout".into(),
        amount: 1_250_000,
        limit: None,
        expires_at: None,
    };
    for _ in 0..3 {
        assert!(
            store
                .reserve(std::slice::from_ref(&payout), now())
                .await
                .is_ok()
        );
    }
    assert_eq!(store.current(&"payout".into(), now()).await, 3_750_000);
    // Totals must not be left behind in the shared Redis by test runs.
    store
        .restore(
            &"payout".into(),
            0,
            Some(now() + TimeDelta::seconds(1)),
            now(),
        )
        .await;
}

#[tokio::test]
async fn unreachable_redis_falls_back_to_local_without_hanging() {
    let mut cfg = config("redis://127.0.0.1:1");
    cfg.timeout = Duration::from_millis(50);
    let started = Instant::now();
    let store = CounterStore::connect(&cfg).await.expect("valid redis url");
    let r = [cap("offer", 2)];
    assert!(store.reserve(&r, now()).await.is_ok());
    assert!(store.reserve(&r, now()).await.is_ok());
    assert!(store.reserve(&r, now()).await.is_err());
    assert_eq!(store.current(&"offer".into(), now()).await, 2);
    assert_eq!(store.local().current(&"offer".into(), now()), 2);
    // Only the first call paid for trying Redis; the rest skipped it, and
    // every one of them counts as a fallback.
    assert_eq!(store.fallback_count(), 4);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn silent_redis_times_out_and_falls_back() {
    // Accepts connections and never answers: the worst kind of outage.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let _server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut cfg = config(&format!("redis://{addr}"));
    cfg.timeout = Duration::from_millis(50);
    let store = CounterStore::connect(&cfg).await.expect("valid redis url");
    let started = Instant::now();
    let r = [Reservation::Recency {
        key: "ip".into(),
        ttl: Duration::from_secs(60),
    }];
    assert!(store.reserve(&r, now()).await.is_ok());
    assert!(store.reserve(&r, now()).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn healthy_redis_serves_everything_and_local_stays_unused() {
    let store = store().await;
    store.add(&"k".into(), 1, None, now()).await;
    assert!(store.reserve(&[cap("k", 5)], now()).await.is_ok());
    assert_eq!(store.current(&"k".into(), now()).await, 2);
    assert_eq!(store.local().current(&"k".into(), now()), 0);
    assert_eq!(store.fallback_count(), 0);
    store
        .restore(&"k".into(), 0, Some(now() + TimeDelta::seconds(1)), now())
        .await;
}
