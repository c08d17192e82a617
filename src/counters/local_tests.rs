use super::*;
use chrono::TimeDelta;
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn t0() -> DateTime<Utc> {
    "2026-11-21T12:00:00Z".parse().expect("test timestamp")
}

fn cap(key: &str, limit: i64) -> Reservation {
    Reservation::Cap {
        key: key.into(),
        amount: 1,
        limit: Some(limit),
        expires_at: Some(t0() + TimeDelta::hours(1)),
    }
}

#[test]
fn racing_threads_admit_exactly_the_cap() {
    const CAP: i64 = 37;
    const THREADS: usize = 8;
    const TRIES: usize = 50;
    let counters = Arc::new(LocalCounters::new(None));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let counters = Arc::clone(&counters);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..TRIES)
                    .filter(|_| counters.reserve(&[cap("c", CAP)], t0()).is_ok())
                    .count()
            })
        })
        .collect();
    let admitted: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(admitted as i64, CAP);
    assert_eq!(counters.current(&"c".into(), t0()), CAP);
}

#[test]
fn racing_multi_reservations_never_exceed_any_cap() {
    let counters = Arc::new(LocalCounters::new(None));
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let counters = Arc::clone(&counters);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..100 {
                    // Alternate the order so rollbacks interleave both ways.
                    let pair = if i % 2 == 0 {
                        [cap("offer", 40), cap("partner", 25)]
                    } else {
                        [cap("partner", 25), cap("offer", 40)]
                    };
                    let _ = counters.reserve(&pair, t0());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    assert_eq!(counters.current(&"partner".into(), t0()), 25);
    assert_eq!(counters.current(&"offer".into(), t0()), 25);
}

#[test]
fn refused_second_reservation_leaves_first_untouched() {
    let counters = LocalCounters::new(None);
    counters.add(&"full".into(), 5, None, t0());
    let reservations = [
        cap("free", 10),
        Reservation::Recency {
            key: "seen".into(),
            ttl: Duration::from_secs(60),
        },
        cap("full", 5),
    ];
    assert_eq!(
        counters.reserve(&reservations, t0()),
        Err(Refused { index: 2 })
    );
    assert_eq!(counters.current(&"free".into(), t0()), 0);
    assert_eq!(counters.current(&"seen".into(), t0()), 0);
    // The rolled-back recency mark must not block the same visitor later.
    assert!(counters.reserve(&reservations[1..2], t0()).is_ok());
}

#[test]
fn soft_cap_counts_past_its_would_be_limit() {
    let counters = LocalCounters::new(None);
    let soft = Reservation::Cap {
        key: "soft".into(),
        amount: 3,
        limit: None,
        expires_at: None,
    };
    for _ in 0..5 {
        assert!(counters.reserve(std::slice::from_ref(&soft), t0()).is_ok());
    }
    assert_eq!(counters.current(&"soft".into(), t0()), 15);
}

#[test]
fn recency_refuses_until_ttl_has_passed() {
    let counters = LocalCounters::new(None);
    let ttl = Duration::from_secs(30);
    let r = [Reservation::Recency {
        key: "ip".into(),
        ttl,
    }];
    assert!(counters.reserve(&r, t0()).is_ok());
    let edge = t0() + TimeDelta::seconds(30);
    assert_eq!(
        counters.reserve(&r, edge - TimeDelta::milliseconds(1)),
        Err(Refused { index: 0 })
    );
    assert!(counters.reserve(&r, edge).is_ok());
    assert!(counters.reserve(&r, edge + TimeDelta::seconds(29)).is_err());
}

#[test]
fn rate_limit_refuses_third_hit_until_window_from_first_hit_ends() {
    let counters = LocalCounters::new(None);
    let r = [Reservation::RateLimit {
        key: "ip".into(),
        limit: 2,
        window: Duration::from_secs(86_400),
    }];
    let day = TimeDelta::days(1);
    assert!(counters.reserve(&r, t0()).is_ok());
    assert!(counters.reserve(&r, t0() + TimeDelta::hours(20)).is_ok());
    assert!(counters.reserve(&r, t0() + TimeDelta::hours(21)).is_err());
    assert!(
        counters
            .reserve(&r, t0() + day - TimeDelta::milliseconds(1))
            .is_err()
    );
    // The window started at the first hit, so it ends 24 h after it, not
    // after the second.
    assert!(counters.reserve(&r, t0() + day).is_ok());
    assert!(counters.reserve(&r, t0() + day).is_ok());
    assert!(counters.reserve(&r, t0() + day).is_err());
}

#[test]
fn cap_counter_expires_at_period_end() {
    let counters = LocalCounters::new(None);
    assert!(counters.reserve(&[cap("c", 1)], t0()).is_ok());
    assert!(counters.reserve(&[cap("c", 1)], t0()).is_err());
    let end = t0() + TimeDelta::hours(1);
    assert_eq!(
        counters.current(&"c".into(), end - TimeDelta::milliseconds(1)),
        1
    );
    assert_eq!(counters.current(&"c".into(), end), 0);
}

#[test]
fn restore_never_lowers_a_counter() {
    let counters = LocalCounters::new(None);
    counters.add(&"c".into(), 7, None, t0());
    counters.restore(&"c".into(), 5, None, t0());
    assert_eq!(counters.current(&"c".into(), t0()), 7);
    counters.restore(&"c".into(), 9, None, t0());
    assert_eq!(counters.current(&"c".into(), t0()), 9);
}

#[test]
fn sweep_frees_expired_entries_only() {
    let counters = LocalCounters::new(None);
    for i in 0..1000 {
        let r = Reservation::Recency {
            key: format!("k{i}").into(),
            ttl: Duration::from_secs(if i < 900 { 10 } else { 100 }),
        };
        assert!(counters.reserve(&[r], t0()).is_ok());
    }
    counters.add(&"total".into(), 1, None, t0());
    assert_eq!(counters.len(), 1001);
    counters.sweep(t0() + TimeDelta::seconds(10));
    assert_eq!(counters.len(), 101);
    assert_eq!(counters.named.len(), 101);
    assert_eq!(
        counters.current(&"total".into(), t0() + TimeDelta::days(999)),
        1
    );
}

#[test]
fn refused_reservation_on_new_key_stores_nothing() {
    let counters = LocalCounters::new(None);
    assert!(counters.reserve(&[cap("zero", 0)], t0()).is_err());
    assert!(counters.is_empty());
}

#[test]
fn full_table_admits_new_keys_without_counting_them() {
    let counters = LocalCounters::new(Some(2));
    assert!(counters.reserve(&[cap("a", 1), cap("b", 1)], t0()).is_ok());
    assert!(counters.reserve(&[cap("c", 1)], t0()).is_ok());
    assert!(counters.reserve(&[cap("c", 1)], t0()).is_ok());
    assert_eq!(counters.len(), 2);
    assert_eq!(counters.current(&"c".into(), t0()), 0);
    // Keys already held keep being enforced.
    assert!(counters.reserve(&[cap("a", 1)], t0()).is_err());
}

#[test]
fn a_refused_cap_rolls_back_the_visitors_marks() {
    let counters = LocalCounters::new(None);
    let ip = "203.0.113.7".parse().expect("test ip");
    let ttl = Duration::from_secs(60);
    let hit = |cap_limit| {
        [
            Reservation::Recency {
                key: crate::counters::recency_key(1, ip, None, ttl),
                ttl,
            },
            Reservation::Recency {
                key: crate::counters::recency_key(1, ip, Some("ua"), ttl),
                ttl,
            },
            Reservation::RateLimit {
                key: crate::counters::rate_key(1, ip, None, ttl),
                limit: 1,
                window: ttl,
            },
            cap("c", cap_limit),
        ]
    };
    assert_eq!(counters.reserve(&hit(0), t0()), Err(Refused { index: 3 }));
    // Nothing the refused hit marked stands in the way of the next one.
    assert!(counters.reserve(&hit(1), t0()).is_ok());
    assert_eq!(counters.reserve(&hit(2), t0()), Err(Refused { index: 0 }));
}
