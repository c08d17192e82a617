//! Event tables partitioned by day (migration 0013, docs/OPERATIONS.md
//! "Partitions and retention"): an upgrade keeps every stored row findable,
//! a retried batch is written once whichever partition its rows land in, a
//! conversion finds its click in one partition, and old days are dropped while
//! their rollups stay.

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use switchyard::events::{Event, Sink};
use switchyard::partitions::{self, TABLES};
use switchyard::routing::TransactionId;

use crate::common::*;
use crate::conversion_support::{self, NETWORK, OFFER_FLAT};
use crate::rollups_postgres::{assert_counted_once, mixed_load, rollup_totals, totals};

const DAY: TimeDelta = TimeDelta::days(1);

fn today() -> DateTime<Utc> {
    Utc::now().duration_trunc(DAY).unwrap()
}

/// The partition a row of `table` with this key sits in.
async fn partition_of(db: &TestDb, table: &str, key: &str, id: &str) -> Option<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT tableoid::regclass::text FROM {table} WHERE {key} = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await
    .unwrap()
}

/// Read without the bounds: a server may be dropping partitions meanwhile.
async fn partition_names(db: &TestDb, table: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = $1::text::regclass ORDER BY 1",
    )
    .bind(table)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

/// Relations a plan reads, from `EXPLAIN (FORMAT JSON)`.
async fn relations_read(db: &TestDb, sql: &str, tid: &str, at: Option<DateTime<Utc>>) -> usize {
    let explain = format!("EXPLAIN (FORMAT JSON) {sql}");
    let mut query =
        sqlx::query_scalar::<_, serde_json::Value>(sqlx::AssertSqlSafe(explain)).bind(tid);
    if let Some(at) = at {
        query = query.bind(at).bind(at + TimeDelta::milliseconds(1));
    }
    let plan = query.fetch_one(&db.pool).await.unwrap().to_string();
    plan.matches("\"Relation Name\"").count()
}

