use super::*;
use crate::counters::slot::Taken;
use crate::counters::{rate_key, recency_key};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);
const T0: i64 = 1_700_000_000_000;

fn ip() -> IpAddr {
    "203.0.113.7".parse().expect("test ip")
}

fn key(key: CounterKey) -> VisitorKey {
    VisitorKey::of(&key).expect("a visitor key")
}

fn recency(ua: Option<&str>) -> VisitorKey {
    key(recency_key(1, ip(), ua, TTL))
}

/// What `LocalCounters` does for a recency reservation.
fn mark(table: &VisitorTable, count: &EntryCount, key: VisitorKey, now_ms: i64) -> bool {
    let expires_at_ms = now_ms + 60_000;
    table
        .update(key, now_ms, count, |slot| {
            if slot.value > 0 {
                return false;
            }
            *slot = Slot {
                value: 1,
                expires_at_ms,
            };
            true
        })
        .is_some()
}

fn add(table: &VisitorTable, count: &EntryCount, key: VisitorKey, now_ms: i64) {
    let admitted = table.update(key, now_ms, count, |slot| {
        if slot.value == 0 {
            slot.expires_at_ms = now_ms + 60_000;
        }
        slot.value += 1;
        true
    });
    assert_eq!(admitted, Some(true));
}

#[test]
fn a_visitors_four_counters_share_one_entry() {
    let (table, count) = (VisitorTable::new(), EntryCount::new(None));
    assert!(mark(&table, &count, recency(None), T0));
    assert!(mark(&table, &count, recency(Some("ua")), T0));
    add(&table, &count, key(rate_key(1, ip(), None, TTL)), T0);
    add(&table, &count, key(rate_key(1, ip(), Some("ua"), TTL)), T0);
    assert_eq!(table.entries(), (1, 0));
    assert_eq!(count.get(), 1);
    assert!(!mark(&table, &count, recency(Some("ua")), T0 + 1));
    assert!(!mark(&table, &count, recency(None), T0 + 1));
    // Another offer is another visitor.
    assert!(mark(
        &table,
        &count,
        key(recency_key(2, ip(), None, TTL)),
        T0
    ));
    assert_eq!(table.entries(), (2, 0));
}

#[test]
fn a_second_user_agent_spills_and_is_enforced_on_its_own() {
    let (table, count) = (VisitorTable::new(), EntryCount::new(None));
    assert!(mark(&table, &count, recency(Some("first")), T0));
    assert!(mark(&table, &count, recency(Some("second")), T0));
    assert_eq!(table.entries(), (1, 1));
    assert!(!mark(&table, &count, recency(Some("first")), T0 + 1));
    assert!(!mark(&table, &count, recency(Some("second")), T0 + 1));
    assert_eq!(table.current(recency(Some("second")), T0 + 1), 1);
    assert_eq!(table.current(recency(Some("third")), T0 + 1), 0);
}

#[test]
fn a_spilled_user_agent_stays_spilled_while_its_mark_lives() {
    let (table, count) = (VisitorTable::new(), EntryCount::new(None));
    assert!(mark(&table, &count, recency(Some("first")), T0));
    // Spilled 30 s later, so it outlives the bound user agent's mark.
    assert!(mark(&table, &count, recency(Some("second")), T0 + 30_000));
    let after_first_expired = T0 + 61_000;
    // Were "second" rebound inline now, its live spilled mark would be lost.
    assert!(!mark(
        &table,
        &count,
        recency(Some("second")),
        after_first_expired
    ));
    assert!(mark(
        &table,
        &count,
        recency(Some("first")),
        after_first_expired
    ));
    // Once nothing spilled can live, a new user agent is taken inline again.
    let all_expired = T0 + 30_000 + 60_000 + 61_000;
    assert!(mark(&table, &count, recency(Some("third")), all_expired));
    assert!(!mark(
        &table,
        &count,
        recency(Some("third")),
        all_expired + 1
    ));
}

#[test]
fn an_entry_outlives_its_spilled_counters_in_a_sweep() {
    let (table, count) = (VisitorTable::new(), EntryCount::new(None));
    assert!(mark(&table, &count, recency(Some("first")), T0));
    assert!(mark(&table, &count, recency(Some("second")), T0 + 30_000));
    assert_eq!(table.sweep(T0 + 61_000), 0, "the spilled mark still lives");
    assert!(!mark(&table, &count, recency(Some("second")), T0 + 62_000));
    assert_eq!(table.sweep(T0 + 91_000), 2);
    assert_eq!(table.entries(), (0, 0));
}

