//! A Postgres that is up but slower than the traffic: each write finishes well
//! within `stall_after`, yet fewer events a second get written than arrive.
//! The writer used to hold the difference in memory until `max_pending`, and
//! then handlers waited on the channel (after an outage: 15-20k redirects a
//! second instead of 55-90k, 360 ms answers). Now the excess goes to the spill
//! file and is replayed once Postgres keeps up.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::Utc;
use switchyard::events::{Event, Sink, SpillFile, WriterSettings, spawn_writer};

use crate::common::*;
use crate::conversion_support::NETWORK;
use crate::pg_proxy::PgProxy;
use crate::rollups_postgres::click;

const EVENTS: u128 = 10_000;

#[tokio::test]
async fn a_slow_but_healthy_postgres_never_makes_senders_wait() {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let proxy = PgProxy::start(SocketAddr::from(([127, 0, 0, 1], 5432))).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&proxy.url_for(&db.url))
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("switchyard-slow-sink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let spill = SpillFile::open(&dir).await.unwrap();
    // Each write makes about seven round trips: at 30 ms an answer, a batch of
    // 100 takes some 200 ms (500 events a second), far below `stall_after`.
    let settings = WriterSettings {
        queue_capacity: 2_000,
        batch_size: 100,
        flush_interval: Duration::from_millis(20),
        max_pending: 1_000,
        write_timeout: Duration::from_secs(20),
        stall_after: Duration::from_secs(10),
        ..WriterSettings::default()
    };
    let (sender, writer) = spawn_writer(Sink::Postgres(pool), settings, Some(spill));
    proxy.slow_down(Duration::from_millis(30));

    // 5,000 events a second for two seconds: ten times what the sink takes.
    let now = Utc::now();
    let mut pace = tokio::time::interval(Duration::from_millis(10));
    for first in (0..EVENTS).step_by(50) {
        pace.tick().await;
        for n in first..first + 50 {
            sender.send(Event::Hit(click(n + 1, now, None, 1, 1))).await;
        }
    }
    proxy.slow_down(Duration::ZERO);

    let written = eventually(Duration::from_secs(60), || async {
        db.count("SELECT count(*) FROM clicks").await == EVENTS as i64
    })
    .await;
    drop(sender);
    let report = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the writer finishes")
        .unwrap();
    assert!(written, "not every event reached Postgres: {report:?}");
    assert_eq!(report.waited, 0, "a sender waited: {report:?}");
    assert!(
        report.spilled > 0,
        "the excess should be spilled: {report:?}"
    );
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(
        db.count("SELECT count(DISTINCT transaction_id) FROM clicks")
            .await,
        EVENTS as i64
    );
    let _ = std::fs::remove_dir_all(&dir);
    db.drop_database().await;
}