#[tokio::test]
async fn upgrading_tables_with_rows_keeps_every_row_findable() {
    // The schema before partitioning, with rows written by the old server:
    // random transaction ids, clicks over four days, a converted one.
    let db = TestDb::create_migrated_to(Some(12)).await;
    db.exec(NETWORK).await;
    db.exec(
        "INSERT INTO clicks (transaction_id, created_at, outcome, requested_offer_id, offer_id,
                             advertiser_id, partner_id, ip, user_agent)
         SELECT md5('click' || g), now() - interval '2 days' - g * interval '1 minute', 'redirected',
                1, 1, 1, 1, '192.0.2.1', 'ua'
         FROM generate_series(1, 4000) g;
         INSERT INTO impressions (transaction_id, created_at, outcome, offer_id, partner_id, ip, user_agent)
         SELECT md5('impression' || g), now() - interval '3 days', 'redirected', 1, 1, '192.0.2.1', 'ua'
         FROM generate_series(1, 50) g;
         INSERT INTO conversions (conversion_id, created_at, transaction_id, status, offer_id, partner_id)
         VALUES (md5('conversion'), now() - interval '1 day', md5('click1'), 'approved', 1, 1);
         INSERT INTO conversion_events (event_id, created_at, transaction_id, adv_event_id, status, offer_id)
         VALUES (md5('event'), now() - interval '1 day', md5('click1'), 'purchase', 'approved', 1);",
    )
    .await;
    let before: Vec<i64> = {
        let mut counts = Vec::new();
        for table in TABLES {
            counts.push(db.count(&format!("SELECT count(*) FROM {table}")).await);
        }
        counts
    };

    switchyard::app::MIGRATOR.run(&db.pool).await.unwrap();

    for (table, count) in TABLES.iter().zip(&before) {
        assert_eq!(
            db.count(&format!("SELECT count(*) FROM {table}")).await,
            *count,
            "{table} lost rows"
        );
        assert!(
            partition_names(&db, table)
                .await
                .contains(&format!("{table}_legacy")),
            "{table}: the old table is a partition"
        );
    }
    assert_eq!(
        db.count(
            "SELECT count(*) FROM generate_series(1, 4000) g
             JOIN clicks ON transaction_id = md5('click' || g)"
        )
        .await,
        4000,
        "every old id is found by the id alone"
    );
    // The reporting views read the new tables, old rows included.
    assert_eq!(
        db.count("SELECT sum(accepted)::bigint FROM hits_daily WHERE kind = 'click'")
            .await,
        4000
    );

    // The server finds old clicks for their postbacks (not in its memory: it
    // never saw them), and old conversions for the duplicate check.
    let server = start(config_for(Some(&db))).await;
    wait_ready(server.addr).await;
    let client = client();
    let tid: String = sqlx::query_scalar("SELECT md5('click2')")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let (_, body) =
        conversion_support::postback(&client, server.addr, &format!("transaction_id={tid}")).await;
    assert_eq!(body["status"], "approved", "{body}");
    let converted: String = sqlx::query_scalar("SELECT md5('click1')")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let (_, body) =
        conversion_support::postback(&client, server.addr, &format!("transaction_id={converted}"))
            .await;
    assert_eq!(body["reason"], "DUPLICATE", "{body}");

    // New clicks go to their own day's partition, created at start.
    let todays = partitions::partition_name("clicks", today());
    let created = eventually(Duration::from_secs(30), || async {
        partition_names(&db, "clicks").await.contains(&todays)
    })
    .await;
    assert!(created, "today's partition was created at start");
    let new = conversion_support::click(&client, server.addr, OFFER_FLAT, 1, "after").await;
    let written = eventually(Duration::from_secs(30), || async {
        partition_of(&db, "clicks", "transaction_id", &new)
            .await
            .is_some()
    })
    .await;
    assert!(written);
    assert_eq!(
        partition_of(&db, "clicks", "transaction_id", &new).await,
        Some(todays)
    );
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn a_retried_batch_across_days_is_written_once_and_counted_once() {
    let db = TestDb::create().await;
    let now = Utc::now();
    partitions::ensure(&db.pool, now, 1).await.unwrap();
    // Yesterday has no partition yet: its rows land in the default one.
    let yesterday = today() - DAY;
    let mut events = mixed_load(1, 600, yesterday + TimeDelta::hours(3));
    events.extend(mixed_load(1_001, 600, today()));
    events.extend(mixed_load(2_001, 600, today() + DAY + TimeDelta::hours(1)));
    let sink = Sink::Postgres(db.pool.clone());
    sink.write(&events).await.unwrap();
    let first = rollup_totals(&db, "offer_partner_hourly").await;
    assert_eq!(first, totals(&events));
    assert_eq!(
        partition_of(
            &db,
            "clicks",
            "transaction_id",
            &TransactionId(1).to_string()
        )
        .await,
        Some("clicks_default".to_owned())
    );

    // The acknowledgement was lost: the batch again, and doubled.
    sink.write(&events).await.unwrap();
    let doubled: Vec<Event> = events.iter().chain(&events).cloned().collect();
    sink.write(&doubled).await.unwrap();
    assert_eq!(rollup_totals(&db, "offer_partner_hourly").await, first);

    // Yesterday's partition arrives late: its rows move out of the default
    // partition, and a replay still meets them.
    let report = partitions::ensure(&db.pool, yesterday, 0).await.unwrap();
    assert!(report.moved_rows > 0, "{report:?}");
    assert_eq!(
        partition_of(
            &db,
            "clicks",
            "transaction_id",
            &TransactionId(1).to_string()
        )
        .await,
        Some(partitions::partition_name("clicks", yesterday))
    );
    for table in TABLES {
        assert_eq!(
            db.count(&format!("SELECT count(*) FROM {table}_default"))
                .await,
            0,
            "{table}_default emptied"
        );
    }
    sink.write(&events).await.unwrap();
    let unique: std::collections::HashSet<String> = events.iter().map(|e| e.key()).collect();
    let stored = db
        .count(
            "SELECT (SELECT count(*) FROM clicks) + (SELECT count(*) FROM conversions)
                  + (SELECT count(*) FROM conversion_events)",
        )
        .await;
    assert_eq!(stored, unique.len() as i64, "each event stored once");
    assert_counted_once(&db, &events).await;
    db.drop_database().await;
}

