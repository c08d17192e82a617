//! The server's partition maintenance: `ensure`, then `prune` when a
//! retention is set, at start and every `TICK`. Every instance runs it; the
//! advisory locks make the work happen once.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{TABLES, ensure, list, prune};

/// Partitions are days created a week ahead by default: an hour between rounds
/// leaves a failing round days of slack before a row reaches the default.
pub const TICK: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceSettings {
    /// Days after today that get their partition ahead of time.
    pub days_ahead: u32,
    /// Days before today kept; `None` keeps everything.
    pub retention_days: Option<u32>,
    pub tick: Duration,
}

pub fn spawn(
    pool: PgPool,
    settings: MaintenanceSettings,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(settings.tick);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => run_once(&pool, settings).await,
                _ = shutdown.changed() => return,
            }
        }
    })
}

/// One round. A failure is logged and counted and retried next round: rows
/// keep landing in the default partition meanwhile.
pub async fn run_once(pool: &PgPool, settings: MaintenanceSettings) {
    let now = Utc::now();
    match ensure(pool, now, settings.days_ahead).await {
        Ok(report) if !report.created.is_empty() => tracing::info!(
            created = report.created.len(),
            rows.moved = report.moved_rows,
            "partitions ensured"
        ),
        Ok(_) => {}
        Err(error) => {
            metrics::counter!("switchyard_partition_maintenance_errors_total", "step" => "ensure")
                .increment(1);
            tracing::warn!(%error, "creating partitions failed; rows go to the default partitions until it succeeds");
        }
    }
    if let Some(days) = settings.retention_days {
        match prune(pool, now, days).await {
            Ok(report) if !report.dropped.is_empty() || report.deleted_rows > 0 => tracing::info!(
                dropped = report.dropped.len(),
                rows.deleted = report.deleted_rows,
                "partitions pruned"
            ),
            Ok(_) => {}
            Err(error) => {
                metrics::counter!("switchyard_partition_maintenance_errors_total", "step" => "prune")
                    .increment(1);
                tracing::warn!(%error, "pruning partitions failed; retried next round");
            }
        }
    }
    record_coverage(pool).await;
}

/// `switchyard_partitions_covered_until_timestamp_seconds{table}`: the end of
/// the last day with its own partition, for an alert when it comes near.
async fn record_coverage(pool: &PgPool) {
    let Ok(mut conn) = pool.acquire().await else {
        return;
    };
    for table in TABLES {
        let Ok(partitions) = list(&mut conn, table).await else {
            continue;
        };
        if let Some(end) = partitions.iter().filter_map(|p| p.to).max() {
            metrics::gauge!("switchyard_partitions_covered_until_timestamp_seconds", "table" => table)
                .set(end.timestamp() as f64);
        }
    }
}
