//! What the postback path asks Postgres: clicks older than the index, and
//! earlier conversions for the duplicate check. Every call is bounded by a
//! timeout, and after a failure Postgres is skipped for a moment, so an outage
//! costs postbacks one timeout per interval, not one each.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use super::click_index::ClickFacts;
use crate::catalog::ClickTexts;
use crate::routing::TransactionId;

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("postgres did not answer within {0:?}")]
    Timeout(Duration),
    #[error("postgres failed recently; not asked")]
    Skipped,
}

#[derive(Debug)]
pub struct ClickLookup {
    pool: PgPool,
    timeout: Duration,
    retry_after: Duration,
    failed_at: Mutex<Option<Instant>>,
}

type ClickRow = (
    DateTime<Utc>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

macro_rules! click_sql {
    ($($bound:literal)?) => {
        concat!(
            "SELECT created_at, offer_id, advertiser_id, partner_id, smart_link_id,
                    sub1, sub2, sub3, sub4, sub5, source_id
             FROM clicks WHERE transaction_id = $1 AND outcome = 'redirected'",
            $($bound)?
        )
    };
}

/// A click by its id alone: one index probe per partition of `clicks`.
pub const CLICK_SQL: &str = click_sql!();
/// A click by its id and the millisecond its id names: one partition.
pub const CLICK_AT_SQL: &str = click_sql!(" AND created_at BETWEEN $2 AND $3");

fn click_facts(tid: TransactionId, r: ClickRow) -> Option<ClickFacts> {
    Some(ClickFacts {
        transaction_id: tid,
        created_at: r.0,
        offer_id: r.1?,
        advertiser_id: r.2,
        partner_id: r.3?,
        smart_link_id: r.4,
        subs: [r.5, r.6, r.7, r.8, r.9],
        source_id: r.10,
        kept: ClickTexts::ALL,
        local: false,
    })
}

impl ClickLookup {
    pub fn new(pool: PgPool, timeout: Duration) -> Self {
        Self {
            pool,
            timeout,
            retry_after: Duration::from_secs(1),
            failed_at: Mutex::new(None),
        }
    }

    /// A redirected click recorded in `clicks`. An id that carries its click
    /// time is looked up within that millisecond, which prunes the probe to one
    /// day's partition; one without (drawn before time-ordered ids), or whose
    /// time-bound probe misses (a random id that looks time-ordered by chance),
    /// is looked up by the id alone: one probe per partition.
    pub async fn click(&self, tid: TransactionId) -> Result<Option<ClickFacts>, LookupError> {
        if let Some(at) = tid.click_time() {
            // Postgres rounds the stored time to microseconds, which can carry
            // it just past the id's millisecond: the upper bound is inclusive.
            let until = at + TimeDelta::milliseconds(1);
            let query = sqlx::query_as::<_, ClickRow>(CLICK_AT_SQL)
                .bind(tid.to_string())
                .bind(at)
                .bind(until)
                .fetch_optional(&self.pool);
            if let Some(row) = self.bounded(query).await? {
                return Ok(click_facts(tid, row));
            }
            metrics::counter!("switchyard_conversion_lookup_untimed_total", "reason" => "missed")
                .increment(1);
        } else {
            metrics::counter!("switchyard_conversion_lookup_untimed_total", "reason" => "untimed")
                .increment(1);
        }
        let query = sqlx::query_as::<_, ClickRow>(CLICK_SQL)
            .bind(tid.to_string())
            .fetch_optional(&self.pool);
        Ok(self
            .bounded(query)
            .await?
            .and_then(|row| click_facts(tid, row)))
    }

    /// An approved conversion already recorded for the click. A conversion
    /// comes after its click, so only the partitions since the click's day (and
    /// a day of clock skew between instances) are read.
    pub async fn click_converted(
        &self,
        tid: TransactionId,
        clicked_at: DateTime<Utc>,
    ) -> Result<bool, LookupError> {
        let query = sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM conversions
                            WHERE transaction_id = $1 AND status = 'approved' AND created_at >= $2)",
        )
        .bind(tid.to_string())
        .bind(clicked_at - TimeDelta::days(1))
        .fetch_one(&self.pool);
        self.bounded(query).await
    }

    /// An approved conversion already recorded with this order id on the offer.
    pub async fn order_converted(
        &self,
        offer_id: i64,
        order_id: &str,
    ) -> Result<bool, LookupError> {
        let query = sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM conversions
                            WHERE offer_id = $1 AND order_id = $2 AND status = 'approved')",
        )
        .bind(offer_id)
        .bind(order_id)
        .fetch_one(&self.pool);
        self.bounded(query).await
    }

    async fn bounded<T>(
        &self,
        query: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, LookupError> {
        if self.recently_failed() {
            return Err(LookupError::Skipped);
        }
        let result = match tokio::time::timeout(self.timeout, query).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => LookupError::Postgres(error),
            Err(_) => LookupError::Timeout(self.timeout),
        };
        metrics::counter!("switchyard_conversion_lookup_errors_total").increment(1);
        *self.failed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        Err(result)
    }

    fn recently_failed(&self) -> bool {
        let failed_at = *self.failed_at.lock().unwrap_or_else(|p| p.into_inner());
        failed_at.is_some_and(|at| at.elapsed() < self.retry_after)
    }
}
