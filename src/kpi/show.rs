//! `switchyard kpi run` and `switchyard kpi show`: the logic behind the two
//! commands, so `cli.rs` only parses arguments.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::scheduler::{KpiRunError, Mode, Outcome, run_and_observe};
use crate::catalog::source::RedirectMechanism;
use crate::catalog::{Catalog, Origin, postgres};

#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("loading the catalog: {0}")]
    Load(String),
    #[error("smart link {0} does not exist")]
    UnknownLink(i64),
    #[error(transparent)]
    Run(#[from] KpiRunError),
}

/// The catalog as the server would build it, for the commands.
pub async fn load_catalog(pool: &PgPool) -> Result<Catalog, ShowError> {
    let source = postgres::load(pool, None)
        .await
        .map_err(|e| ShowError::Load(e.to_string()))?;
    Catalog::build(source, Origin::Postgres, 1).map_err(|e| ShowError::Load(e.to_string()))
}

/// `kpi run`: runs `link` (or every KPI link) now, whatever its frequency,
/// through the scheduler's `run_link` and its lock.
pub async fn run_now(
    pool: &PgPool,
    link: Option<i64>,
    dry_run: bool,
) -> Result<Vec<(i64, Outcome)>, ShowError> {
    let catalog = load_catalog(pool).await?;
    let links: Vec<i64> = match link {
        Some(id) => {
            if catalog.smart_link(id).is_none() {
                return Err(ShowError::UnknownLink(id));
            }
            vec![id]
        }
        None => catalog
            .smart_links()
            .filter(|l| l.mechanism == RedirectMechanism::Kpi)
            .map(|l| l.id)
            .collect(),
    };
    let mut outcomes = Vec::new();
    for id in links {
        let outcome = run_and_observe(pool, &catalog, id, Utc::now(), Mode::Force, dry_run).await?;
        outcomes.push((id, outcome));
    }
    Ok(outcomes)
}

/// One recorded run, as the card lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunSummary {
    pub id: i64,
    pub ran_at: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub threshold_met: bool,
    pub ranking: Vec<i64>,
    pub shares: Option<Vec<f64>>,
    pub ranking_changed: bool,
    #[serde(skip)]
    pub figures: serde_json::Value,
}

/// The KPI overview card of a link.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub smart_link_id: i64,
    pub name: String,
    pub mechanism: RedirectMechanism,
    pub metric: super::KpiMetric,
    pub goal: Option<f64>,
    pub min_clicks: u64,
    pub frequency_hours: u32,
    pub lookback_hours: u32,
    pub strategy: super::KpiStrategy,
    pub optimization_reset_at: Option<DateTime<Utc>>,
    /// The latest run since the reset: what routing uses now.
    pub current: Option<RunSummary>,
    /// `None`: due now (no run since the reset, or overdue).
    pub next_run: Option<DateTime<Utc>>,
    /// Per-offer figures of the latest run (since the reset).
    pub last_figures: serde_json::Value,
    /// The last runs (10 for `kpi show`), newest first (before the reset too).
    pub runs: Vec<RunSummary>,
}

/// How many runs `kpi show` lists.
pub const RUNS_SHOWN: i64 = 10;

/// `kpi show`: the card of `link_id` on a catalog loaded now.
pub async fn overview(pool: &PgPool, link_id: i64) -> Result<Overview, ShowError> {
    let catalog = load_catalog(pool).await?;
    overview_in(pool, &catalog, link_id, RUNS_SHOWN).await
}

