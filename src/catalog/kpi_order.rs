//! Resolves a link's latest KPI run against the link's offers, into the order
//! routing reads (`KpiOrder`).

use super::model::{KpiOrder, SmartLink};
use super::source::{KpiStrategy, SmartLinkKpiRunRow};

/// Weights are integers for `WeightedDraw`; a million steps keep a 0.1% floor
/// share exact enough.
const SHARE_SCALE: f64 = 1_000_000.0;

/// `None` when the run must not steer traffic: threshold not met, or the link
/// was reset after it ran (the loader filters those too; a file catalog does not).
pub(super) fn resolve(link: &SmartLink, run: &SmartLinkKpiRunRow) -> Option<KpiOrder> {
    if !run.threshold_met || link.offers.is_empty() {
        return None;
    }
    if link
        .optimization_reset_at
        .is_some_and(|reset| run.ran_at < reset)
    {
        return None;
    }
    let index_of = |offer_id: i64| link.offers.iter().position(|o| o.offer_id == offer_id);
    match (run.strategy, &run.shares) {
        (KpiStrategy::Explore, Some(shares)) => Some(KpiOrder::Shares(weights(link, run, shares))),
        // A rank run, or an explore run without shares: ranked. Offers the run
        // does not name (none, unless the run is older than an offer it should
        // know) follow the ranked ones in the link's order.
        _ => {
            let mut order: Vec<usize> = Vec::with_capacity(link.offers.len());
            for index in run.ranking.iter().filter_map(|&id| index_of(id)) {
                if !order.contains(&index) {
                    order.push(index);
                }
            }
            for index in 0..link.offers.len() {
                if !order.contains(&index) {
                    order.push(index);
                }
            }
            Some(KpiOrder::Ranked(order))
        }
    }
}

/// Each offer's weight; an offer the run does not name gets the smallest share
/// the run gave, so it is measured like the run's weakest offer.
fn weights(link: &SmartLink, run: &SmartLinkKpiRunRow, shares: &[f64]) -> Vec<u32> {
    let to_weight = |share: f64| {
        if share.is_finite() && share > 0.0 {
            // At least 1: a positive share must keep the offer drawable.
            (share * SHARE_SCALE)
                .round()
                .clamp(1.0, f64::from(u32::MAX)) as u32
        } else {
            0
        }
    };
    let smallest = shares
        .iter()
        .copied()
        .filter(|s| s.is_finite() && *s > 0.0)
        .fold(f64::INFINITY, f64::min);
    let fallback = if smallest.is_finite() {
        to_weight(smallest)
    } else {
        1
    };
    link.offers
        .iter()
        .map(|offer| {
            run.ranking
                .iter()
                .position(|&id| id == offer.offer_id)
                .and_then(|i| shares.get(i))
                .map_or(fallback, |&share| to_weight(share))
        })
        .collect()
}
