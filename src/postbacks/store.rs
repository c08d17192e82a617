//! The `partner_postback_queue` table: claiming due deliveries and recording
//! what became of them. Rows are inserted by the event writer, not here.
//!
//! A claim is one statement: it picks due pending rows with `FOR UPDATE SKIP
//! LOCKED` (two instances never claim the same row at once), counts the attempt
//! and pushes the row's due time past the claim timeout. Nothing is held open
//! during the HTTP call, and an instance that dies mid-call leaves a row that
//! falls due again by itself: delivery is at least once.

use std::time::Duration;

use sqlx::PgPool;

use crate::events::new_event_id;

use super::queue::PostbackJob;

/// Bound on each statement: a hung connection only delays deliveries.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub(super) enum QueueError {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// A delivery this instance holds until it reports back or the claim passes.
#[derive(Debug, Clone)]
pub(super) struct Claimed {
    pub job: PostbackJob,
    /// This attempt's number: earlier claims included.
    pub attempt: u32,
    claim_token: String,
}

/// Why a delivery was given up, as stored in `given_up_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GiveUpReason {
    /// The partner answered a final 4xx.
    Refused,
    AttemptsExhausted,
    /// The last attempt's instance stopped before reporting back.
    ClaimLost,
}

impl GiveUpReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GiveUpReason::Refused => "refused",
            GiveUpReason::AttemptsExhausted => "attempts_exhausted",
            GiveUpReason::ClaimLost => "claim_lost",
        }
    }
}

/// Pending deliveries, for the gauges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct QueueStats {
    pub pending: i64,
    /// How long the oldest due, unclaimed delivery has been waiting.
    pub overdue_seconds: f64,
}

#[derive(Debug, Clone)]
pub(super) struct QueueStore {
    pool: PgPool,
}

type ClaimRow = (String, String, i64, String, i32);

impl QueueStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Up to `limit` due deliveries, oldest due first, hidden from every other
    /// claim for `claim_for`.
    pub async fn claim(
        &self,
        limit: usize,
        claim_for: Duration,
    ) -> Result<Vec<Claimed>, QueueError> {
        let token = new_event_id();
        let rows: Vec<ClaimRow> = bounded(
            sqlx::query_as(
                "UPDATE partner_postback_queue
                 SET attempts = attempts + 1,
                     next_attempt_at = now() + $2::float8 * interval '1 millisecond',
                     claim_token = $3,
                     updated_at = now()
                 WHERE delivery_id IN (
                     SELECT delivery_id FROM partner_postback_queue
                     WHERE state = 'pending' AND next_attempt_at <= now()
                     ORDER BY next_attempt_at
                     LIMIT $1
                     FOR UPDATE SKIP LOCKED)
                 RETURNING delivery_id, conversion_id, partner_id, url, attempts",
            )
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(millis(claim_for))
            .bind(&token)
            .fetch_all(&self.pool),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(delivery_id, conversion_id, partner_id, url, attempts)| Claimed {
                    job: PostbackJob {
                        delivery_id,
                        conversion_id,
                        partner_id,
                        url,
                    },
                    attempt: u32::try_from(attempts).unwrap_or(u32::MAX),
                    claim_token: token.clone(),
                },
            )
            .collect())
    }

    /// Whoever holds the claim now: the partner has it, so no one should call
    /// again. Returns whether the row was still pending.
    pub async fn delivered(
        &self,
        claimed: &Claimed,
        status: Option<u16>,
    ) -> Result<bool, QueueError> {
        let done = bounded(
            sqlx::query(
                "UPDATE partner_postback_queue
                 SET state = 'delivered', last_http_status = $2, last_error = NULL,
                     claim_token = NULL, updated_at = now()
                 WHERE delivery_id = $1 AND state = 'pending'",
            )
            .bind(&claimed.job.delivery_id)
            .bind(status.map(i32::from))
            .execute(&self.pool),
        )
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Due again after `delay`. Returns whether this instance still held the claim
    /// (if not, another instance owns the row's schedule now).
    pub async fn retry_later(
        &self,
        claimed: &Claimed,
        status: Option<u16>,
        error: Option<&str>,
        delay: Duration,
    ) -> Result<bool, QueueError> {
        let done = bounded(
            sqlx::query(
                "UPDATE partner_postback_queue
                 SET next_attempt_at = now() + $5::float8 * interval '1 millisecond',
                     last_http_status = $3, last_error = $4,
                     claim_token = NULL, updated_at = now()
                 WHERE delivery_id = $1 AND claim_token = $2 AND state = 'pending'",
            )
            .bind(&claimed.job.delivery_id)
            .bind(&claimed.claim_token)
            .bind(status.map(i32::from))
            .bind(error)
            .bind(millis(delay))
            .execute(&self.pool),
        )
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Final. `attempts` corrects the count when the claim being closed was not
    /// an attempt of its own; a missing status or error keeps the last one seen.
    pub async fn give_up(
        &self,
        claimed: &Claimed,
        status: Option<u16>,
        error: Option<&str>,
        reason: GiveUpReason,
        attempts: Option<u32>,
    ) -> Result<bool, QueueError> {
        let done = bounded(
            sqlx::query(
                "UPDATE partner_postback_queue
                 SET state = 'given_up', given_up_reason = $5,
                     last_http_status = coalesce($3, last_http_status),
                     last_error = coalesce($4, last_error),
                     attempts = coalesce($6, attempts),
                     claim_token = NULL, updated_at = now()
                 WHERE delivery_id = $1 AND claim_token = $2 AND state = 'pending'",
            )
            .bind(&claimed.job.delivery_id)
            .bind(&claimed.claim_token)
            .bind(status.map(i32::from))
            .bind(error)
            .bind(reason.as_str())
            .bind(attempts.map(|a| i32::try_from(a).unwrap_or(i32::MAX)))
            .execute(&self.pool),
        )
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands a claim back unused (shutdown): due at once, for any instance, and
    /// the claim not counted as an attempt.
    pub async fn release(&self, claimed: &Claimed) -> Result<bool, QueueError> {
        let done = bounded(
            sqlx::query(
                "UPDATE partner_postback_queue
                 SET attempts = greatest(attempts - 1, 0), next_attempt_at = now(),
                     claim_token = NULL, updated_at = now()
                 WHERE delivery_id = $1 AND claim_token = $2 AND state = 'pending'",
            )
            .bind(&claimed.job.delivery_id)
            .bind(&claimed.claim_token)
            .execute(&self.pool),
        )
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        let (pending, overdue_seconds): (i64, f64) = bounded(
            sqlx::query_as(
                "SELECT count(*),
                        coalesce(greatest(extract(epoch FROM now() - min(next_attempt_at)), 0), 0)::float8
                 FROM partner_postback_queue WHERE state = 'pending'",
            )
            .fetch_one(&self.pool),
        )
        .await?;
        Ok(QueueStats {
            pending,
            overdue_seconds,
        })
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

async fn bounded<T>(query: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, QueueError> {
    match tokio::time::timeout(STATEMENT_TIMEOUT, query).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(QueueError::Timeout(STATEMENT_TIMEOUT)),
    }
}
