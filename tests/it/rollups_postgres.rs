//! Hourly rollups (docs/ROLLUPS.md): after any mix of writes (retried batches,
//! spill replays, dead-lettered rows, rebuilds running alongside the writer)
//! they equal what the raw tables say, and what the events sent say.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use switchyard::catalog::money::Micros;
use switchyard::events::{
    Attribution, ConversionEventRecord, ConversionRecord, ConversionStatus, Event, HitKind,
    HitRecord, Sink, SpillFile, WriterSettings, spawn_writer,
};
use switchyard::routing::TransactionId;

use crate::common::*;
use crate::pg_proxy::PgProxy;

/// Smart link, offer, hour, clicks, unique clicks, conversions, events, payout, revenue.
type LinkRow = (i64, i64, DateTime<Utc>, i64, i64, i64, i64, String, String);
/// Offer, partner, hour, and the same figures.
type PartnerRow = LinkRow;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    clicks: i64,
    unique_clicks: i64,
    conversions: i64,
    events: i64,
    payout: i64,
    revenue: i64,
}

fn base_hour() -> DateTime<Utc> {
    Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap() - TimeDelta::hours(6)
}

pub(crate) fn click(
    n: u128,
    at: DateTime<Utc>,
    link: Option<i64>,
    offer: i64,
    partner: i64,
) -> HitRecord {
    HitRecord {
        kind: HitKind::Click,
        transaction_id: TransactionId(n),
        created_at: at,
        redirected: true,
        discard_rule: None,
        discard_detail: None,
        requested_offer_id: if link.is_some() { None } else { Some(offer) },
        offer_id: Some(offer),
        advertiser_id: Some(1),
        partner_id: Some(partner),
        smart_link_id: link,
        subs: Default::default(),
        source_id: None,
        idfa: None,
        gaid: None,
        ip: "192.0.2.1".parse().unwrap(),
        user_agent: Arc::from("ua"),
        country: Some("US".to_owned()),
        is_unique: !n.is_multiple_of(3),
        checks: Vec::new(),
    }
}

fn attribution(link: Option<i64>, offer: i64, partner: i64) -> Attribution {
    Attribution {
        offer_id: Some(offer),
        advertiser_id: Some(1),
        partner_id: Some(partner),
        smart_link_id: link,
    }
}

fn conversion(n: u128, at: DateTime<Utc>, who: Attribution, approved: bool) -> ConversionRecord {
    ConversionRecord {
        conversion_id: format!("{n:032x}"),
        created_at: at,
        transaction_id: TransactionId(n),
        status: if approved {
            ConversionStatus::Approved
        } else {
            ConversionStatus::Rejected
        },
        reject_reason: (!approved).then(|| "DUPLICATE".to_owned()),
        attribution: who,
        amount: None,
        // Four decimals, as numeric(14,4) stores them.
        payout: Micros(1_234_500 + (n % 7) as i64 * 100),
        revenue: Micros(2_000_000 + (n % 5) as i64 * 100),
        order_id: None,
        adv: Default::default(),
    }
}

fn conversion_event(
    n: u128,
    at: DateTime<Utc>,
    who: Attribution,
    approved: bool,
) -> ConversionEventRecord {
    ConversionEventRecord {
        event_id: format!("{n:032x}"),
        created_at: at,
        transaction_id: TransactionId(n),
        adv_event_id: "purchase".to_owned(),
        status: if approved {
            ConversionStatus::Approved
        } else {
            ConversionStatus::Rejected
        },
        reject_reason: (!approved).then(|| "OUTSIDE_WINDOW".to_owned()),
        attribution: who,
        amount: None,
        payout: Micros((n % 3) as i64 * 500_000),
        revenue: Micros((n % 4) as i64 * 250_000),
    }
}

/// `n` events from id `first` on, spread over five hours from `start`: clicks
/// direct and through two smart links, on three offers and two partners,
/// unique and not, redirected and discarded; conversions and events approved
/// and rejected, each under its click's link and offer, some in a later hour.
fn mixed_load(first: u128, n: u128, start: DateTime<Utc>) -> Vec<Event> {
    let span: u128 = 5 * 3600;
    (first..first + n)
        .map(|i| {
            let at = start + TimeDelta::seconds((i * 7919 % span) as i64);
            let link = [None, Some(7), Some(8)][(i % 3) as usize];
            let offer = 1 + (i % 4 % 3) as i64;
            let partner = 1 + (i % 2) as i64;
            let who = attribution(link, offer, partner);
            match i % 10 {
                0..=4 => Event::Hit(click(i, at, link, offer, partner)),
                5 => {
                    let mut hit = click(i, at, link, offer, partner);
                    hit.redirected = false;
                    hit.offer_id = None;
                    hit.discard_rule = Some("IP_RECENCY".into());
                    Event::Hit(hit)
                }
                6 | 7 => {
                    Event::Conversion(conversion(i, at, who, i % 10 == 6 || i.is_multiple_of(4)))
                }
                _ => Event::ConversionEvent(conversion_event(i, at, who, i % 10 == 8)),
            }
        })
        .collect()
}

