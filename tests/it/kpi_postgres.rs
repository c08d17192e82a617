//! KPI runs reach routing through the catalog snapshot: the loader takes each
//! link's latest run, and only when it ran after the link's last reset.

use chrono::{TimeZone, Utc};
use sqlx::postgres::PgListener;
use switchyard::catalog::{Catalog, KpiOrder, Origin, postgres};
use switchyard::kpi::record::{KpiRunRecord, record};
use switchyard::kpi::window::Window;
use switchyard::kpi::{Figures, KpiSettings, rank};

use crate::common::TestDb;

const NETWORK: &str = "
    INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
    INSERT INTO offers (id, advertiser_id, name, offer_url) VALUES
        (1, 1, 'A', 'https://a.example/'), (2, 1, 'B', 'https://b.example/'),
        (3, 1, 'C', 'https://c.example/');
    INSERT INTO smart_links (id, name, mechanism, kpi_strategy) VALUES (7, 'KPI', 'kpi', 'rank');
    INSERT INTO smart_link_offers (smart_link_id, offer_id) VALUES (7, 1), (7, 2), (7, 3);
    UPDATE smart_links SET optimization_reset_at = '2024-01-01 12:00:00+00' WHERE id = 7;
";

async fn snapshot(db: &TestDb) -> Catalog {
    let source = postgres::load(&db.pool, None).await.unwrap();
    Catalog::build(source, Origin::Postgres, 1).unwrap()
}

/// A rank run at `hour` (2024-01-01, UTC) in which the offers' conversions
/// are `conversions` out of 500 clicks each.
fn run_at(hour: u32, conversions: [u64; 3]) -> KpiRunRecord {
    let ran_at = Utc.with_ymd_and_hms(2024, 1, 1, hour, 0, 0).unwrap();
    let offers: Vec<(i64, Figures)> = (1..=3)
        .zip(conversions)
        .map(|(id, c)| {
            (
                id,
                Figures {
                    clicks: 500,
                    unique_clicks: 500,
                    conversions: c,
                    ..Figures::default()
                },
            )
        })
        .collect();
    let result = rank(&KpiSettings::default(), &offers);
    let window = Window {
        start: ran_at - chrono::Duration::hours(24),
        end: ran_at,
    };
    record(7, ran_at, window, &result, None)
}

async fn insert(db: &TestDb, run: &KpiRunRecord) {
    let mut conn = db.pool.acquire().await.unwrap();
    switchyard::kpi::scheduler::insert(&mut conn, run)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_loader_takes_the_latest_run_only_when_it_ran_after_the_reset() {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    assert_eq!(snapshot(&db).await.smart_link(7).unwrap().kpi_order, None);

    // Ranks C, B, A, but ran before the reset.
    insert(&db, &run_at(11, [1, 2, 3])).await;
    assert_eq!(
        snapshot(&db).await.smart_link(7).unwrap().kpi_order,
        None,
        "a run from before the reset must not steer traffic"
    );

    // After the reset: B, C, A at 13:00, then A, B, C at 14:00 (the latest),
    // inserted out of order.
    insert(&db, &run_at(14, [9, 5, 1])).await;
    insert(&db, &run_at(13, [1, 9, 5])).await;
    let catalog = snapshot(&db).await;
    let link = catalog.smart_link(7).unwrap();
    assert_eq!(link.kpi_order, Some(KpiOrder::Ranked(vec![0, 1, 2])));

    // A reset after the latest run puts the link back to an even spread.
    db.exec("UPDATE smart_links SET optimization_reset_at = '2024-01-01 15:00:00+00' WHERE id = 7")
        .await;
    assert_eq!(snapshot(&db).await.smart_link(7).unwrap().kpi_order, None);

    let stored: (serde_json::Value, bool) = sqlx::query_as(
        "SELECT figures, ranking_changed FROM smart_link_kpi_runs ORDER BY ran_at DESC LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stored.0[0]["conversions"], 9);
    assert_eq!(stored.0[0]["rank"], 1);
    assert!(stored.1);
    db.drop_database().await;
}

#[tokio::test]
async fn inserting_a_run_notifies_every_instance_to_reload() {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let mut listener = PgListener::connect(&db.url).await.unwrap();
    listener
        .listen(switchyard::catalog::reload::CHANNEL)
        .await
        .unwrap();
    insert(&db, &run_at(13, [1, 9, 5])).await;
    let notification = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
        .await
        .expect("a NOTIFY within 5 s")
        .unwrap();
    assert_eq!(notification.payload(), "smart_link_kpi_runs");
    drop(listener);
    db.drop_database().await;
}
