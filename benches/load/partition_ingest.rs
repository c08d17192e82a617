//! Ingest into the partitioned `clicks` (issue 13): batches of 5,000 clicks of
//! today written with `Sink::write`, as the event writer does, into an
//! existing database (`benches/load/partitions.sh` prepares it: migrated,
//! partitions ensured, indexes chosen, history generated). Prints one line:
//! `<rows> rows <rows/s> rows/s <ms> ms/batch`.
//! `cargo run --example partition_ingest -- URL BATCHES ordered|random FIRST`
//! FIRST: the first click number, so that runs against one database never
//! reuse an id.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use sqlx::postgres::PgPoolOptions;
use switchyard::events::{Event, HitKind, HitRecord, Sink};
use switchyard::routing::TransactionId;

const BATCH: u128 = 5_000;

fn click(n: u128, ordered: bool) -> Event {
    let now = Utc::now();
    let mut rng = rand::rng();
    let transaction_id = if ordered {
        TransactionId::new(now, &mut rng)
    } else {
        TransactionId::random(&mut rng)
    };
    let link = [None, Some(1), Some(2), Some(3)][(n % 4) as usize];
    let redirected = !n.is_multiple_of(10);
    Event::Hit(HitRecord {
        kind: HitKind::Click,
        transaction_id,
        created_at: now,
        redirected,
        discard_rule: (!redirected).then(|| "IP_RECENCY".into()),
        discard_detail: None,
        requested_offer_id: link.is_none().then_some(1 + (n % 997) as i64),
        offer_id: redirected.then_some(1 + (n % 997) as i64),
        advertiser_id: Some(1 + (n % 50) as i64),
        partner_id: Some(1 + (n % 1_000) as i64),
        smart_link_id: link,
        subs: [
            Some(format!("s{n}")),
            Some("banner".to_owned()),
            None,
            None,
            None,
        ],
        source_id: None,
        idfa: None,
        gaid: None,
        ip: std::net::IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]),
        user_agent: Arc::from(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
        ),
        country: Some("US".to_owned()),
        is_unique: !n.is_multiple_of(5),
        checks: Vec::new(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or_else(|| anyhow::anyhow!("URL needed"))?;
    let batches: u128 = args.next().map_or(Ok(40), |b| b.parse())?;
    let ordered = args.next().as_deref() != Some("random");
    let first: u128 = args.next().map_or(Ok(0), |f| f.parse())?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await?;
    let sink = Sink::Postgres(pool.clone());
    let batch_of = |b: u128| -> Vec<Event> {
        (first + b * BATCH..first + (b + 1) * BATCH)
            .map(|n| click(n, ordered))
            .collect()
    };
    // Warm-up: staging table, prepared statements, the first rollup rows.
    sink.write(&batch_of(0)).await?;
    let mut spent = std::time::Duration::ZERO;
    for b in 1..=batches {
        let batch = batch_of(b);
        let started = Instant::now();
        sink.write(&batch).await?;
        spent += started.elapsed();
    }
    let rows = batches as f64 * BATCH as f64;
    println!(
        "{rows} rows {:.0} rows/s {:.1} ms/batch",
        rows / spent.as_secs_f64(),
        spent.as_secs_f64() * 1000.0 / batches as f64
    );
    pool.close().await;
    Ok(())
}