/// What the events say the rollups hold in total, each event counted once.
fn totals(events: &[Event]) -> Totals {
    let mut seen = std::collections::HashSet::new();
    let mut t = Totals::default();
    for event in events {
        if !seen.insert(event.key()) {
            continue;
        }
        match event {
            Event::Hit(hit) if hit.redirected => {
                t.clicks += 1;
                t.unique_clicks += i64::from(hit.is_unique);
            }
            Event::Conversion(c) if c.status == ConversionStatus::Approved => {
                t.conversions += 1;
                t.payout += c.payout.0;
                t.revenue += c.revenue.0;
            }
            Event::ConversionEvent(e) if e.status == ConversionStatus::Approved => {
                t.events += 1;
                t.payout += e.payout.0;
                t.revenue += e.revenue.0;
            }
            _ => {}
        }
    }
    t
}

async fn rollup_totals(db: &TestDb, table: &str) -> Totals {
    let (clicks, unique_clicks, conversions, events, payout, revenue): (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(sum(clicks), 0)::bigint, coalesce(sum(unique_clicks), 0)::bigint,
                coalesce(sum(conversions), 0)::bigint, coalesce(sum(events), 0)::bigint,
                (coalesce(sum(payout), 0) * 1000000)::bigint, (coalesce(sum(revenue), 0) * 1000000)::bigint
         FROM {table}"
    )))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    Totals {
        clicks,
        unique_clicks,
        conversions,
        events,
        payout,
        revenue,
    }
}

const FIGURES: &str = "clicks, unique_clicks, conversions, events, \
                       trim_scale(payout)::text, trim_scale(revenue)::text";

async fn rollups(db: &TestDb) -> (Vec<LinkRow>, Vec<PartnerRow>) {
    let links = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT smart_link_id, offer_id, hour, {FIGURES} FROM smart_link_offer_hourly ORDER BY 1, 2, 3"
    )))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let partners = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT offer_id, partner_id, hour, {FIGURES} FROM offer_partner_hourly ORDER BY 1, 2, 3"
    )))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    (links, partners)
}

/// The rollups computed straight from the raw tables, written independently of
/// the migration's rebuild on purpose.
async fn from_raw(db: &TestDb) -> (Vec<LinkRow>, Vec<PartnerRow>) {
    let raw = |a: &str, b: &str| {
        format!(
            "SELECT {a}, {b}, hour, sum(c)::bigint, sum(u)::bigint, sum(v)::bigint, sum(e)::bigint,
                    trim_scale(sum(p))::text, trim_scale(sum(r))::text
             FROM (
                 SELECT {a}, {b}, date_trunc('hour', created_at, 'UTC') AS hour, count(*) AS c,
                        count(*) FILTER (WHERE is_unique) AS u, 0 AS v, 0 AS e, 0::numeric AS p, 0::numeric AS r
                 FROM clicks WHERE outcome = 'redirected' AND {a} IS NOT NULL AND {b} IS NOT NULL GROUP BY 1, 2, 3
                 UNION ALL
                 SELECT {a}, {b}, date_trunc('hour', created_at, 'UTC'), 0, 0, count(*), 0, sum(payout), sum(revenue)
                 FROM conversions WHERE status = 'approved' AND {a} IS NOT NULL AND {b} IS NOT NULL GROUP BY 1, 2, 3
                 UNION ALL
                 SELECT {a}, {b}, date_trunc('hour', created_at, 'UTC'), 0, 0, 0, count(*), sum(payout), sum(revenue)
                 FROM conversion_events WHERE status = 'approved' AND {a} IS NOT NULL AND {b} IS NOT NULL GROUP BY 1, 2, 3
             ) f GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
    };
    let links = sqlx::query_as(sqlx::AssertSqlSafe(raw("smart_link_id", "offer_id")))
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let partners = sqlx::query_as(sqlx::AssertSqlSafe(raw("offer_id", "partner_id")))
        .fetch_all(&db.pool)
        .await
        .unwrap();
    (links, partners)
}

/// The rollups equal the raw tables, and sum to what `events` say.
async fn assert_counted_once(db: &TestDb, events: &[Event]) {
    let (links, partners) = rollups(db).await;
    let (raw_links, raw_partners) = from_raw(db).await;
    assert!(!links.is_empty() && !partners.is_empty());
    assert_eq!(
        links, raw_links,
        "smart_link_offer_hourly differs from the raw tables"
    );
    assert_eq!(
        partners, raw_partners,
        "offer_partner_hourly differs from the raw tables"
    );
    let expected = totals(events);
    assert_eq!(rollup_totals(db, "offer_partner_hourly").await, expected);
    let linked: Vec<Event> = events
        .iter()
        .filter(|e| match e {
            Event::Hit(h) => h.smart_link_id.is_some(),
            Event::Conversion(c) => c.attribution.smart_link_id.is_some(),
            Event::ConversionEvent(e) => e.attribution.smart_link_id.is_some(),
            _ => false,
        })
        .cloned()
        .collect();
    assert_eq!(
        rollup_totals(db, "smart_link_offer_hourly").await,
        totals(&linked)
    );
}

async fn write_through_writer(sink: Sink, events: &[Event], batch_size: usize) {
    let settings = WriterSettings {
        batch_size,
        flush_interval: Duration::from_millis(20),
        ..WriterSettings::default()
    };
    let (sender, writer) = spawn_writer(sink, settings, None);
    for event in events {
        sender.send(event.clone()).await;
    }
    drop(sender);
    let report = tokio::time::timeout(Duration::from_secs(120), writer)
        .await
        .expect("the writer finishes")
        .unwrap();
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.dead_lettered, 0, "{report:?}");
}

