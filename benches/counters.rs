//! Cost of one hit's reservation: 4 reservations (offer cap, partner cap,
//! IP recency, IP rate limit), in-process and as a Redis round trip.

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use switchyard::counters::{
    CapMetric, CapPeriod, CounterStore, CounterStoreConfig, LocalCounters, Reservation, cap_key,
    rate_key, recency_key,
};

fn hit(ip_seq: u32, now: DateTime<Utc>) -> Vec<Reservation> {
    let tz = chrono_tz::America::New_York;
    let (offer_key, offer_end) = cap_key(12, None, CapMetric::Clicks, CapPeriod::Day, tz, now);
    let (partner_key, partner_end) =
        cap_key(12, Some(3), CapMetric::Clicks, CapPeriod::Day, tz, now);
    // Fresh visitors each time, as in real traffic: recency must admit.
    let ip = IpAddr::V4(Ipv4Addr::from(ip_seq));
    let ttl = Duration::from_secs(60);
    vec![
        Reservation::Cap {
            key: offer_key,
            amount: 1,
            limit: Some(i64::MAX),
            expires_at: offer_end,
        },
        Reservation::Cap {
            key: partner_key,
            amount: 1,
            limit: Some(i64::MAX),
            expires_at: partner_end,
        },
        Reservation::Recency {
            key: recency_key(12, ip, None, ttl),
            ttl,
        },
        Reservation::RateLimit {
            key: rate_key(12, ip, Some("Mozilla/5.0"), ttl),
            limit: 10,
            window: ttl,
        },
    ]
}

fn local(c: &mut Criterion) {
    let counters = LocalCounters::new(None);
    let now: DateTime<Utc> = Utc::now();
    let mut seq = 0u32;
    c.bench_function("local reserve 4 (keys prebuilt)", |b| {
        b.iter_batched(
            || {
                seq = seq.wrapping_add(1);
                hit(seq, now)
            },
            |r| black_box(counters.reserve(&r, now)),
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("build 4 keys", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            black_box(hit(seq, now))
        })
    });
    counters.sweep(now + TimeDelta::days(2));
}

fn redis(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return;
    };
    let config = CounterStoreConfig {
        redis_url: Some("redis://127.0.0.1:6379".to_owned()),
        key_prefix: format!("sy-bench-{:016x}:", rand::random::<u64>()),
        ..CounterStoreConfig::default()
    };
    let Ok(store) = rt.block_on(CounterStore::connect(&config)) else {
        return;
    };
    let now = Utc::now();
    let mut seq = 0u32;
    c.bench_function("redis reserve 4 (round trip)", |b| {
        b.to_async(&rt).iter_batched(
            || {
                seq = seq.wrapping_add(1);
                hit(seq, now)
            },
            |r| {
                let store = &store;
                async move { black_box(store.reserve(&r, now).await) }
            },
            criterion::BatchSize::SmallInput,
        )
    });
    // A bench that silently measured the local fallback would lie.
    assert_eq!(store.fallback_count(), 0, "redis bench fell back to local");
}

criterion_group!(benches, local, redis);
criterion_main!(benches);
