//! `switchyard kpi simulate --market FILE [--seeds N] [--strategy S]`.

use std::path::PathBuf;

use anyhow::Context;

use super::{Market, simulate, table};
use crate::kpi::KpiStrategy;
use crate::kpi::explore::ExploreParams;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Market file (YAML, docs/KPI.md); repeat for several markets.
    #[arg(long = "market", required = true)]
    markets: Vec<PathBuf>,
    /// Seeds per strategy (0..N).
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// Only this strategy; default: the market's, else both.
    #[arg(long, value_parser = parse_strategy)]
    strategy: Option<KpiStrategy>,
    /// Exploring strategy: the least traffic share of any offer.
    #[arg(long)]
    min_share: Option<f64>,
    /// Exploring strategy: shares follow P(best) to this power.
    #[arg(long)]
    sharpen: Option<f64>,
    /// Exploring strategy: carried evidence counts half every this many hours.
    #[arg(long)]
    half_life: Option<f64>,
    /// Exploring strategy: standard errors between an offer's window and
    /// carried rates that mean its rate changed.
    #[arg(long)]
    change_z: Option<f64>,
    /// Worker threads (seeds run in parallel).
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn parse_strategy(text: &str) -> Result<KpiStrategy, String> {
    match text {
        "rank" => Ok(KpiStrategy::Rank),
        "explore" => Ok(KpiStrategy::Explore),
        other => Err(format!("`{other}` is not a strategy (rank, explore)")),
    }
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let mut params = ExploreParams::default();
    if let Some(min_share) = args.min_share {
        params.min_share = min_share;
    }
    if let Some(sharpen) = args.sharpen {
        params.sharpen = sharpen;
    }
    if let Some(half_life) = args.half_life {
        params.half_life_hours = half_life;
    }
    if let Some(change_z) = args.change_z {
        params.change_z = change_z;
    }
    for path in &args.markets {
        let market = Market::load(path)?;
        let strategies = match (args.strategy, market.link.strategy) {
            (Some(s), _) | (None, Some(s)) => vec![s],
            (None, None) => vec![KpiStrategy::Rank, KpiStrategy::Explore],
        };
        let reports = simulate(&market, &strategies, args.seeds, &params, args.threads)
            .with_context(|| format!("simulating {}", path.display()))?;
        println!("{}", table(&market, args.seeds, &reports));
    }
    Ok(())
}