#[tokio::test]
async fn rollups_equal_the_raw_tables_after_a_mixed_load() {
    let db = TestDb::create().await;
    let events = mixed_load(1, 3_000, base_hour());
    write_through_writer(Sink::Postgres(db.pool.clone()), &events, 97).await;
    assert_counted_once(&db, &events).await;
    // The reporting views read the rollups now, with their old meaning.
    assert_eq!(
        db.count("SELECT sum(clicks)::bigint FROM daily_offer_stats")
            .await,
        totals(&events).clicks
    );
    assert_eq!(
        db.count("SELECT sum(conversions)::bigint FROM daily_smart_link_stats")
            .await,
        db.count("SELECT count(*) FROM conversions WHERE status = 'approved' AND smart_link_id IS NOT NULL")
            .await
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_batch_written_twice_counts_once() {
    let db = TestDb::create().await;
    let sink = Sink::Postgres(db.pool.clone());
    let events = mixed_load(1, 1_000, base_hour());
    sink.write(&events).await.unwrap();
    let first = rollups(&db).await;
    // The acknowledgement was lost: the same batch again, then once more with
    // its rows twice over (a retry replayed alongside its spilled copy).
    sink.write(&events).await.unwrap();
    let doubled: Vec<Event> = events.iter().chain(&events).cloned().collect();
    sink.write(&doubled).await.unwrap();
    assert_eq!(
        rollups(&db).await,
        first,
        "a rewritten row was counted again"
    );
    // A batch half old, half new counts the new half only.
    let more = mixed_load(1_001, 1_000, base_hour());
    let mixed: Vec<Event> = events[500..].iter().chain(&more).cloned().collect();
    sink.write(&mixed).await.unwrap();
    let all: Vec<Event> = events.iter().chain(&more).cloned().collect();
    assert_counted_once(&db, &all).await;
    db.drop_database().await;
}

fn spill_dir(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("switchyard-rollups-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn a_spill_replay_counts_once() {
    let db = TestDb::create().await;
    let proxy = PgProxy::start(SocketAddr::from(([127, 0, 0, 1], 5432))).await;
    let written = mixed_load(1, 1_000, base_hour());
    Sink::Postgres(db.pool.clone())
        .write(&written)
        .await
        .unwrap();
    // A previous run wrote these, then spilled them too (the write timed out
    // after Postgres had committed it): the replay meets them again.
    let dir = spill_dir("replay");
    let mut spill = SpillFile::open(&dir).await.unwrap();
    spill.append(&written[..600]).await.unwrap();
    let spill_path = dir.join("events.spill.jsonl");
    let seeded = std::fs::metadata(&spill_path).unwrap().len();

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy(&proxy.url_for(&db.url))
        .unwrap();
    proxy.cut();
    let settings = WriterSettings {
        batch_size: 200,
        flush_interval: Duration::from_millis(20),
        write_timeout: Duration::from_secs(1),
        ..WriterSettings::default()
    };
    let (sender, writer) = spawn_writer(Sink::Postgres(pool), settings, Some(spill));
    // While Postgres is cut: new events, and some old ones again.
    let during = mixed_load(1_001, 1_000, base_hour());
    for event in during.iter().chain(&written[800..]) {
        sender.send(event.clone()).await;
    }
    let spilled = eventually(Duration::from_secs(10), || async {
        std::fs::metadata(&spill_path).map_or(0, |m| m.len()) > seeded
    })
    .await;
    assert!(spilled);
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.restore();
    let raw_rows = || async {
        db.count("SELECT count(*) FROM clicks").await
            + db.count("SELECT count(*) FROM conversions").await
            + db.count("SELECT count(*) FROM conversion_events").await
    };
    let replayed = eventually(Duration::from_secs(30), || async {
        raw_rows().await == 2_000
    })
    .await;
    assert!(
        replayed,
        "the spill file was not replayed: {} rows",
        raw_rows().await
    );
    drop(sender);
    let report = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the writer finishes")
        .unwrap();
    assert!(report.spilled > 0, "{report:?}");
    assert_eq!(report.lost, 0, "{report:?}");
    assert!(
        !spill_path.exists(),
        "the spill file was not fully replayed"
    );
    let all: Vec<Event> = written.iter().chain(&during).cloned().collect();
    assert_eq!(raw_rows().await, 2_000);
    assert_counted_once(&db, &all).await;
    db.drop_database().await;
}

#[tokio::test]
async fn a_dead_lettered_row_leaves_every_other_row_counted_once() {
    let db = TestDb::create().await;
    let good = mixed_load(1, 2_000, base_hour());
    let mut events = good.clone();
    // Refused by Postgres for their data (a NUL byte), in the middle of batches.
    let mut bad_click = click(10_001, base_hour(), Some(7), 1, 1);
    bad_click.subs[0] = Some("nul\0byte".to_owned());
    let mut bad_conversion = conversion(10_002, base_hour(), attribution(Some(7), 1, 1), true);
    bad_conversion.order_id = Some("nul\0byte".to_owned());
    events.insert(333, Event::Hit(bad_click));
    events.insert(1_234, Event::Conversion(bad_conversion));

    let settings = WriterSettings {
        batch_size: 500,
        flush_interval: Duration::from_millis(20),
        ..WriterSettings::default()
    };
    let (sender, writer) = spawn_writer(Sink::Postgres(db.pool.clone()), settings, None);
    for event in &events {
        sender.send(event.clone()).await;
    }
    drop(sender);
    let report = tokio::time::timeout(Duration::from_secs(120), writer)
        .await
        .expect("the writer finishes")
        .unwrap();
    assert_eq!(report.dead_lettered, 2, "{report:?}");
    assert_eq!(report.written, 2_000, "{report:?}");
    assert_counted_once(&db, &good).await;
    db.drop_database().await;
}

async fn rebuild(db: &TestDb, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) {
    switchyard::rollups::rebuild(&db.pool, from, to)
        .await
        .unwrap();
}

#[tokio::test]
async fn rebuild_gives_the_writers_rollups_and_restores_truncated_ones() {
    let db = TestDb::create().await;
    let start = base_hour();
    let events = mixed_load(1, 3_000, start);
    write_through_writer(Sink::Postgres(db.pool.clone()), &events, 250).await;
    let live = rollups(&db).await;

    // Over a range, with bounds inside hours: the same figures.
    rebuild(
        &db,
        Some(start + TimeDelta::minutes(90)),
        Some(start + TimeDelta::minutes(200)),
    )
    .await;
    assert_eq!(rollups(&db).await, live);

    // Lost rollups (a restore of the raw tables only): a range restores its hours.
    db.exec("TRUNCATE smart_link_offer_hourly, offer_partner_hourly")
        .await;
    let (lo, hi) = (start + TimeDelta::hours(1), start + TimeDelta::hours(3));
    rebuild(&db, Some(lo), Some(hi)).await;
    let (links, partners) = rollups(&db).await;
    let in_range = |row: &LinkRow| row.2 >= lo && row.2 < hi;
    assert!(!links.is_empty());
    assert_eq!(
        links,
        live.0
            .iter()
            .filter(|r| in_range(r))
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(
        partners,
        live.1
            .iter()
            .filter(|r| in_range(r))
            .cloned()
            .collect::<Vec<_>>()
    );

    // The command, without a range: everything.
    db.exec("TRUNCATE smart_link_offer_hourly, offer_partner_hourly")
        .await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["rollup", "rebuild", "--database-url", &db.url])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("rollups rebuilt for"), "{stdout}");
    assert_eq!(rollups(&db).await, live);
    assert_counted_once(&db, &events).await;
    db.drop_database().await;
}

#[tokio::test]
async fn rebuilds_running_alongside_the_writer_count_every_row_once() {
    let db = TestDb::create().await;
    // Current hours, where the writer is adding while the rebuild replaces.
    let start = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap() - TimeDelta::hours(4);
    let events = mixed_load(1, 20_000, start);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rebuilds = {
        let pool = db.pool.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                switchyard::rollups::rebuild(&pool, Some(start), Some(start + TimeDelta::hours(6)))
                    .await
                    .unwrap();
                runs += 1;
            }
            runs
        })
    };
    write_through_writer(Sink::Postgres(db.pool.clone()), &events, 500).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let runs = rebuilds.await.unwrap();
    assert!(runs > 0);
    assert_counted_once(&db, &events).await;
    db.drop_database().await;
}
