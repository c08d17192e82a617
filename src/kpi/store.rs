//! The production `FiguresSource`: a link's per-offer figures over a window,
//! read from the hourly rollups (`smart_link_offer_hourly`, migration 0009),
//! never from raw clicks, so a run costs a few rows per offer and hour whatever
//! the click volume. `FiguresSource` is synchronous (the optimizer is pure), so
//! the figures are loaded first and then handed over.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::metric::Figures;
use super::run::FiguresSource;
use super::window::Window;
use crate::catalog::money::Micros;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
}

/// Sums per offer of the hours that start inside `[start, end)`: whole hours
/// are all the rollups know, and an hour that started before a mid-hour reset
/// holds clicks from before it, so it is left out (as `memory::HourlyFigures`
/// does). Money is rounded to micros and clamped to `i64`: the rollups are
/// unbounded `numeric`, and a clamped sum still ranks as the largest.
const FIGURES_SQL: &str = "
    SELECT hour, offer_id,
           sum(clicks)::int8 AS clicks,
           sum(unique_clicks)::int8 AS unique_clicks,
           sum(conversions)::int8 AS conversions,
           sum(events)::int8 AS events,
           least(greatest(round(sum(payout) * 1000000), -9223372036854775808), 9223372036854775807)::int8 AS payout,
           least(greatest(round(sum(revenue) * 1000000), -9223372036854775808), 9223372036854775807)::int8 AS revenue
    FROM smart_link_offer_hourly
    WHERE smart_link_id = $1 AND hour >= $2 AND hour < $3
    GROUP BY hour, offer_id
    ORDER BY hour, offer_id";

#[derive(sqlx::FromRow)]
struct Row {
    hour: DateTime<Utc>,
    offer_id: i64,
    clicks: i64,
    unique_clicks: i64,
    conversions: i64,
    events: i64,
    payout: i64,
    revenue: i64,
}

/// One link's figures per hour over the span a run reads (`run::reads`: its
/// window and, for an exploring link, the hours that left it since the last
/// run), loaded ahead of the (synchronous) run, which sums the stretches it
/// needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedFigures {
    pub link: i64,
    pub span: Window,
    /// Per hour (its start) and offer.
    pub hours: Vec<(DateTime<Utc>, i64, Figures)>,
}

/// Reads `link`'s hourly figures over `span` from the rollups.
pub async fn load(
    conn: &mut PgConnection,
    link: i64,
    span: Window,
) -> Result<LoadedFigures, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(FIGURES_SQL)
        .bind(link)
        .bind(span.start)
        .bind(span.end)
        .fetch_all(conn)
        .await?;
    // Counts are never negative in the rollups; a negative one would be a bug
    // elsewhere, and reading it as zero keeps the run going.
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let hours = rows
        .into_iter()
        .map(|r| {
            (
                r.hour,
                r.offer_id,
                Figures {
                    clicks: count(r.clicks),
                    unique_clicks: count(r.unique_clicks),
                    conversions: count(r.conversions),
                    events: count(r.events),
                    payout: Micros(r.payout),
                    revenue: Micros(r.revenue),
                },
            )
        })
        .collect();
    Ok(LoadedFigures { link, span, hours })
}

impl FiguresSource for LoadedFigures {
    /// The loaded hours that start inside `[from, to)`, if that lies inside
    /// the loaded span. Any other request is a caller bug (the run computes
    /// its reads from the same link, previous run and clock); answering with
    /// no figures keeps the run honest (below the threshold) rather than
    /// attributing part of a window's data to all of it.
    fn figures(&self, link: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(i64, Figures)> {
        if link != self.link || from < self.span.start || to > self.span.end {
            tracing::error!(
                link,
                %from,
                %to,
                "KPI figures asked for hours that were not loaded"
            );
            return Vec::new();
        }
        let mut sums: BTreeMap<i64, Figures> = BTreeMap::new();
        for (_, offer, figures) in self
            .hours
            .iter()
            .filter(|(hour, _, _)| *hour >= from && *hour < to)
        {
            sums.entry(*offer).or_default().add(figures);
        }
        sums.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn loaded_hours_answer_any_stretch_inside_the_span_and_nothing_outside() {
        let t = |h: u32| Utc.with_ymd_and_hms(2024, 1, 1, h, 0, 0).unwrap();
        let clicks = |n: u64| Figures {
            clicks: n,
            ..Figures::default()
        };
        let loaded = LoadedFigures {
            link: 7,
            span: Window {
                start: t(0),
                end: t(3),
            },
            hours: vec![
                (t(0), 1, clicks(1)),
                (t(1), 1, clicks(2)),
                (t(2), 2, clicks(4)),
            ],
        };
        assert_eq!(
            loaded.figures(7, t(0), t(3)),
            vec![(1, clicks(3)), (2, clicks(4))]
        );
        assert_eq!(loaded.figures(7, t(1), t(2)), vec![(1, clicks(2))]);
        assert!(loaded.figures(7, t(0), t(4)).is_empty(), "not loaded");
        assert!(loaded.figures(8, t(0), t(3)).is_empty(), "another link");
    }
}
