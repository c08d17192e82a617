//! Creates the partitions of the coming days, and of any day that has rows in
//! the default partition (moving those rows in). Each day is one transaction
//! under the table's maintenance lock, so instances running this at once
//! create each partition once and a failure leaves the days before it done.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tracing::Instrument;

use super::{DAY, PartitionError, TABLES, begin, day_start, default_name, list, partition_name};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EnsureReport {
    /// The partitions created, in the order they were.
    pub created: Vec<String>,
    /// Rows moved out of the default partitions into their day's.
    pub moved_rows: u64,
}

/// The days to cover: today and `days_ahead` more.
fn coming_days(
    now: DateTime<Utc>,
    days_ahead: u32,
) -> Result<BTreeSet<DateTime<Utc>>, PartitionError> {
    let today = day_start(now)?;
    Ok((0..=days_ahead)
        .filter_map(|n| today.checked_add_signed(DAY * i32::try_from(n).ok()?))
        .collect())
}

/// Ensures every event table has a partition for today and the next
/// `days_ahead` days, and for each day that has rows in its default partition
/// (unless that day was pruned already).
pub async fn ensure(
    pool: &PgPool,
    now: DateTime<Utc>,
    days_ahead: u32,
) -> Result<EnsureReport, PartitionError> {
    let mut report = EnsureReport::default();
    for table in TABLES {
        ensure_table(pool, table, now, days_ahead, &mut report)
            .instrument(tracing::info_span!("partitions.ensure", table))
            .await?;
    }
    Ok(report)
}

async fn ensure_table(
    pool: &PgPool,
    table: &str,
    now: DateTime<Utc>,
    days_ahead: u32,
    report: &mut EnsureReport,
) -> Result<(), PartitionError> {
    let default = default_name(table);
    let mut days = coming_days(now, days_ahead)?;
    let mut conn = pool.acquire().await?;
    // The default partition is empty unless rows came before their day's
    // partition: the scan costs nothing then.
    let stray: Vec<DateTime<Utc>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT date_trunc('day', created_at, 'UTC') FROM {default}
         WHERE created_at >= coalesce((SELECT pruned_before FROM event_retention WHERE table_name = $1), '-infinity')"
    )))
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    days.extend(stray);
    drop(conn);
    // Under the lock: another instance's prune may be dropping a partition,
    // whose bounds can then not be read.
    let mut tx = begin(pool, table).await?;
    let existing = list(&mut tx, table).await?;
    tx.commit().await?;
    for day in days {
        let end = day + DAY;
        if existing.iter().any(|p| p.overlaps(day, end)) {
            continue;
        }
        let (name, moved) = create_day(pool, table, day).await?;
        if let Some(name) = name {
            metrics::counter!("switchyard_partitions_created_total", "table" => table.to_owned())
                .increment(1);
            metrics::counter!("switchyard_partition_rows_moved_total", "table" => table.to_owned())
                .increment(moved);
            tracing::info!(partition = %name, rows.moved = moved, "partition created");
            report.created.push(name);
            report.moved_rows += moved;
        }
    }
    Ok(())
}

/// Creates one day's partition, under the lock; `None` when another instance
/// created it since the list was read.
async fn create_day(
    pool: &PgPool,
    table: &str,
    day: DateTime<Utc>,
) -> Result<(Option<String>, u64), PartitionError> {
    let end = day + DAY;
    let name = partition_name(table, day);
    let default = default_name(table);
    let mut tx = begin(pool, table).await?;
    if list(&mut tx, table)
        .await?
        .iter()
        .any(|p| p.overlaps(day, end))
    {
        return Ok((None, 0));
    }
    // Names and bounds are built here from the constant table names and a
    // timestamp, never from request data.
    let bounds = format!("FROM ('{}') TO ('{}')", day.to_rfc3339(), end.to_rfc3339());
    let waiting: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM {default} WHERE created_at >= $1 AND created_at < $2)"
    )))
    .bind(day)
    .bind(end)
    .fetch_one(&mut *tx)
    .await?;
    let moved = if waiting {
        // Postgres refuses a new partition while the default one holds rows of
        // its range: they move first, in the same transaction, so a reader
        // sees them in one place or the other, never both or neither.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )))
        .execute(&mut *tx)
        .await?;
        let moved = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH moved AS (DELETE FROM {default} WHERE created_at >= $1 AND created_at < $2 RETURNING *)
             INSERT INTO {name} SELECT * FROM moved"
        )))
        .bind(day)
        .bind(end)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES {bounds}"
        )))
        .execute(&mut *tx)
        .await?;
        moved
    } else {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {name} PARTITION OF {table} FOR VALUES {bounds}"
        )))
        .execute(&mut *tx)
        .await?;
        0
    };
    tx.commit().await?;
    Ok((Some(name), moved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coming_days_start_today_in_utc() {
        let now = DateTime::parse_from_rfc3339("2026-12-31T23:30:00-02:00")
            .unwrap()
            .with_timezone(&Utc);
        let days: Vec<String> = coming_days(now, 2)
            .unwrap()
            .iter()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect();
        assert_eq!(days, ["2027-01-01", "2027-01-02", "2027-01-03"]);
    }
}
