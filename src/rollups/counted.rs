//! The event writer's statement for the raw tables that feed the rollups: their
//! `INSERT .. ON CONFLICT DO NOTHING` run as data-modifying CTEs, and what they
//! return (only the rows actually inserted) is added to both rollup tables in
//! the same statement, hence the same transaction.
//!
//! One statement for every source, not one per source: each upsert locks the
//! rollup rows it adds to until commit, and two instances writing at once
//! would deadlock if each locked a hot row in a different statement order.
//! Here each transaction locks its rollup rows in one pass, sorted by key,
//! `smart_link_offer_hourly` before `offer_partner_hourly` (the order
//! `rollup_rebuild` locks the tables in, too).

use std::fmt::Write;

/// A raw table whose inserted rows count in the rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Clicks,
    Conversions,
    ConversionEvents,
}

impl Source {
    fn cte(self) -> &'static str {
        match self {
            Source::Clicks => "new_clicks",
            Source::Conversions => "new_conversions",
            Source::ConversionEvents => "new_conversion_events",
        }
    }

    /// What the rollups need of an inserted row; `counted` says whether it
    /// counts at all (redirected, approved).
    fn returning(self) -> &'static str {
        match self {
            Source::Clicks => {
                "smart_link_id, offer_id, partner_id, created_at, outcome = 'redirected' AS counted, is_unique"
            }
            Source::Conversions | Source::ConversionEvents => {
                "smart_link_id, offer_id, partner_id, created_at, status = 'approved' AS counted, payout, revenue"
            }
        }
    }

    /// Its figures: clicks, unique_clicks, conversions, events, payout, revenue.
    fn figures(self) -> &'static str {
        match self {
            Source::Clicks => {
                "1, CASE WHEN is_unique THEN 1 ELSE 0 END, 0, 0, 0::numeric, 0::numeric"
            }
            Source::Conversions => "0, 0, 1, 0, payout, revenue",
            Source::ConversionEvents => "0, 0, 0, 1, payout, revenue",
        }
    }
}

/// The rollup tables, in the order every statement touches them.
const ROLLUPS: [(&str, &str, &str); 2] = [
    (
        "smart_link_offer_hourly",
        "smart_link_id, offer_id, hour",
        "smart_link_id IS NOT NULL",
    ),
    (
        "offer_partner_hourly",
        "offer_id, partner_id, hour",
        "partner_id IS NOT NULL",
    ),
];

const FIGURES: [&str; 6] = [
    "clicks",
    "unique_clicks",
    "conversions",
    "events",
    "payout",
    "revenue",
];

/// One statement running each `(source, insert)` (an `INSERT .. SELECT .. ON
/// CONFLICT DO NOTHING` without `RETURNING`) and adding what it inserted to
/// the rollups. It returns one row: the rollup rows upserted in
/// `smart_link_offer_hourly` and in `offer_partner_hourly`.
pub fn statement(inserts: &[(Source, String)]) -> String {
    let mut sql = String::from("WITH ");
    for (source, insert) in inserts {
        let _ = write!(
            sql,
            "{} AS ({insert} RETURNING {}), ",
            source.cte(),
            source.returning()
        );
    }
    // Summed once per (smart link, offer, partner, hour) here, so that each
    // rollup groups a few dozen rows rather than the whole batch again.
    sql.push_str(
        "figures (smart_link_id, offer_id, partner_id, hour, clicks, unique_clicks, conversions, events, payout, revenue) AS (\
         SELECT smart_link_id, offer_id, partner_id, date_trunc('hour', created_at, 'UTC'), \
         sum(clicks), sum(unique_clicks), sum(conversions), sum(events), sum(payout), sum(revenue) FROM (",
    );
    for (i, (source, _)) in inserts.iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        let _ = write!(
            sql,
            "SELECT smart_link_id, offer_id, partner_id, created_at, {} FROM {} WHERE counted AND offer_id IS NOT NULL",
            source.figures(),
            source.cte()
        );
    }
    // Hours are cut in UTC whatever the session's time zone: a zone with a
    // half-hour offset would otherwise shift every bucket.
    sql.push_str(
        ") AS inserted (smart_link_id, offer_id, partner_id, created_at, clicks, unique_clicks, conversions, events, payout, revenue) \
         GROUP BY 1, 2, 3, 4)",
    );
    let sums: Vec<String> = FIGURES.iter().map(|f| format!("sum({f})")).collect();
    let sums = sums.join(", ");
    let adds: Vec<String> = FIGURES
        .iter()
        .map(|f| format!("{f} = r.{f} + EXCLUDED.{f}"))
        .collect();
    let adds = adds.join(", ");
    let figures = FIGURES.join(", ");
    for (i, (table, key, filter)) in ROLLUPS.iter().enumerate() {
        // ORDER BY: rows are locked in key order, so two writers never wait
        // on each other in a cycle.
        let _ = write!(
            sql,
            ", upserted_{i} AS (INSERT INTO {table} AS r ({key}, {figures}) \
             SELECT {key}, {sums} FROM figures WHERE {filter} GROUP BY {key} ORDER BY {key} \
             ON CONFLICT ({key}) DO UPDATE SET {adds} RETURNING 1)"
        );
    }
    sql.push_str(" SELECT (SELECT count(*) FROM upserted_0), (SELECT count(*) FROM upserted_1)");
    sql
}

/// Rollup rows a committed batch added to, per table: how much work the
/// rollups cost the writer.
pub fn record_upserted(link_rows: i64, partner_rows: i64) {
    for ((table, _, _), rows) in ROLLUPS.iter().zip([link_rows, partner_rows]) {
        metrics::counter!("switchyard_rollup_rows_upserted_total", "table" => *table)
            .increment(u64::try_from(rows).unwrap_or(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_names_the_rollups_in_lock_order_after_the_raw_tables() {
        let sql = statement(&[
            (Source::Clicks, "INSERT INTO clicks SELECT 1".to_owned()),
            (
                Source::ConversionEvents,
                "INSERT INTO conversion_events SELECT 1".to_owned(),
            ),
        ]);
        let at = |needle: &str| {
            sql.find(needle)
                .unwrap_or_else(|| panic!("{needle}: {sql}"))
        };
        assert!(at("INSERT INTO clicks") < at("INSERT INTO conversion_events"));
        assert!(at("INSERT INTO conversion_events") < at("INSERT INTO smart_link_offer_hourly"));
        assert!(at("INSERT INTO smart_link_offer_hourly") < at("INSERT INTO offer_partner_hourly"));
        assert!(!sql.contains("new_conversions "), "only the sources given");
    }
}
