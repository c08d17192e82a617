//! The KPI scheduler (issue 11, part 3): runs read the hourly rollups, are
//! recorded once per due link under an advisory lock, and `kpi run --dry-run`
//! records nothing.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use switchyard::catalog::Catalog;
use switchyard::catalog::money::Micros;
use switchyard::kpi::scheduler::{self, Outcome};
use switchyard::kpi::show;

use crate::common::TestDb;

/// Two KPI links (7 and 8) over offers 1 and 2, offer 3 as link 7's Catch All,
/// reset 30 hours ago (after the offers, whose insert resets the links).
const NETWORK: &str = "
    INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
    INSERT INTO offers (id, advertiser_id, name, offer_url) VALUES
        (1, 1, 'A', 'https://a.example/'), (2, 1, 'B', 'https://b.example/'),
        (3, 1, 'C', 'https://c.example/');
    INSERT INTO smart_links (id, name, mechanism, kpi_min_clicks, kpi_frequency_hours, kpi_lookback_hours)
        VALUES (7, 'Due', 'kpi', 10, 6, 24), (8, 'Other', 'kpi', 10, 6, 24);
    INSERT INTO smart_link_offers (smart_link_id, offer_id, is_catch_all) VALUES
        (7, 1, false), (7, 2, false), (7, 3, true), (8, 1, false), (8, 2, false);
    UPDATE smart_links SET optimization_reset_at = now() - interval '30 hours';
";

async fn setup() -> (TestDb, Arc<Catalog>, DateTime<Utc>) {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let catalog = Arc::new(show::load_catalog(&db.pool).await.unwrap());
    (db, catalog, Utc::now())
}

async fn runs(pool: &PgPool, link: i64) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM smart_link_kpi_runs WHERE smart_link_id = $1")
        .bind(link)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Rollup rows of link 7, `hours_ago` whole hours before the current hour.