#[test]
fn unmarking_removes_only_the_rolled_back_mark() {
    let (table, count) = (VisitorTable::new(), EntryCount::new(None));
    assert!(mark(&table, &count, recency(Some("first")), T0));
    assert!(mark(&table, &count, recency(Some("second")), T0));
    assert_eq!(count.get(), 2);
    let marked = Taken::Marked {
        expires_at_ms: T0 + 60_000,
    };
    table.take_back(recency(Some("second")), marked, T0, &count);
    table.take_back(recency(Some("first")), marked, T0, &count);
    assert_eq!(count.get(), 1, "the entry waits for its spilled counters");
    assert!(mark(&table, &count, recency(Some("first")), T0 + 1));
    // A mark set by someone else (another expiry) is left alone.
    let other = Taken::Marked {
        expires_at_ms: T0 + 1,
    };
    table.take_back(recency(Some("first")), other, T0 + 1, &count);
    assert!(!mark(&table, &count, recency(Some("first")), T0 + 2));
}

#[test]
fn taking_back_reaches_inline_and_spilled_counters() {
    let (table, count) = (VisitorTable::new(), EntryCount::new(None));
    let inline = key(rate_key(1, ip(), Some("first"), TTL));
    let spilled = key(rate_key(1, ip(), Some("second"), TTL));
    add(&table, &count, inline, T0);
    add(&table, &count, inline, T0);
    add(&table, &count, spilled, T0);
    table.take_back(inline, Taken::Added(1), T0, &count);
    table.take_back(spilled, Taken::Added(1), T0, &count);
    assert_eq!(table.current(inline, T0), 1);
    assert_eq!(table.current(spilled, T0), 0);
}

#[test]
fn a_full_table_admits_new_visitors_without_counting_them() {
    let (table, count) = (VisitorTable::new(), EntryCount::new(Some(1)));
    assert!(mark(&table, &count, recency(None), T0));
    let other = key(recency_key(
        1,
        "198.51.100.1".parse().expect("ip"),
        None,
        TTL,
    ));
    assert_eq!(table.update(other, T0, &count, |_| true), Some(false));
    assert!(mark(&table, &count, other, T0 + 1));
    assert_eq!(table.entries(), (1, 0));
}

fn visit_run(limit: u32) -> Vec<Reservation> {
    vec![
        Reservation::Recency {
            key: recency_key(1, ip(), None, TTL),
            ttl: TTL,
        },
        Reservation::Recency {
            key: recency_key(1, ip(), Some("ua"), TTL),
            ttl: TTL,
        },
        Reservation::RateLimit {
            key: rate_key(1, ip(), None, TTL),
            limit,
            window: TTL,
        },
    ]
}

#[test]
fn a_run_is_one_entry_with_one_user_agent() {
    let mut reservations = visit_run(1);
    reservations.push(Reservation::Recency {
        key: recency_key(1, ip(), Some("other"), TTL),
        ttl: TTL,
    });
    assert_eq!(run_length(&reservations), 3);
    reservations.insert(
        1,
        Reservation::Recency {
            key: recency_key(2, ip(), None, TTL),
            ttl: TTL,
        },
    );
    assert_eq!(run_length(&reservations), 1);
    reservations.insert(
        0,
        Reservation::Recency {
            key: "named".into(),
            ttl: TTL,
        },
    );
    assert_eq!(run_length(&reservations), 0);
}

#[test]
fn a_refused_run_on_a_new_visitor_stores_nothing() {
    let (table, count) = (VisitorTable::new(), EntryCount::new(None));
    assert_eq!(table.reserve(&visit_run(0), T0, &count), Err(2));
    assert_eq!(table.entries(), (0, 0));
    assert_eq!(count.get(), 0);
    let taken = table.reserve(&visit_run(1), T0, &count).expect("admitted");
    assert_eq!(
        taken.as_slice(),
        [
            Taken::Marked {
                expires_at_ms: T0 + 60_000
            },
            Taken::Marked {
                expires_at_ms: T0 + 60_000
            },
            Taken::Added(1),
        ]
    );
    assert_eq!(table.entries(), (1, 0));
}

#[test]
fn a_refused_run_on_a_known_visitor_takes_back_what_it_counted() {
    let (table, count) = (VisitorTable::new(), EntryCount::new(None));
    // The rate limit of 1 is spent by an earlier hit whose marks have expired.
    assert!(table.reserve(&visit_run(1), T0, &count).is_ok());
    let later = T0 + 30_000;
    let run = [
        Reservation::Recency {
            key: recency_key(1, ip(), None, Duration::from_secs(10)),
            ttl: Duration::from_secs(10),
        },
        Reservation::RateLimit {
            key: rate_key(1, ip(), None, TTL),
            limit: 1,
            window: TTL,
        },
    ];
    assert_eq!(table.reserve(&run, later, &count), Err(1));
    let short_mark = key(recency_key(1, ip(), None, Duration::from_secs(10)));
    assert_eq!(
        table.current(short_mark, later),
        0,
        "the mark was taken back"
    );
    assert_eq!(table.current(key(rate_key(1, ip(), None, TTL)), later), 1);
}
