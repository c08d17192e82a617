//! What the postback path asks Postgres: clicks older than the index, and
//! earlier conversions for the duplicate check. Every call is bounded by a
//! timeout, and after a failure Postgres is skipped for a moment, so an outage
//! costs postbacks one timeout per interval, not one each.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
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

impl ClickLookup {
    pub fn new(pool: PgPool, timeout: Duration) -> Self {
        Self {
            pool,
            timeout,
            retry_after: Duration::from_secs(1),
            failed_at: Mutex::new(None),
        }
    }

    /// A redirected click recorded in `clicks`.
    pub async fn click(&self, tid: TransactionId) -> Result<Option<ClickFacts>, LookupError> {
        let query = sqlx::query_as::<_, ClickRow>(
            "SELECT created_at, offer_id, advertiser_id, partner_id, smart_link_id,
                    sub1, sub2, sub3, sub4, sub5, source_id
             FROM clicks WHERE transaction_id = $1 AND outcome = 'redirected'",
        )
        .bind(tid.to_string())
        .fetch_optional(&self.pool);
        let row = self.bounded(query).await?;
        Ok(row.and_then(|r| {
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
        }))
    }

    /// An approved conversion already recorded for the click.
    pub async fn click_converted(&self, tid: TransactionId) -> Result<bool, LookupError> {
        let query = sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM conversions WHERE transaction_id = $1 AND status = 'approved')",
        )
        .bind(tid.to_string())
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
