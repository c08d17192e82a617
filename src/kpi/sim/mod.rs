//! `switchyard kpi simulate`: strategies against a market over simulated
//! hours, scored against an oracle that always sends the click to the offer
//! with the best true expected revenue per click.
//!
//! Everything that decides is the production code (`decide_smart_link`,
//! `kpi::optimize`, `Catalog::build`); only the clock, the traffic and the
//! conversions are simulated. Scores use expected revenue (true rate times
//! revenue) rather than the sampled conversions, so luck in the simulated
//! world does not blur the comparison of strategies.

pub mod command;
mod episode;
pub mod market;

use std::fmt::Write;
use std::time::{Duration, Instant};

pub use episode::{Captured, EpisodeError, episode};
pub use market::{Market, MarketError};

use super::KpiStrategy;
use super::explore::ExploreParams;

/// One strategy's results over all seeds.
#[derive(Debug, Clone)]
pub struct StrategyReport {
    pub strategy: KpiStrategy,
    /// Oracle share per seed, in seed order.
    pub shares: Vec<f64>,
    pub elapsed: Duration,
    pub lost_clicks: u64,
}

impl StrategyReport {
    pub fn mean(&self) -> f64 {
        self.shares.iter().sum::<f64>() / self.shares.len().max(1) as f64
    }

    pub fn worst(&self) -> f64 {
        self.shares.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// Runs seeds `0..seeds` of each strategy, on up to `threads` threads.
pub fn simulate(
    market: &Market,
    strategies: &[KpiStrategy],
    seeds: u64,
    params: &ExploreParams,
    threads: usize,
) -> Result<Vec<StrategyReport>, EpisodeError> {
    let mut reports = Vec::new();
    for &strategy in strategies {
        let started = Instant::now();
        let results = run_seeds(market, strategy, seeds, params, threads.max(1))?;
        reports.push(StrategyReport {
            strategy,
            shares: results.iter().map(Captured::share).collect(),
            elapsed: started.elapsed(),
            lost_clicks: results.iter().map(|c| c.lost_clicks).sum(),
        });
    }
    Ok(reports)
}

fn run_seeds(
    market: &Market,
    strategy: KpiStrategy,
    seeds: u64,
    params: &ExploreParams,
    threads: usize,
) -> Result<Vec<Captured>, EpisodeError> {
    let threads = u64::try_from(threads).unwrap_or(1);
    let mut chunks: Vec<Result<Vec<(u64, Captured)>, EpisodeError>> = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .map_err(|e| EpisodeError::Visit(format!("runtime: {e}")))?;
                    let mut out = Vec::new();
                    for seed in (worker..seeds).step_by(threads as usize) {
                        let captured =
                            runtime.block_on(episode(market, strategy, seed, params))?;
                        out.push((seed, captured));
                    }
                    Ok(out)
                })
            })
            .collect();
        for handle in handles {
            chunks.push(
                handle
                    .join()
                    .unwrap_or_else(|_| Err(EpisodeError::Visit("a worker panicked".into()))),
            );
        }
    });
    let mut all = Vec::new();
    for chunk in chunks {
        all.extend(chunk?);
    }
    all.sort_by_key(|&(seed, _)| seed);
    Ok(all.into_iter().map(|(_, c)| c).collect())
}

/// The table `kpi simulate` prints.
pub fn table(market: &Market, seeds: u64, reports: &[StrategyReport]) -> String {
    let link = &market.link;
    let mut out = format!(
        "market: {} ({} offers, {} h at {} clicks/h; metric {:?}, threshold {}, every {} h, lookback {} h; {} seeds)\n",
        market.name,
        market.offers.len(),
        market.hours,
        market.clicks_per_hour,
        link.metric,
        link.threshold,
        link.frequency_hours,
        link.lookback_hours,
        seeds,
    );
    let _ = writeln!(
        out,
        "{:<10} {:>6} {:>6} {:>8}",
        "strategy", "mean", "worst", "time"
    );
    for report in reports {
        let _ = writeln!(
            out,
            "{:<10} {:>6.3} {:>6.3} {:>7.1}s{}",
            format!("{:?}", report.strategy).to_lowercase(),
            report.mean(),
            report.worst(),
            report.elapsed.as_secs_f64(),
            if report.lost_clicks > 0 {
                format!("  ({} clicks discarded)", report.lost_clicks)
            } else {
                String::new()
            },
        );
    }
    out
}