async fn rollup(
    db: &TestDb,
    now: DateTime<Utc>,
    hours_ago: i64,
    offer: i64,
    figures: (i64, i64, i64, i64, &str, &str),
) {
    let hour = now.duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(hours_ago);
    sqlx::query(
        "INSERT INTO smart_link_offer_hourly
            (smart_link_id, offer_id, hour, clicks, unique_clicks, conversions, events, payout, revenue)
         VALUES (7, $1, $2, $3, $4, $5, $6, $7::numeric, $8::numeric)",
    )
    .bind(offer)
    .bind(hour)
    .bind(figures.0)
    .bind(figures.1)
    .bind(figures.2)
    .bind(figures.3)
    .bind(figures.4)
    .bind(figures.5)
    .execute(&db.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_run_records_the_rollups_of_its_window() {
    let (db, catalog, now) = setup().await;
    rollup(&db, now, 2, 1, (100, 90, 5, 6, "10.5", "20.25")).await;
    rollup(&db, now, 5, 1, (50, 50, 2, 0, "4", "8")).await;
    rollup(&db, now, 3, 2, (80, 80, 1, 1, "2", "4")).await;
    // The Catch All is not a candidate; 26 hours ago is outside the 24 h window.
    rollup(&db, now, 1, 3, (500, 500, 400, 0, "0", "0")).await;
    rollup(&db, now, 26, 1, (1000, 1000, 0, 0, "0", "0")).await;

    let outcomes = scheduler::tick(&db.pool, &catalog, now).await.unwrap();
    assert!(matches!(
        outcomes.as_slice(),
        [(7, Outcome::Ran(_)), (8, Outcome::Ran(_))]
    ));
    assert_eq!(runs(&db.pool, 7).await, 1);

    let (figures, ranking, threshold_met, window_start): (serde_json::Value, Vec<i64>, bool, DateTime<Utc>) =
        sqlx::query_as(
            "SELECT figures, ranking, threshold_met, window_start FROM smart_link_kpi_runs WHERE smart_link_id = 7",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(window_start > now - Duration::hours(25));
    let offer = |id: i64| {
        figures
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["offer_id"] == id)
            .cloned()
            .unwrap()
    };
    let a = offer(1);
    assert_eq!(a["clicks"], 150, "the hour 26 h ago is outside the window");
    assert_eq!(a["unique_clicks"], 140);
    assert_eq!(a["conversions"], 7);
    assert_eq!(a["events"], 6);
    assert_eq!(a["payout"], Micros(14_500_000).to_string());
    assert_eq!(a["revenue"], Micros(28_250_000).to_string());
    let b = offer(2);
    assert_eq!(
        (b["clicks"].clone(), b["conversions"].clone()),
        (80.into(), 1.into())
    );
    assert_eq!(
        figures.as_array().unwrap().len(),
        2,
        "the Catch All is not ranked"
    );
    assert!(threshold_met);
    assert_eq!(ranking, vec![1, 2], "CVR 7/150 beats 1/80");
    db.drop_database().await;
}

#[tokio::test]
async fn kpi_run_dry_run_records_nothing() {
    let (db, _, now) = setup().await;
    rollup(&db, now, 2, 1, (100, 90, 5, 6, "10.5", "20.25")).await;
    let outcomes = show::run_now(&db.pool, Some(7), true).await.unwrap();
    match outcomes.as_slice() {
        [(7, Outcome::Ran(run))] => assert_eq!(run.figures[0]["clicks"], 100),
        other => panic!("expected a computed run, got {other:?}"),
    }
    assert_eq!(runs(&db.pool, 7).await, 0);
    // Without --dry-run the same command records, regardless of frequency.
    show::run_now(&db.pool, Some(7), false).await.unwrap();
    show::run_now(&db.pool, Some(7), false).await.unwrap();
    assert_eq!(runs(&db.pool, 7).await, 2);
    db.drop_database().await;
}

#[tokio::test]
async fn two_instances_never_run_one_link_twice() {
    let (db, catalog, now) = setup().await;
    rollup(&db, now, 2, 1, (100, 90, 5, 6, "10.5", "20.25")).await;
    let other = PgPoolOptions::new()
        .max_connections(4)
        .connect(&db.url)
        .await
        .unwrap();
    for _ in 0..3 {
        let tasks: Vec<_> = [
            db.pool.clone(),
            other.clone(),
            db.pool.clone(),
            other.clone(),
        ]
        .into_iter()
        .map(|pool| {
            let catalog = catalog.clone();
            tokio::spawn(async move { scheduler::tick(&pool, &catalog, now).await.unwrap() })
        })
        .collect();
        let mut ran = 0;
        for task in tasks {
            ran += task
                .await
                .unwrap()
                .iter()
                .filter(|(id, o)| *id == 7 && matches!(o, Outcome::Ran(_)))
                .count();
        }
        assert!(ran <= 1, "link 7 ran {ran} times in one round");
    }
    assert_eq!(runs(&db.pool, 7).await, 1);
    assert_eq!(runs(&db.pool, 8).await, 1);
    other.close().await;
    db.drop_database().await;
}

#[tokio::test]
async fn the_scheduler_runs_a_due_link_and_not_a_fresh_one() {
    let (db, catalog, now) = setup().await;
    // Link 8 ran 10 minutes ago (after its reset); its frequency is 6 hours.
    sqlx::query(
        "INSERT INTO smart_link_kpi_runs (smart_link_id, ran_at, window_start, window_end, metric,
                                          threshold_met, figures, ranking)
         VALUES (8, $1, $1 - interval '24 hours', $1, 'cvr', false, '[]', '{}')",
    )
    .bind(now - Duration::minutes(10))
    .execute(&db.pool)
    .await
    .unwrap();
    // Link 7 ran once before its reset: that run does not count.
    sqlx::query(
        "INSERT INTO smart_link_kpi_runs (smart_link_id, ran_at, window_start, window_end, metric,
                                          threshold_met, figures, ranking)
         VALUES (7, $1, $1 - interval '24 hours', $1, 'cvr', false, '[]', '{}')",
    )
    .bind(now - Duration::hours(31))
    .execute(&db.pool)
    .await
    .unwrap();

    let outcomes = scheduler::tick(&db.pool, &catalog, now).await.unwrap();
    let ran: Vec<i64> = outcomes.iter().map(|(id, _)| *id).collect();
    assert_eq!(ran, vec![7]);
    assert_eq!(runs(&db.pool, 7).await, 2);
    assert_eq!(runs(&db.pool, 8).await, 1);

    // Nothing is due a minute later; both are after their frequency.
    assert!(
        scheduler::tick(&db.pool, &catalog, now + Duration::minutes(1))
            .await
            .unwrap()
            .is_empty()
    );
    let later = scheduler::tick(&db.pool, &catalog, now + Duration::hours(7))
        .await
        .unwrap();
    assert_eq!(
        later.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![7, 8]
    );

    // The overview card reads the latest run and the next one.
    let card = show::overview(&db.pool, 7).await.unwrap();
    assert_eq!(card.runs.len(), 3);
    assert!(card.current.is_some());
    assert!(card.render().contains("smart link 7 (Due)"));
    db.drop_database().await;
}

#[tokio::test]
async fn the_scheduler_task_runs_due_links_and_stops_on_shutdown() {
    let (db, catalog, _) = setup().await;
    let handle = switchyard::catalog::CatalogHandle::new();
    handle.swap(Arc::try_unwrap(catalog).unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = scheduler::spawn(
        db.pool.clone(),
        handle,
        std::time::Duration::from_millis(50),
        stopped,
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while runs(&db.pool, 7).await == 0 || runs(&db.pool, 8).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no run within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("the scheduler stops on shutdown")
        .unwrap();
    // Ticks kept coming every 50 ms, but the links were not due again.
    assert_eq!(runs(&db.pool, 7).await, 1);
    assert_eq!(runs(&db.pool, 8).await, 1);
    db.drop_database().await;
}
