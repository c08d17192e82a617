//! Runs KPI links at their frequency (`kpi_frequency_hours`), on every instance
//! at once without running a link twice: each run happens in a transaction
//! holding a transaction-level advisory lock on the link, taken with
//! `pg_try_advisory_xact_lock` (an instance that finds it held skips the link;
//! a crashed runner's lock goes with its session, so another instance picks the
//! link up at its next tick). Due-ness is checked again under the lock, since
//! another instance may have just committed a run. The run record's INSERT
//! NOTIFYs every instance to reload its snapshot (migration 0010).
//! `switchyard kpi run` goes through the same `run_link`. See docs/KPI.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::carry::{CarriedOffer, PreviousRun};
use super::explore::ExploreParams;
use super::record::{INSERT_SQL, KpiRunRecord, record};
use super::run::{optimize, reads};
use super::store::{self, StoreError};
use crate::catalog::source::RedirectMechanism;
use crate::catalog::{Catalog, CatalogHandle};

/// The first key of the advisory lock (`pg_try_advisory_xact_lock(int, int)`):
/// "KPI1", so no other lock user of the database collides with KPI runs.
pub const LOCK_CLASS: i32 = 0x4B50_4931;

/// How often the scheduler looks for due links: frequencies are whole hours,
/// so a run starts at most this late.
pub const TICK: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum KpiRunError {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether a run waits for the link's frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The scheduler: only if the link is due.
    Due,
    /// `kpi run`: now, whatever the frequency.
    Force,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Recorded (or, in a dry run, computed and not recorded).
    Ran(Box<KpiRunRecord>),
    /// Another instance holds the link's lock: it is running it now.
    Locked,
    /// Under the lock the link was no longer due: another instance just ran it.
    NotDue,
    /// Not a KPI link in this snapshot (unknown, or not `kpi`).
    NotKpi,
}

impl Outcome {
    /// The `result` label of `switchyard_kpi_runs_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Ran(_) => "ran",
            Outcome::Locked => "locked",
            Outcome::NotDue => "not_due",
            Outcome::NotKpi => "not_kpi",
        }
    }
}

/// A link is due when no run of it ran since its reset and within its
/// frequency. Only active KPI links are scheduled.
const DUE_SQL: &str = "
    SELECT l.id FROM smart_links l
    WHERE l.mechanism = 'kpi' AND l.status = 'active'
      AND ($2::int8 IS NULL OR l.id = $2)
      AND NOT EXISTS (
        SELECT 1 FROM smart_link_kpi_runs r
        WHERE r.smart_link_id = l.id
          AND r.ran_at >= l.optimization_reset_at
          AND r.ran_at > $1 - make_interval(hours => l.kpi_frequency_hours))
    ORDER BY l.id";

/// The active KPI links due at `now`.
pub async fn due_links(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<i64>, KpiRunError> {
    Ok(sqlx::query_scalar(DUE_SQL)
        .bind(now)
        .bind(None::<i64>)
        .fetch_all(pool)
        .await?)
}

/// The rng of a run: from the link and the run time (to the microsecond, as
/// `ran_at` is stored), so any run can be reproduced from its row.
pub fn seed(link: i64, ran_at: DateTime<Utc>) -> u64 {
    let mixed = (link as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed ^ (ran_at.timestamp_micros() as u64).rotate_left(17)
}

/// Postgres keeps microseconds: a run uses the instant it will be stored as.
fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// Runs `link_id` at `now` under its advisory lock: the figures from the
/// rollups, the link's strategy, and (unless `dry_run`) the run record.
/// The link's offers and settings come from `catalog`; its reset instant is
/// read under the lock, so a reset the snapshot has not seen yet still cuts
/// the window.
pub async fn run_link(
    pool: &PgPool,
    catalog: &Catalog,
    link_id: i64,
    now: DateTime<Utc>,
    mode: Mode,
    dry_run: bool,
) -> Result<Outcome, KpiRunError> {
    let Some(link) = catalog
        .smart_link(link_id)
        .filter(|l| l.mechanism == RedirectMechanism::Kpi)
    else {
        return Ok(Outcome::NotKpi);
    };
    let now = to_micros(now);
    let mut tx = pool.begin().await?;
    // Truncating the id to the second int4 key: links whose ids differ by a
    // multiple of 2^32 share a lock, which only delays one of them a tick.
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(link_id as i32)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(Outcome::Locked);
    }
    if mode == Mode::Due {
        // A new statement, a new snapshot: it sees a run committed by the
        // instance that held the lock before us.
        let due: Option<i64> = sqlx::query_scalar(DUE_SQL)
            .bind(now)
            .bind(link_id)
            .fetch_optional(&mut *tx)
            .await?;
        if due.is_none() {
            return Ok(Outcome::NotDue);
        }
    }
    let reset: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT optimization_reset_at FROM smart_links WHERE id = $1")
            .bind(link_id)
            .fetch_optional(&mut *tx)
            .await?;
    let mut link = link.clone();
    if reset.is_some() {
        link.optimization_reset_at = reset;
    }
    let previous: Option<PreviousRow> = sqlx::query_as(
        "SELECT ran_at, window_start, ranking, carried FROM smart_link_kpi_runs
         WHERE smart_link_id = $1 ORDER BY ran_at DESC, id DESC LIMIT 1",
    )
    .bind(link_id)
    .fetch_optional(&mut *tx)
    .await?;
    let last = previous.as_ref().map(PreviousRow::as_previous);
    let params = ExploreParams::default();
    let figures = store::load(&mut tx, link_id, reads(&link, last.as_ref(), now, &params)).await?;
    let mut rng = SmallRng::seed_from_u64(seed(link_id, now));
    let (run_window, result) = optimize(&link, &figures, last.as_ref(), now, &params, &mut rng);
    let previous_ranking = previous.as_ref().map(|p| p.ranking.as_slice());
    let run = record(link_id, now, run_window, &result, previous_ranking);
    if dry_run {
        tx.rollback().await?;
    } else {
        insert(&mut tx, &run).await?;
        tx.commit().await?;
    }
    Ok(Outcome::Ran(Box::new(run)))
}

/// The columns of the link's latest run that the next one reads.
#[derive(sqlx::FromRow)]
struct PreviousRow {
    ran_at: DateTime<Utc>,
    window_start: DateTime<Utc>,
    ranking: Vec<i64>,
    carried: Option<sqlx::types::Json<Vec<CarriedOffer>>>,
}

impl PreviousRow {
    fn as_previous(&self) -> PreviousRun {
        PreviousRun {
            ran_at: self.ran_at,
            window_start: self.window_start,
            carried: self
                .carried
                .as_ref()
                .map(|c| c.0.clone())
                .unwrap_or_default(),
        }
    }
}

/// Inserts a run with `kpi::record::INSERT_SQL` (whose trigger NOTIFYs).
pub async fn insert(conn: &mut sqlx::PgConnection, run: &KpiRunRecord) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT_SQL)
        .bind(run.smart_link_id)
        .bind(run.ran_at)
        .bind(run.window.start)
        .bind(run.window.end)
        .bind(run.metric)
        .bind(run.goal)
        .bind(run.strategy)
        .bind(run.threshold_met)
        .bind(&run.figures)
        .bind(&run.ranking)
        .bind(&run.shares)
        .bind(run.ranking_changed)
        .bind(run.carried.as_ref().map(sqlx::types::Json))
        .execute(conn)
        .await?;
    Ok(())
}

