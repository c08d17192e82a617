//! The event writer's cost per batch: batches of 5,000 redirected clicks (on
//! 3 smart links, direct too, 40 offers, 20 partners, this hour) written with
//! `Sink::write` into a fresh database, as the writer does. Prints clicks/s.
//! `benches/load/rollup_cost.sh` runs it on this tree and on a tree without
//! rollups, one after the other, to give the rollups' share of the writer.
//! `cargo run --example writer_cost -- [ADMIN_URL] [BATCHES]`

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use sqlx::postgres::PgPoolOptions;
use switchyard::events::{Event, HitKind, HitRecord, Sink};
use switchyard::routing::TransactionId;

const BATCH: usize = 5_000;

fn click(n: u128) -> Event {
    let link = [None, Some(1), Some(2), Some(3)][(n % 4) as usize];
    Event::Hit(HitRecord {
        kind: HitKind::Click,
        transaction_id: TransactionId(n),
        created_at: Utc::now(),
        redirected: true,
        discard_rule: None,
        discard_detail: None,
        requested_offer_id: None,
        offer_id: Some(1 + (n % 40) as i64),
        advertiser_id: Some(1),
        partner_id: Some(1 + (n % 20) as i64),
        smart_link_id: link,
        subs: [Some(format!("sub{n}")), None, None, None, None],
        source_id: None,
        idfa: None,
        gaid: None,
        ip: "192.0.2.1".parse().unwrap(),
        user_agent: Arc::from("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36"),
        country: Some("US".to_owned()),
        is_unique: !n.is_multiple_of(5),
        checks: Vec::new(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let admin = args
        .next()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let batches: u128 = args.next().map_or(Ok(40), |b| b.parse())?;
    let name = format!("switchyard_writer_cost_{}", std::process::id());
    let server = PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&server)
        .await?;
    let url = format!("{}/{name}", admin.rsplit_once('/').map_or("", |(s, _)| s));
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await?;
    switchyard::app::MIGRATOR.run(&pool).await?;
    let sink = Sink::Postgres(pool.clone());
    // Warm-up: staging tables, prepared statements, the first rollup rows.
    sink.write(&(0..BATCH as u128).map(click).collect::<Vec<_>>())
        .await?;
    let mut spent = std::time::Duration::ZERO;
    for b in 1..=batches {
        let batch: Vec<Event> = (b * BATCH as u128..(b + 1) * BATCH as u128)
            .map(click)
            .collect();
        let started = Instant::now();
        sink.write(&batch).await?;
        spent += started.elapsed();
    }
    let rows = batches as f64 * BATCH as f64;
    println!(
        "{} clicks in batches of {BATCH}: {:.0} clicks/s ({:.1} ms a batch)",
        rows,
        rows / spent.as_secs_f64(),
        spent.as_secs_f64() * 1000.0 / batches as f64
    );
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&server)
    .await?;
    Ok(())
}
