//! Scans in Postgres (`offer_url_scans`, migration 0015): which offers are due,
//! and recording one scan with its next due time.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::outcome::{ScanError, ScanResult};
use super::walk::Walk;

/// The first key of the advisory lock (`pg_try_advisory_xact_lock(int, int)`):
/// "SCN1", so no other lock user of the database collides with scans.
pub const LOCK_CLASS: i32 = 0x5343_4E31;

/// An offer as the scanner reads it: straight from `offers`, so a URL edited a
/// moment ago is scanned even before this instance's snapshot has it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScanTarget {
    pub id: i64,
    pub advertiser_id: i64,
    pub offer_url: String,
}

/// Active offers of active advertisers whose latest scan is missing, of
/// another URL, or past its `next_scan_at`. Offers whose URL changed first,
/// then never scanned, then the longest overdue.
const DUE_SQL: &str = "
    SELECT o.id, o.advertiser_id, o.offer_url
    FROM offers o
    JOIN advertisers a ON a.id = o.advertiser_id
    LEFT JOIN LATERAL (
        SELECT s.offer_url, s.next_scan_at FROM offer_url_scans s
        WHERE s.offer_id = o.id
        ORDER BY s.scanned_at DESC, s.id DESC LIMIT 1
    ) last ON true
    WHERE o.status = 'active' AND a.status = 'active'
      AND ($2::int8 IS NULL OR o.id = $2)
      AND (last.offer_url IS DISTINCT FROM o.offer_url OR last.next_scan_at <= $1)
    ORDER BY (last.offer_url IS NOT NULL AND last.offer_url <> o.offer_url) DESC,
             last.next_scan_at NULLS FIRST, o.id";

pub async fn due(
    pool: &PgPool,
    now: DateTime<Utc>,
    only: Option<i64>,
) -> Result<Vec<ScanTarget>, sqlx::Error> {
    sqlx::query_as(DUE_SQL)
        .bind(now)
        .bind(only)
        .fetch_all(pool)
        .await
}

/// Every active offer (of an active advertiser), due or not: `scan --all`.
pub async fn active(pool: &PgPool, only: Option<i64>) -> Result<Vec<ScanTarget>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.id, o.advertiser_id, o.offer_url FROM offers o
         JOIN advertisers a ON a.id = o.advertiser_id
         WHERE o.status = 'active' AND a.status = 'active' AND ($1::int8 IS NULL OR o.id = $1)
         ORDER BY o.id",
    )
    .bind(only)
    .fetch_all(pool)
    .await
}

/// Takes the offer's scan lock for the transaction; `false` when another
/// instance is scanning it now.
pub async fn lock(tx: &mut PgConnection, offer_id: i64) -> Result<bool, sqlx::Error> {
    // Truncated to the second int4 key: offers whose ids differ by a multiple
    // of 2^32 share a lock, which only delays one of them.
    sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(offer_id as i32)
        .fetch_one(tx)
        .await
}

/// Whether the offer is still due, read under its lock: another instance may
/// have just committed a scan.
pub async fn still_due(
    tx: &mut PgConnection,
    offer_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let due: Option<i64> = sqlx::query_scalar(DUE_SQL)
        .bind(now)
        .bind(offer_id)
        .fetch_optional(tx)
        .await?;
    Ok(due.is_some())
}

/// The latest scan of an offer, as far as the snapshot and the backoff care.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LastScanRow {
    pub offer_url: String,
    pub result: ScanResult,
    pub reached_tracker: bool,
    pub error: Option<String>,
    pub failures: i32,
}

pub async fn last(
    tx: &mut PgConnection,
    offer_id: i64,
) -> Result<Option<LastScanRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT offer_url, result, reached_tracker, error, failures FROM offer_url_scans
         WHERE offer_id = $1 ORDER BY scanned_at DESC, id DESC LIMIT 1",
    )
    .bind(offer_id)
    .fetch_optional(tx)
    .await
}

/// One scan as stored.
#[derive(Debug, Clone)]
pub struct ScanRecord<'a> {
    pub target: &'a ScanTarget,
    pub scanned_url: &'a str,
    pub walk: &'a Walk,
    pub failures: i32,
    pub scanned_at: DateTime<Utc>,
    pub next_scan_at: DateTime<Utc>,
}

pub async fn insert(tx: &mut PgConnection, scan: &ScanRecord<'_>) -> Result<(), sqlx::Error> {
    let walk = scan.walk;
    sqlx::query(
        "INSERT INTO offer_url_scans (offer_id, offer_url, scanned_url, result, reached_tracker,
             final_url, hops, error, detail, chain, failures, duration_ms, scanned_at, next_scan_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(scan.target.id)
    .bind(&scan.target.offer_url)
    .bind(scan.scanned_url)
    .bind(walk.result)
    .bind(walk.reached_tracker)
    .bind(&walk.final_url)
    .bind(i32::try_from(walk.hops).unwrap_or(i32::MAX))
    .bind(walk.error.map(ScanError::as_str))
    .bind(&walk.detail)
    .bind(&walk.chain)
    .bind(scan.failures)
    .bind(i32::try_from(walk.duration.as_millis()).unwrap_or(i32::MAX))
    .bind(scan.scanned_at)
    .bind(scan.next_scan_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// Reloads every instance's snapshot, like a catalog edit: only when a scan
/// changes what the rules read, so routine rescans cost no reloads.
pub async fn notify_catalog(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, 'offer_url_scans')")
        .bind(crate::catalog::reload::CHANNEL)
        .execute(tx)
        .await?;
    Ok(())
}
