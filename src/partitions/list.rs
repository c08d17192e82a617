//! The partitions a table has, with their bounds read back from the catalog.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::PartitionError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    pub name: String,
    /// The default partition holds rows no other partition covers.
    pub is_default: bool,
    /// `None`: unbounded (MINVALUE / MAXVALUE), as the legacy partition of
    /// migration 0013 is below.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Partition {
    /// Whether it holds any of [from, to).
    pub fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        !self.is_default
            && self.from.is_none_or(|start| start < to)
            && self.to.is_none_or(|end| end > from)
    }
}

/// Postgres prints a range bound as `FOR VALUES FROM ('<timestamptz>') TO
/// (...)`, with the offset, or `MINVALUE` / `MAXVALUE` unquoted; the quoted
/// text casts back to the exact instant whatever the session's time zone.
const LIST_SQL: &str = "
SELECT c.relname::text,
       b = 'DEFAULT',
       (regexp_match(b, 'FROM \\(''([^'']*)''\\)'))[1]::timestamptz,
       (regexp_match(b, 'TO \\(''([^'']*)''\\)'))[1]::timestamptz
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
CROSS JOIN LATERAL pg_get_expr(c.relpartbound, c.oid) AS b
WHERE i.inhparent = $1::text::regclass
ORDER BY 3 NULLS FIRST, 1";

/// Every partition of `table`, oldest first (the default one among the
/// unbounded ones).
pub async fn list(conn: &mut PgConnection, table: &str) -> Result<Vec<Partition>, PartitionError> {
    let rows =
        sqlx::query_as::<_, (String, bool, Option<DateTime<Utc>>, Option<DateTime<Utc>>)>(LIST_SQL)
            .bind(table)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(name, is_default, from, to)| Partition {
            name,
            is_default,
            from,
            to,
        })
        .collect())
}
