//! One optimizer run for one link: the window, the figures, then `rank` or
//! `explore` by the link's strategy. The caller supplies the clock and the rng,
//! so the scheduler, the simulator and tests run the very same code.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;

use super::explore::{ExploreParams, explore};
use super::metric::Figures;
use super::rank::rank;
use super::{KpiStrategy, RunResult};
use crate::catalog::SmartLink;

/// Where a run's figures come from: hourly figures per offer within a link.
/// The simulator keeps them in memory (`memory::HourlyFigures`); production
/// reads the hourly rollup tables.
pub trait FiguresSource {
    /// Each offer's figures within `link` over clicks in `[from, to)`. Offers
    /// without traffic may be missing; the run fills them in.
    fn figures(&self, link: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(i64, Figures)>;
}

/// The clicks a run reads: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The lookback window ending at `now`, cut at the link's last reset: data
/// from before a reset is never used.
pub fn window(link: &SmartLink, now: DateTime<Utc>) -> Window {
    let lookback = now - Duration::hours(i64::from(link.kpi.lookback_hours));
    let start = match link.optimization_reset_at {
        Some(reset) if reset > lookback => reset.min(now),
        _ => lookback,
    };
    Window { start, end: now }
}

/// Runs the optimizer for `link` at `now`. Only the link's regular offers are
/// ranked (the Catch All is the fallback, not a candidate), each exactly once,
/// in the link's order, with empty figures when the source has none.
pub fn optimize(
    link: &SmartLink,
    source: &impl FiguresSource,
    now: DateTime<Utc>,
    params: &ExploreParams,
    rng: &mut impl Rng,
) -> (Window, RunResult) {
    let window = window(link, now);
    let measured = source.figures(link.id, window.start, window.end);
    let offers: Vec<(i64, Figures)> = link
        .offers
        .iter()
        .map(|entry| {
            let figures = measured
                .iter()
                .filter(|(id, _)| *id == entry.offer_id)
                .fold(Figures::default(), |mut sum, (_, f)| {
                    sum.add(f);
                    sum
                });
            (entry.offer_id, figures)
        })
        .collect();
    let run = match link.kpi.strategy {
        KpiStrategy::Rank => rank(&link.kpi, &offers),
        KpiStrategy::Explore => explore(&link.kpi, &offers, params, rng),
    };
    (window, run)
}
