//! Cap counters of the current periods are rebuilt from the event tables: at
//! start-up, so a restart does not reopen a filled daily cap, and when a
//! snapshot brings a cap the previous one did not have, so a daily cap added
//! at 3 pm counts the day's clicks from midnight, not from 3 pm.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rustc_hash::FxHashSet;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{CapMetric, CapPeriod, CounterStore, period_start};
use crate::catalog::{Cap, Catalog, CatalogHandle, Offer};

/// Sets every cap counter of `catalog` to what Postgres recorded in the current
/// period (never lowering a counter that is already higher, e.g. in Redis).
/// Failures are logged and skipped: serving with a cold counter beats not serving.
pub async fn restore_caps(
    pool: &PgPool,
    catalog: &Catalog,
    counters: &CounterStore,
    now: DateTime<Utc>,
) {
    let caps: Vec<(&Offer, &Cap)> = caps_of(catalog).collect();
    restore(pool, &caps, counters, now, "startup").await;
}

/// What makes two caps count into the same counter.
type CapCounter = (i64, Option<i64>, CapMetric, CapPeriod, Tz);

fn caps_of(catalog: &Catalog) -> impl Iterator<Item = (&Offer, &Cap)> {
    catalog
        .offers()
        .flat_map(|offer| offer.caps.iter().map(move |cap| (offer, cap)))
}

fn counter_of((offer, cap): (&Offer, &Cap)) -> CapCounter {
    (
        offer.id,
        cap.partner_id,
        cap.metric,
        cap.period,
        offer.timezone,
    )
}

/// Restores the caps of each new snapshot that the snapshot before it did not
/// count (a new cap, or a new period or timezone), until `shutdown`.
///
/// Between the swap and the restore (one query per new cap) the new cap
/// counts from zero, and the restore keeps the higher of the two values, so
/// the few hits of that window may go uncounted once.
pub fn spawn_new_cap_restorer(
    pool: PgPool,
    catalog: Arc<CatalogHandle>,
    counters: Arc<CounterStore>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let mut swaps = catalog.subscribe();
    let mut previous = catalog.current();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = swaps.changed() => if changed.is_err() { return },
                _ = shutdown.changed() => return,
            }
            let Some(next) = catalog.current() else {
                continue;
            };
            let known: FxHashSet<CapCounter> = previous
                .iter()
                .flat_map(|p| caps_of(p))
                .map(counter_of)
                .collect();
            let new_caps: Vec<(&Offer, &Cap)> = caps_of(&next)
                .filter(|&pair| !known.contains(&counter_of(pair)))
                .collect();
            restore(&pool, &new_caps, &counters, Utc::now(), "new_cap").await;
            previous = Some(next);
        }
    })
}

/// `trigger` labels the metrics: `startup` or `new_cap`.
async fn restore(
    pool: &PgPool,
    caps: &[(&Offer, &Cap)],
    counters: &CounterStore,
    now: DateTime<Utc>,
    trigger: &'static str,
) {
    let mut restored = 0usize;
    for &(offer, cap) in caps {
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
            let (key, expires_at) = offer.cap_key(cap, now);
            counters.restore(&key, value, expires_at, now).await;
            restored += 1;
        }
    }
    if !caps.is_empty() {
        // Counted after the counters are set: a cap checked here is enforced
        // from its period's start.
        metrics::counter!("switchyard_cap_restores_total", "trigger" => trigger)
            .increment(caps.len() as u64);
        tracing::info!(
            caps = caps.len(),
            counters.restored = restored,
            trigger,
            "cap counters restored from Postgres"
        );
    }
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
