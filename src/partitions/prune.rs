//! Drops the partitions whose whole day is past the retention, and deletes the
//! rows of such days from the default partitions. The hourly rollups are not
//! touched: they outlive the raw rows (docs/ROLLUPS.md), and the bound is
//! recorded in `event_retention` first, so `rollup_rebuild` never recomputes a
//! pruned hour from nothing.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tracing::Instrument;

use super::{PartitionError, TABLES, begin, day_start, default_name, list};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Rows before this are gone: the start of the UTC day `retention_days`
    /// before today.
    pub before: Option<DateTime<Utc>>,
    pub dropped: Vec<String>,
    /// Rows deleted from the default partitions.
    pub deleted_rows: u64,
}

/// Keeps today and the `retention_days` days before it; drops the rest.
pub async fn prune(
    pool: &PgPool,
    now: DateTime<Utc>,
    retention_days: u32,
) -> Result<PruneReport, PartitionError> {
    let before = day_start(now)?
        .checked_sub_signed(TimeDelta::days(i64::from(retention_days)))
        .ok_or(PartitionError::OutOfRange(now))?;
    record_bound(pool, before).await?;
    let mut report = PruneReport {
        before: Some(before),
        ..PruneReport::default()
    };
    for table in TABLES {
        prune_table(pool, table, before, &mut report)
            .instrument(tracing::info_span!("partitions.prune", table))
            .await?;
    }
    Ok(report)
}

/// Under the rollups' lock (the one `rollup_rebuild` takes first): a rebuild
/// running now finishes before the bound moves, and every later one reads it.
async fn record_bound(pool: &PgPool, before: DateTime<Utc>) -> Result<(), PartitionError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "LOCK TABLE smart_link_offer_hourly, offer_partner_hourly IN SHARE ROW EXCLUSIVE MODE",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO event_retention (table_name, pruned_before) SELECT unnest($1::text[]), $2
         ON CONFLICT (table_name) DO UPDATE
         SET pruned_before = greatest(event_retention.pruned_before, EXCLUDED.pruned_before)",
    )
    .bind(TABLES.as_slice())
    .bind(before)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn prune_table(
    pool: &PgPool,
    table: &str,
    before: DateTime<Utc>,
    report: &mut PruneReport,
) -> Result<(), PartitionError> {
    let mut tx = begin(pool, table).await?;
    let old: Vec<String> = list(&mut tx, table)
        .await?
        .into_iter()
        .filter(|p| !p.is_default && p.to.is_some_and(|end| end <= before))
        .map(|p| p.name)
        .collect();
    tx.commit().await?;
    for name in old {
        // One transaction each: a drop waits for the table's readers, and a
        // long one then holds up a single day, not the whole prune.
        let mut tx = begin(pool, table).await?;
        // The name comes from the catalog: an operator may have named a
        // partition of their own anything, so it is quoted.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS {quoted}"
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        metrics::counter!("switchyard_partitions_dropped_total", "table" => table.to_owned())
            .increment(1);
        tracing::info!(partition = %name, "partition dropped");
        report.dropped.push(name);
    }
    let default = default_name(table);
    let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {default} WHERE created_at < $1"
    )))
    .bind(before)
    .execute(pool)
    .await?
    .rows_affected();
    report.deleted_rows += deleted;
    Ok(())
}