#[tokio::test]
async fn a_conversion_finds_its_click_in_one_partition() {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let now = Utc::now();
    partitions::ensure(&db.pool, now - DAY * 5, 6)
        .await
        .unwrap();
    let at = now - DAY * 2;
    let tid = TransactionId::new(at, &mut rand::rng());
    // A random id from before the upgrade that has the time-ordered layout by
    // chance, naming a time nowhere near its click's.
    let lookalike = TransactionId((0x0fff_ffff_ffffu128 << 80) | (0x7 << 76) | (0b10 << 62) | 42);
    assert!(lookalike.click_time().is_some());
    let mut clicks = Vec::new();
    for (n, id) in [tid, lookalike].into_iter().enumerate() {
        let mut hit = crate::rollups_postgres::click(n as u128, at, None, OFFER_FLAT, 1);
        hit.transaction_id = id;
        hit.requested_offer_id = Some(OFFER_FLAT);
        clicks.push(Event::Hit(hit));
    }
    Sink::Postgres(db.pool.clone())
        .write(&clicks)
        .await
        .unwrap();

    let text = tid.to_string();
    let partitions = partition_names(&db, "clicks").await.len();
    assert!(partitions >= 7, "{partitions}");
    assert_eq!(
        relations_read(
            &db,
            switchyard::conversions::CLICK_AT_SQL,
            &text,
            tid.click_time()
        )
        .await,
        1,
        "the id's time prunes the probe to one partition"
    );
    assert_eq!(
        relations_read(&db, switchyard::conversions::CLICK_SQL, &text, None).await,
        partitions,
        "the id alone probes every partition"
    );

    // Both are attributed by a server that never saw them.
    let server = start(config_for(Some(&db))).await;
    wait_ready(server.addr).await;
    let client = client();
    for id in [tid, lookalike] {
        let (_, body) =
            conversion_support::postback(&client, server.addr, &format!("transaction_id={id}"))
                .await;
        assert_eq!(body["status"], "approved", "{id}: {body}");
    }
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn pruning_drops_old_days_and_keeps_their_rollups() {
    let db = TestDb::create().await;
    let now = Utc::now();
    partitions::ensure(&db.pool, now - DAY * 10, 10)
        .await
        .unwrap();
    let mut events = mixed_load(1, 500, today() - DAY * 9);
    events.extend(mixed_load(1_001, 500, today() - DAY * 5));
    events.extend(mixed_load(2_001, 500, today() - DAY));
    // A day older than any partition: in the default partition.
    events.extend(mixed_load(3_001, 100, today() - DAY * 20));
    Sink::Postgres(db.pool.clone())
        .write(&events)
        .await
        .unwrap();
    let counted = rollup_totals(&db, "offer_partner_hourly").await;
    assert_eq!(counted, totals(&events));

    let report = partitions::prune(&db.pool, now, 3).await.unwrap();
    let horizon = today() - DAY * 3;
    assert_eq!(report.before, Some(horizon));
    assert_eq!(report.dropped.len(), 4 * 7, "{report:?}");
    assert!(report.deleted_rows > 0);
    for table in TABLES {
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM {table} WHERE created_at < '{}'",
                horizon.to_rfc3339()
            ))
            .await,
            0,
            "{table} keeps nothing before the horizon"
        );
    }
    assert!(db.count("SELECT count(*) FROM clicks").await > 0);
    assert_eq!(rollup_totals(&db, "offer_partner_hourly").await, counted);

    // A rebuild of everything recomputes what the raw rows still hold and
    // leaves the pruned hours' figures alone.
    switchyard::rollups::rebuild(&db.pool, None, None)
        .await
        .unwrap();
    assert_eq!(rollup_totals(&db, "offer_partner_hourly").await, counted);
    db.drop_database().await;
}

#[tokio::test]
async fn the_server_keeps_partitions_ahead_and_prunes_on_its_own() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let old = today() - DAY * 40;
    partitions::ensure(&db.pool, old, 0).await.unwrap();
    let old_name = partitions::partition_name("clicks", old);
    assert!(partition_names(&db, "clicks").await.contains(&old_name));

    let mut config = config_for(Some(&db));
    config.partition_days_ahead = 3;
    config.event_retention_days = Some(30);
    let server = start(config).await;
    let ahead = partitions::partition_name("conversion_events", today() + DAY * 3);
    let done = eventually(Duration::from_secs(60), || async {
        partition_names(&db, "conversion_events")
            .await
            .contains(&ahead)
            && !partition_names(&db, "clicks").await.contains(&old_name)
    })
    .await;
    assert!(done, "{:?}", partition_names(&db, "clicks").await);
    let gauge = "switchyard_partitions_covered_until_timestamp_seconds{table=\"clicks\"}";
    let reported = eventually(Duration::from_secs(30), || async {
        metrics_text(&server).await.contains(gauge)
    })
    .await;
    assert!(reported, "{}", metrics_text(&server).await);
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

fn switchyard(db: &TestDb, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env_remove("SWITCHYARD_EVENT_RETENTION_DAYS")
        .env_remove("SWITCHYARD_PARTITION_DAYS_AHEAD")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "switchyard {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_partitions_command_creates_lists_and_prunes() {
    let db = TestDb::create().await;
    let ensured = switchyard(&db, &["partitions", "ensure", "--days-ahead", "2"]);
    assert!(ensured.starts_with("12 partitions created"), "{ensured}");
    let tomorrow = partitions::partition_name("impressions", today() + DAY);
    let listed = switchyard(&db, &["partitions", "list"]);
    assert!(
        listed.contains(&format!(
            "{tomorrow} [{}, {})",
            (today() + DAY).to_rfc3339(),
            (today() + DAY * 2).to_rfc3339()
        )),
        "{listed}"
    );
    assert!(listed.contains("clicks_default DEFAULT"), "{listed}");
    // Keeping no day before today drops nothing made for today onwards.
    let pruned = switchyard(&db, &["partitions", "prune", "--retention-days", "1"]);
    assert!(pruned.contains("0 partitions dropped"), "{pruned}");
    assert_eq!(partition_names(&db, "clicks").await.len(), 4);
    db.drop_database().await;
}
