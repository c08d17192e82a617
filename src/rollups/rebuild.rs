//! `switchyard rollup rebuild`: recomputes the rollups of a range of hours from
//! the raw tables, after a restore, for data older than the rollups, or for
//! rows written by an instance that did not maintain them yet.
//!
//! One transaction per hour (`rollup_rebuild` in migration 0009), not one for
//! the range: each holds the rollup tables' lock, and the writer waits for it,
//! so it must last as long as aggregating one hour takes, not a month. Each
//! hour is replaced whole, so a rebuild stopped halfway leaves every hour
//! correct, the rebuilt ones and the others.

use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::PgPool;

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("the range is empty: --from {from} is not before --to {to}")]
    EmptyRange {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[error("{0} cannot be rounded to the hour")]
    Unrepresentable(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// The hours rebuilt: [from, to), whole hours.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub hours: u64,
    /// Rollup rows written, per table.
    pub link_rows: u64,
    pub partner_rows: u64,
    pub took: Duration,
    /// The longest one-hour transaction: how long the writer may have waited.
    pub longest_hour: Duration,
}

const HOUR: TimeDelta = TimeDelta::hours(1);

/// Rebuilds every hour that overlaps [from, to): `from` is rounded down and
/// `to` up to the hour. A missing bound means the first (last) hour holding a
/// raw row or a rollup row.
pub async fn rebuild(
    pool: &PgPool,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<RebuildReport, RebuildError> {
    let started = Instant::now();
    let mut report = RebuildReport {
        from: None,
        to: None,
        hours: 0,
        link_rows: 0,
        partner_rows: 0,
        took: Duration::ZERO,
        longest_hour: Duration::ZERO,
    };
    let (first, last) = match (from, to) {
        (Some(from), Some(to)) => (Some(from), Some(to)),
        _ => {
            let (first, last) = stored_bounds(pool).await?;
            // The last stored instant is inside its hour: rebuild that hour too.
            (
                from.or(first),
                to.or(last.map(|t| t + TimeDelta::microseconds(1))),
            )
        }
    };
    let (Some(first), Some(last)) = (first, last) else {
        // Nothing stored anywhere: nothing to rebuild.
        report.took = started.elapsed();
        return Ok(report);
    };
    let lo = floor_hour(first)?;
    let hi = ceil_hour(last)?;
    if lo >= hi {
        return Err(RebuildError::EmptyRange {
            from: first,
            to: last,
        });
    }
    report.from = Some(lo);
    report.to = Some(hi);
    let mut hour = lo;
    while hour < hi {
        let one = Instant::now();
        let (link_rows, partner_rows): (i64, i64) =
            sqlx::query_as("SELECT link_rows, partner_rows FROM rollup_rebuild($1, $2)")
                .bind(hour)
                .bind(hour + HOUR)
                .fetch_one(pool)
                .await?;
        let took = one.elapsed();
        metrics::histogram!("switchyard_rollup_rebuild_hour_seconds").record(took.as_secs_f64());
        report.longest_hour = report.longest_hour.max(took);
        report.hours += 1;
        report.link_rows += u64::try_from(link_rows).unwrap_or(0);
        report.partner_rows += u64::try_from(partner_rows).unwrap_or(0);
        if report.hours.is_multiple_of(24) {
            tracing::info!(%hour, hours = report.hours, "rollups rebuilt up to this hour");
        }
        hour += HOUR;
    }
    report.took = started.elapsed();
    metrics::counter!("switchyard_rollup_rebuild_hours_total").increment(report.hours);
    Ok(report)
}

/// The first and last instant holding a raw row that counts or a rollup row.
async fn stored_bounds(
    pool: &PgPool,
) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>), sqlx::Error> {
    sqlx::query_as(
        "SELECT min(lo), max(hi) FROM (
             SELECT min(created_at) AS lo, max(created_at) AS hi FROM clicks
             UNION ALL SELECT min(created_at), max(created_at) FROM conversions
             UNION ALL SELECT min(created_at), max(created_at) FROM conversion_events
             UNION ALL SELECT min(hour), max(hour) FROM smart_link_offer_hourly
             UNION ALL SELECT min(hour), max(hour) FROM offer_partner_hourly
         ) bounds",
    )
    .fetch_one(pool)
    .await
}

fn floor_hour(t: DateTime<Utc>) -> Result<DateTime<Utc>, RebuildError> {
    t.duration_trunc(HOUR)
        .map_err(|_| RebuildError::Unrepresentable(t))
}

fn ceil_hour(t: DateTime<Utc>) -> Result<DateTime<Utc>, RebuildError> {
    let floor = floor_hour(t)?;
    if floor == t {
        Ok(t)
    } else {
        floor
            .checked_add_signed(HOUR)
            .ok_or(RebuildError::Unrepresentable(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_range_covers_every_hour_it_touches() {
        assert_eq!(
            floor_hour(at("2024-05-01T10:59:59Z")).unwrap(),
            at("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            ceil_hour(at("2024-05-01T10:00:01Z")).unwrap(),
            at("2024-05-01T11:00:00Z")
        );
        assert_eq!(
            ceil_hour(at("2024-05-01T11:00:00Z")).unwrap(),
            at("2024-05-01T11:00:00Z")
        );
    }
}
