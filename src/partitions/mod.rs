//! Daily partitions of the event tables (migration 0013, docs/OPERATIONS.md
//! "Partitions and retention"): `ensure` creates each UTC day's partition
//! ahead of time and moves rows that landed in the default partition into
//! theirs; `prune` drops whole partitions past the retention. The server runs
//! both in a background task (`task`), `switchyard partitions` by hand.
//!
//! **Architecture invariant:** nothing here runs on the redirect path or in
//! the event writer. A row whose day has no partition yet goes to the
//! default partition; it is never refused, so the writer never waits for
//! this module.

pub mod command;
pub mod ensure;
pub mod list;
pub mod prune;
pub mod task;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

pub use ensure::{EnsureReport, ensure};
pub use list::{Partition, list};
pub use prune::{PruneReport, prune};

/// The tables partitioned by day, in the order maintenance visits them.
pub const TABLES: [&str; 4] = ["clicks", "impressions", "conversions", "conversion_events"];

/// The first key of the advisory lock every instance takes before changing a
/// table's partitions (the second is the table's place in `TABLES`): "PRT1".
pub const LOCK_CLASS: i32 = 0x5052_5431;

/// How long a partition change waits for the table's lock before giving up
/// until the next round: the writer's inserts queue behind a waiting DDL.
pub const LOCK_TIMEOUT: &str = "5s";

const DAY: TimeDelta = TimeDelta::days(1);

#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("{0} is out of the range of days this can name")]
    OutOfRange(DateTime<Utc>),
}

/// The start of `at`'s UTC day.
pub fn day_start(at: DateTime<Utc>) -> Result<DateTime<Utc>, PartitionError> {
    at.duration_trunc(DAY)
        .map_err(|_| PartitionError::OutOfRange(at))
}

/// `clicks_p20261203` for the day starting at `day`.
pub fn partition_name(table: &str, day: DateTime<Utc>) -> String {
    format!("{table}_p{}", day.format("%Y%m%d"))
}

/// The default partition: rows whose day has no partition of its own.
pub fn default_name(table: &str) -> String {
    format!("{table}_default")
}

fn lock_key(table: &str) -> i32 {
    TABLES
        .iter()
        .position(|t| *t == table)
        .and_then(|i| i32::try_from(i).ok())
        .unwrap_or(i32::MAX)
}

/// A transaction holding the table's maintenance lock, with a bounded wait for
/// the table's own locks.
async fn begin(
    pool: &sqlx::PgPool,
    table: &str,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, PartitionError> {
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(lock_key(table))
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_named_by_their_utc_day() {
        let at = DateTime::parse_from_rfc3339("2026-12-03T23:59:59.999+00:00")
            .unwrap()
            .with_timezone(&Utc);
        let day = day_start(at).unwrap();
        assert_eq!(day.to_rfc3339(), "2026-12-03T00:00:00+00:00");
        assert_eq!(partition_name("clicks", day), "clicks_p20261203");
        assert_eq!(
            default_name("conversion_events"),
            "conversion_events_default"
        );
    }
}