/// `run_link` with its metrics and its log line.
pub async fn run_and_observe(
    pool: &PgPool,
    catalog: &Catalog,
    link_id: i64,
    now: DateTime<Utc>,
    mode: Mode,
    dry_run: bool,
) -> Result<Outcome, KpiRunError> {
    let started = Instant::now();
    let outcome = run_link(pool, catalog, link_id, now, mode, dry_run).await;
    let took = started.elapsed();
    let label = match &outcome {
        Ok(outcome) => outcome.label(),
        Err(_) => "error",
    };
    metrics::counter!("switchyard_kpi_runs_total", "result" => label).increment(1);
    metrics::histogram!("switchyard_kpi_run_duration_seconds").record(took.as_secs_f64());
    match &outcome {
        Ok(Outcome::Ran(run)) => tracing::info!(
            smart_link_id = link_id,
            threshold_met = run.threshold_met,
            ranking = ?run.ranking,
            ranking_changed = run.ranking_changed,
            dry_run,
            took_ms = took.as_millis() as u64,
            "kpi run"
        ),
        Ok(other) => tracing::debug!(
            smart_link_id = link_id,
            result = other.label(),
            "kpi run skipped"
        ),
        Err(error) => tracing::warn!(smart_link_id = link_id, %error, "kpi run failed"),
    }
    outcome
}

/// One scheduler pass: every due link, one after the other. A link that fails
/// does not stop the others; it is due again at the next tick.
pub async fn tick(
    pool: &PgPool,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, Outcome)>, KpiRunError> {
    let mut outcomes = Vec::new();
    for link_id in due_links(pool, now).await? {
        if let Ok(outcome) = run_and_observe(pool, catalog, link_id, now, Mode::Due, false).await {
            outcomes.push((link_id, outcome));
        }
    }
    Ok(outcomes)
}

/// The scheduler task of `serve` (with a database): a pass every `every`,
/// on the current snapshot, until shutdown. A pass cut short by shutdown rolls
/// its open transaction back; the link is run by the next instance's tick.
pub fn spawn(
    pool: PgPool,
    catalog: Arc<CatalogHandle>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.wait_for(|stopping| *stopping) => return,
            }
            let Some(snapshot) = catalog.current() else {
                continue;
            };
            tokio::select! {
                result = tick(&pool, &snapshot, Utc::now()) => {
                    if let Err(error) = result {
                        tracing::warn!(%error, "kpi scheduler: could not list due links");
                    }
                }
                _ = shutdown.wait_for(|stopping| *stopping) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_run_seed_depends_on_link_and_stored_run_time_only() {
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
        let stored = to_micros(at + chrono::Duration::nanoseconds(1_000_999));
        assert_eq!(stored, at + chrono::Duration::microseconds(1_000));
        assert_eq!(seed(7, at), seed(7, at));
        assert_ne!(seed(7, at), seed(8, at));
        assert_ne!(seed(7, at), seed(7, stored));
    }
}