/// The card of `link_id` with its settings from `catalog` (the server passes
/// the snapshot it routes with) and its last `runs` runs.
pub async fn overview_in(
    pool: &PgPool,
    catalog: &Catalog,
    link_id: i64,
    runs: i64,
) -> Result<Overview, ShowError> {
    let link = catalog
        .smart_link(link_id)
        .ok_or(ShowError::UnknownLink(link_id))?;
    let runs: Vec<RunSummary> = sqlx::query_as(
        "SELECT id, ran_at, window_start, window_end, threshold_met, ranking, shares,
                ranking_changed, figures
         FROM smart_link_kpi_runs WHERE smart_link_id = $1
         ORDER BY ran_at DESC, id DESC LIMIT $2",
    )
    .bind(link_id)
    .bind(runs)
    .fetch_all(pool)
    .await?;
    let current = runs
        .iter()
        .find(|r| {
            link.optimization_reset_at
                .is_none_or(|reset| r.ran_at >= reset)
        })
        .cloned();
    let next_run = current
        .as_ref()
        .map(|r| r.ran_at + Duration::hours(i64::from(link.kpi.frequency_hours)))
        .filter(|next| *next > Utc::now());
    Ok(Overview {
        smart_link_id: link.id,
        name: link.name.clone(),
        mechanism: link.mechanism,
        metric: link.kpi.metric,
        goal: link.kpi.goal,
        min_clicks: link.kpi.min_clicks,
        frequency_hours: link.kpi.frequency_hours,
        lookback_hours: link.kpi.lookback_hours,
        strategy: link.kpi.strategy,
        optimization_reset_at: link.optimization_reset_at,
        last_figures: current
            .as_ref()
            .map(|r| r.figures.clone())
            .unwrap_or(serde_json::Value::Null),
        current,
        next_run,
        runs,
    })
}

impl Overview {
    /// The card as text.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "smart link {} ({})", self.smart_link_id, self.name);
        let _ = writeln!(
            out,
            "  mechanism {:?}, metric {:?}, goal {}, threshold {} clicks, every {} h, lookback {} h, strategy {:?}",
            self.mechanism,
            self.metric,
            self.goal.map_or("none".to_owned(), |g| g.to_string()),
            self.min_clicks,
            self.frequency_hours,
            self.lookback_hours,
            self.strategy
        );
        let _ = writeln!(
            out,
            "  reset at {}",
            self.optimization_reset_at
                .map_or("never".to_owned(), |r| r.to_rfc3339())
        );
        match &self.current {
            Some(run) => {
                let _ = writeln!(
                    out,
                    "  last run {} (window {} .. {}), threshold met: {}",
                    run.ran_at, run.window_start, run.window_end, run.threshold_met
                );
                let _ = writeln!(out, "  ranking {:?}, shares {:?}", run.ranking, run.shares);
            }
            None => {
                let _ = writeln!(out, "  no run since the reset: traffic spread evenly");
            }
        }
        let _ = writeln!(
            out,
            "  next run {}",
            self.next_run
                .map_or("due now".to_owned(), |n| n.to_string())
        );
        if let serde_json::Value::Array(offers) = &self.last_figures {
            let _ = writeln!(
                out,
                "  offer      clicks  unique  conv  events      payout     revenue  value  rank  share"
            );
            // serde_json's Display ignores widths: format each cell as text.
            let cell = |v: &serde_json::Value| match v {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Null => "-".to_owned(),
                serde_json::Value::Number(n) if n.is_f64() => {
                    format!("{:.4}", n.as_f64().unwrap_or_default())
                }
                other => other.to_string(),
            };
            for o in offers {
                let _ = writeln!(
                    out,
                    "  {:<8} {:>8} {:>7} {:>5} {:>7} {:>11} {:>11} {:>6} {:>5} {:>6}",
                    cell(&o["offer_id"]),
                    cell(&o["clicks"]),
                    cell(&o["unique_clicks"]),
                    cell(&o["conversions"]),
                    cell(&o["events"]),
                    cell(&o["payout"]),
                    cell(&o["revenue"]),
                    cell(&o["value"]),
                    cell(&o["rank"]),
                    cell(&o["share"])
                );
            }
        }
        let _ = writeln!(out, "  last {} runs:", self.runs.len());
        for run in &self.runs {
            let _ = writeln!(
                out,
                "    {}  threshold {}  ranking {:?}{}",
                run.ran_at,
                run.threshold_met,
                run.ranking,
                if run.ranking_changed {
                    "  (changed)"
                } else {
                    ""
                }
            );
        }
        out
    }
}
