//! A run as the values of one `smart_link_kpi_runs` row, so a scheduler can
//! insert it and the catalog snapshot can carry it.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::carry::{CarriedOffer, PreviousRun};
use super::window::Window;
use super::{KpiMetric, KpiStrategy, RunResult};
use crate::catalog::source::SmartLinkKpiRunRow;

/// Binds, in order: smart_link_id, ran_at, window_start, window_end, metric,
/// goal, strategy, threshold_met, figures, ranking, shares, ranking_changed,
/// carried.
pub const INSERT_SQL: &str = "INSERT INTO smart_link_kpi_runs
    (smart_link_id, ran_at, window_start, window_end, metric, goal, strategy,
     threshold_met, figures, ranking, shares, ranking_changed, carried)
    VALUES ($1, $2, $3, $4, $5, $6::float8::numeric, $7, $8, $9, $10, $11, $12, $13)";

#[derive(Debug, Clone, PartialEq)]
pub struct KpiRunRecord {
    pub smart_link_id: i64,
    pub ran_at: DateTime<Utc>,
    pub window: Window,
    pub metric: KpiMetric,
    pub goal: Option<f64>,
    pub strategy: KpiStrategy,
    pub threshold_met: bool,
    /// `[{"offer_id", "clicks", ..., "value", "rank", "share"}]`, link order.
    pub figures: serde_json::Value,
    pub ranking: Vec<i64>,
    pub shares: Option<Vec<f64>>,
    pub ranking_changed: bool,
    /// Evidence from before the window for the next run (`kpi::carry`);
    /// `None` for rank runs.
    pub carried: Option<Vec<CarriedOffer>>,
}

/// `previous_ranking`: the link's last recorded ranking, if any.
pub fn record(
    smart_link_id: i64,
    ran_at: DateTime<Utc>,
    window: Window,
    run: &RunResult,
    previous_ranking: Option<&[i64]>,
) -> KpiRunRecord {
    let figures = run
        .offers
        .iter()
        .map(|o| {
            json!({
                "offer_id": o.offer_id,
                "clicks": o.figures.clicks,
                "unique_clicks": o.figures.unique_clicks,
                "conversions": o.figures.conversions,
                "events": o.figures.events,
                "payout": o.figures.payout.to_string(),
                "revenue": o.figures.revenue.to_string(),
                "value": o.value,
                "rank": o.rank,
                "share": o.share,
            })
        })
        .collect();
    KpiRunRecord {
        smart_link_id,
        ran_at,
        window,
        metric: run.metric,
        goal: run.goal,
        strategy: run.strategy,
        threshold_met: run.threshold_met,
        figures: serde_json::Value::Array(figures),
        ranking: run.ranking.clone(),
        shares: (run.strategy == KpiStrategy::Explore && run.threshold_met)
            .then(|| run.shares.clone()),
        ranking_changed: previous_ranking != Some(run.ranking.as_slice()),
        carried: (run.strategy == KpiStrategy::Explore).then(|| run.carried.clone()),
    }
}

impl KpiRunRecord {
    /// What the catalog loader would read back for this run.
    pub fn as_row(&self) -> SmartLinkKpiRunRow {
        SmartLinkKpiRunRow {
            smart_link_id: self.smart_link_id,
            ran_at: self.ran_at,
            strategy: self.strategy,
            threshold_met: self.threshold_met,
            ranking: self.ranking.clone(),
            shares: self.shares.clone(),
        }
    }

    /// What the link's next run reads of this one.
    pub fn as_previous(&self) -> PreviousRun {
        PreviousRun {
            ran_at: self.ran_at,
            window_start: self.window.start,
            carried: self.carried.clone().unwrap_or_default(),
        }
    }
}
