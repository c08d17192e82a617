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
                        let captured = runtime.block_on(episode(market, strategy, seed, params))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Offer 2 converts five times as often: after the 1,000-click threshold
    /// (two hours of even spread) ranking sends every click to it.
    const ONE_BEST: &str = "
name: one strictly best
hours: 48
clicks_per_hour: 500
link: { metric: rpc, threshold: 1000, frequency_hours: 1, lookback_hours: 24 }
offers:
  - { id: 1, conversion_rate: 0.02, payout: 1, revenue: 2 }
  - { id: 2, conversion_rate: 0.10, payout: 1, revenue: 2 }
";

    #[test]
    fn ranking_captures_nearly_all_of_the_oracle_when_one_offer_is_strictly_best() {
        let market = Market::parse(ONE_BEST, "test").unwrap();
        let reports = simulate(
            &market,
            &[KpiStrategy::Rank, KpiStrategy::Explore],
            3,
            &ExploreParams::default(),
            1,
        )
        .unwrap();
        // Even spread for 2 of 48 hours costs 2/48 * (1 - 0.6) = 1.7%.
        let expected = 1.0 - 2.0 / 48.0 * 0.4;
        for share in &reports[0].shares {
            assert!(
                (share - expected).abs() < 0.002,
                "rank: {share} vs {expected}"
            );
        }
        assert_eq!(reports[0].lost_clicks, 0);
        assert!(
            reports[1].worst() > 0.95,
            "explore: {:?}",
            reports[1].shares
        );
    }

    #[test]
    fn an_episode_is_reproducible() {
        let market = Market::parse(ONE_BEST, "test").unwrap();
        let run = || {
            simulate(
                &market,
                &[KpiStrategy::Explore],
                2,
                &ExploreParams::default(),
                2,
            )
            .unwrap()
            .remove(0)
            .shares
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn the_shipped_markets_parse() {
        for (name, text) in [
            (
                "close",
                include_str!("../../../examples/markets/close.yaml"),
            ),
            (
                "close-drop",
                include_str!("../../../examples/markets/close-drop.yaml"),
            ),
            (
                "winner",
                include_str!("../../../examples/markets/winner.yaml"),
            ),
            (
                "winner-drift",
                include_str!("../../../examples/markets/winner-drift.yaml"),
            ),
            (
                "two-offers",
                include_str!("../../../examples/markets/two-offers.yaml"),
            ),
            (
                "late-improver",
                include_str!("../../../examples/markets/late-improver.yaml"),
            ),
        ] {
            let market = Market::parse(text, name).unwrap();
            assert_eq!((market.hours, market.clicks_per_hour), (168, 500), "{name}");
            assert_eq!(market.link.threshold, 1_000, "{name}");
        }
    }

    #[test]
    fn drift_multiplies_from_its_hour() {
        let market = Market::parse(
            &format!("{ONE_BEST}drift: [{{ hour: 10, offer: 2, factor: 0.5 }}, {{ hour: 20, offer: 2, factor: 0.5 }}]"),
            "test",
        )
        .unwrap();
        assert_eq!(market.rates_at(9), vec![0.02, 0.10]);
        assert_eq!(market.rates_at(10), vec![0.02, 0.05]);
        assert_eq!(market.rates_at(20), vec![0.02, 0.025]);
    }
}
