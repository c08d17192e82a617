//! After a restart, cap counters of the current periods are rebuilt from the
//! event tables, so a restart does not reopen a filled daily cap.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{CapMetric, CounterStore, cap_key, period_start};
use crate::catalog::Catalog;

/// Sets every cap counter of `catalog` to what Postgres recorded in the current
/// period (never lowering a counter that is already higher, e.g. in Redis).
/// Failures are logged and skipped: serving with a cold counter beats not serving.
pub async fn restore_caps(
    pool: &PgPool,
    catalog: &Catalog,
    counters: &CounterStore,
    now: DateTime<Utc>,
) {
    let mut restored = 0usize;
    for offer in catalog.offers() {
        for cap in &offer.caps {
            let since =
                period_start(cap.period, offer.timezone, now).unwrap_or(DateTime::<Utc>::MIN_UTC);
            let value = match recorded(pool, offer.id, cap.partner_id, cap.metric, since).await {
                Ok(value) => value,
                Err(error) => {
                    tracing::warn!(offer.id = offer.id, %error, "could not restore a cap counter");
                    continue;
                }
            };
            if value > 0 {
                let (key, expires_at) = cap_key(
                    offer.id,
                    cap.partner_id,
                    cap.metric,
                    cap.period,
                    offer.timezone,
                    now,
                );
                counters.restore(&key, value, expires_at, now).await;
                restored += 1;
            }
        }
    }
    tracing::info!(
        counters.restored = restored,
        "cap counters restored from Postgres"
    );
}

/// Counts in whole units, money in micro-units, as the counters keep them.
async fn recorded(
    pool: &PgPool,
    offer_id: i64,
    partner_id: Option<i64>,
    metric: CapMetric,
    since: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let sql = match metric {
        CapMetric::Clicks => {
            "SELECT count(*)::bigint FROM clicks WHERE offer_id = $1 AND outcome = 'redirected'
             AND created_at >= $2 AND ($3::bigint IS NULL OR partner_id = $3)"
        }
        CapMetric::Impressions => {
            "SELECT count(*)::bigint FROM impressions WHERE offer_id = $1 AND outcome = 'redirected'
             AND created_at >= $2 AND ($3::bigint IS NULL OR partner_id = $3)"
        }
        CapMetric::Conversions => {
            "SELECT count(*)::bigint FROM conversions WHERE offer_id = $1 AND status = 'approved'
             AND created_at >= $2 AND ($3::bigint IS NULL OR partner_id = $3)"
        }
        CapMetric::Payout => {
            "SELECT coalesce(sum(payout) * 1000000, 0)::bigint FROM conversions WHERE offer_id = $1
             AND status = 'approved' AND created_at >= $2 AND ($3::bigint IS NULL OR partner_id = $3)"
        }
        CapMetric::Revenue => {
            "SELECT coalesce(sum(revenue) * 1000000, 0)::bigint FROM conversions WHERE offer_id = $1
             AND status = 'approved' AND created_at >= $2 AND ($3::bigint IS NULL OR partner_id = $3)"
        }
    };
    sqlx::query_scalar::<_, i64>(sql)
        .bind(offer_id)
        .bind(since)
        .bind(partner_id)
        .fetch_one(pool)
        .await
}
