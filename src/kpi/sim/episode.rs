//! One simulated run of a market with one strategy and one seed: the real
//! routing decision on every click, the real optimizer at the link's
//! frequency, each run reaching routing through a rebuilt catalog snapshot.

use std::net::IpAddr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::market::{LINK_ID, Market};
use crate::catalog::money::Micros;
use crate::catalog::{Catalog, CatalogErrors, Origin};
use crate::counters::CounterStore;
use crate::kpi::explore::ExploreParams;
use crate::kpi::memory::HourlyFigures;
use crate::kpi::record::{KpiRunRecord, record};
use crate::kpi::{Figures, KpiStrategy, optimize};
use crate::routing::smart_link::decide_smart_link;
use crate::routing::{Inputs, Outcome, TransactionId};
use crate::visit::{TrackingParams, Visit};

#[derive(Debug, thiserror::Error)]
pub enum EpisodeError {
    #[error("the simulated catalog is invalid: {0}")]
    Catalog(#[from] CatalogErrors),
    #[error("the simulated link is missing from its catalog")]
    NoLink,
    #[error("the simulated visit is invalid: {0}")]
    Visit(String),
}

/// Expected revenue: what the strategy's choices were worth under the true
/// conversion rates, and what the oracle's would have been.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Captured {
    pub revenue: f64,
    pub oracle: f64,
    /// Clicks no offer took (should stay 0: the simulated offers accept all).
    pub lost_clicks: u64,
}

impl Captured {
    pub fn share(&self) -> f64 {
        if self.oracle > 0.0 {
            self.revenue / self.oracle
        } else {
            1.0
        }
    }
}

fn units(amount: Micros) -> f64 {
    amount.0 as f64 / 1_000_000.0
}

/// Seeds split so routing, conversions and the optimizer draw from separate
/// streams: changing one never shifts the others.
fn rng(seed: u64, stream: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream)
}

pub async fn episode(
    market: &Market,
    strategy: KpiStrategy,
    seed: u64,
    params: &ExploreParams,
) -> Result<Captured, EpisodeError> {
    let mut source = market.catalog_source(strategy);
    let mut version = 1;
    let mut catalog = Catalog::build(source.clone(), Origin::Test, version)?;
    let counters = CounterStore::local_only(Some(1_024));
    let params_query = format!("affid={}", super::market::PARTNER_ID);
    let tracking = TrackingParams::parse(&params_query, false)
        .map_err(|e| EpisodeError::Visit(format!("{e:?}")))?;
    let visit = Visit::bare(tracking, IpAddr::from([192, 0, 2, 1]), "simulator");
    let start: DateTime<Utc> = Utc
        .timestamp_opt(1_704_067_200, 0)
        .single()
        .unwrap_or_default();
    let mut store = HourlyFigures::default();
    let mut route_rng = rng(seed, 1);
    let mut world_rng = rng(seed, 2);
    let mut optimizer_rng = rng(seed, 3);
    let mut previous: Option<KpiRunRecord> = None;
    let mut captured = Captured::default();
    let spacing = 3_600_000 / i64::from(market.clicks_per_hour);
    let mut transaction = 0u128;

    for hour in 0..market.hours {
        let hour_start = start + Duration::hours(i64::from(hour));
        if hour > 0 && hour % market.link.frequency_hours == 0 {
            let link = catalog.smart_link(LINK_ID).ok_or(EpisodeError::NoLink)?;
            let last = previous.as_ref().map(KpiRunRecord::as_previous);
            let (window, run) = optimize(
                link,
                &store,
                last.as_ref(),
                hour_start,
                params,
                &mut optimizer_rng,
            );
            let row = record(
                LINK_ID,
                hour_start,
                window,
                &run,
                previous.as_ref().map(|p| p.ranking.as_slice()),
            );
            source.smart_link_kpi_runs = vec![row.as_row()];
            previous = Some(row);
            version += 1;
            catalog = Catalog::build(source.clone(), Origin::Test, version)?;
        }
        let rates = market.rates_at(hour);
        let worth: Vec<f64> = market
            .offers
            .iter()
            .zip(&rates)
            .map(|(o, rate)| rate * units(o.revenue))
            .collect();
        let best = worth.iter().copied().fold(0.0, f64::max);
        captured.oracle += best * f64::from(market.clicks_per_hour);
        let mut hour_figures = vec![Figures::default(); market.offers.len()];
        for click in 0..market.clicks_per_hour {
            transaction += 1;
            let inputs = Inputs {
                transaction_id: TransactionId(transaction),
                catalog: &catalog,
                counters: &counters,
                visit: &visit,
                now: hour_start + Duration::milliseconds(i64::from(click) * spacing),
                checks: &crate::checks::NO_CHECKS,
            };
            let decision = decide_smart_link(&inputs, LINK_ID, &mut route_rng, None).await;
            let taken = match decision.outcome {
                Outcome::Redirect { offer_id, .. } => {
                    market.offers.iter().position(|o| o.id == offer_id)
                }
                Outcome::Discard { .. } => None,
            };
            let Some(index) = taken else {
                captured.lost_clicks += 1;
                continue;
            };
            captured.revenue += worth[index];
            let converted = world_rng.random::<f64>() < rates[index];
            let offer = &market.offers[index];
            hour_figures[index].add(&Figures {
                clicks: 1,
                unique_clicks: 1,
                conversions: u64::from(converted),
                events: u64::from(converted),
                payout: if converted {
                    offer.payout
                } else {
                    Micros::ZERO
                },
                revenue: if converted {
                    offer.revenue
                } else {
                    Micros::ZERO
                },
            });
        }
        for (offer, figures) in market.offers.iter().zip(&hour_figures) {
            store.add(LINK_ID, hour_start, offer.id, figures);
        }
    }
    Ok(captured)
}
