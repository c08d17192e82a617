//! Everflow's ranking: a pure function of per-offer figures and the link's
//! settings.
//!
//! Rules (docs/KPI.md): below the threshold there is no ranking and traffic
//! stays spread evenly. Otherwise measured offers come first, highest value
//! first, or closest to the custom goal first; ties go to the offer with more
//! clicks, then the lower offer id. Offers without a value (no clicks, or a
//! rate with no base) come after every measured offer, by offer id: an offer
//! nobody measured must not outrank one that proved itself.

use std::cmp::Ordering;

use serde::Serialize;

use super::carry::CarriedOffer;
use super::metric::{Figures, value};
use super::{KpiMetric, KpiSettings, KpiStrategy};

/// One offer in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferResult {
    pub offer_id: i64,
    #[serde(flatten)]
    pub figures: Figures,
    /// The metric's value; `None`: not measured.
    pub value: Option<f64>,
    /// 1 = best; `None` when the threshold was not met.
    pub rank: Option<u32>,
    /// Traffic share (explore runs).
    pub share: Option<f64>,
}

/// What one optimizer run found, ready to be recorded (`record`) and to take
/// effect through the catalog snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub metric: KpiMetric,
    pub goal: Option<f64>,
    pub strategy: KpiStrategy,
    pub min_clicks: u64,
    /// Clicks over the window, all offers summed.
    pub clicks: u64,
    pub threshold_met: bool,
    /// Every offer of the link, in the order given.
    pub offers: Vec<OfferResult>,
    /// Offer ids, best first; empty when the threshold was not met.
    pub ranking: Vec<i64>,
    /// `shares[i]` is the traffic share of `ranking[i]`; empty for rank runs.
    pub shares: Vec<f64>,
    /// Evidence from before the window, for the next run (explore runs;
    /// `kpi::carry`).
    pub carried: Vec<CarriedOffer>,
}

impl RunResult {
    /// The offer that would take the click first, if there is a ranking.
    pub fn leader(&self) -> Option<i64> {
        self.ranking.first().copied()
    }
}

/// Ranks the link's offers. `offers` must hold every offer of the link (with
/// empty figures for those without traffic), so none is silently left out.
pub fn rank(settings: &KpiSettings, offers: &[(i64, Figures)]) -> RunResult {
    let clicks: u64 = offers.iter().map(|(_, f)| f.clicks).sum();
    // A window without a single click says nothing, whatever the threshold.
    let threshold_met = clicks > 0 && clicks >= settings.min_clicks;
    let mut results: Vec<OfferResult> = offers
        .iter()
        .map(|&(offer_id, figures)| OfferResult {
            offer_id,
            figures,
            value: measured_value(settings.metric, &figures),
            rank: None,
            share: None,
        })
        .collect();
    let mut ranking = Vec::new();
    if threshold_met {
        let mut order: Vec<&OfferResult> = results.iter().collect();
        order.sort_by(|a, b| compare(settings.goal, a, b));
        ranking = order.iter().map(|r| r.offer_id).collect();
        for result in &mut results {
            result.rank = ranking
                .iter()
                .position(|&id| id == result.offer_id)
                .and_then(|i| u32::try_from(i + 1).ok());
        }
    }
    RunResult {
        metric: settings.metric,
        goal: settings.goal,
        strategy: KpiStrategy::Rank,
        min_clicks: settings.min_clicks,
        clicks,
        threshold_met,
        offers: results,
        ranking,
        shares: Vec::new(),
        carried: Vec::new(),
    }
}

/// An offer without clicks has no value even for a sum: a zero sum from no
/// traffic is an absence of data, not a measurement.
fn measured_value(metric: KpiMetric, figures: &Figures) -> Option<f64> {
    if figures.clicks == 0 {
        return None;
    }
    value(metric, figures).filter(|v| v.is_finite())
}

/// Best first. Total: every pair of distinct offers is ordered, so the
/// ranking never depends on the input order.
pub(super) fn compare(goal: Option<f64>, a: &OfferResult, b: &OfferResult) -> Ordering {
    let score = |r: &OfferResult| r.value.map(|v| score(goal, v));
    match (score(a), score(b)) {
        (Some(x), Some(y)) => y
            .total_cmp(&x)
            .then(b.figures.clicks.cmp(&a.figures.clicks))
            .then(a.offer_id.cmp(&b.offer_id)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.offer_id.cmp(&b.offer_id),
    }
}

/// Higher is better: the value itself, or its closeness to the goal.
pub(super) fn score(goal: Option<f64>, value: f64) -> f64 {
    match goal {
        Some(goal) => -(value - goal).abs(),
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(metric: KpiMetric, min_clicks: u64, goal: Option<f64>) -> KpiSettings {
        KpiSettings {
            metric,
            goal,
            min_clicks,
            ..KpiSettings::default()
        }
    }

    use crate::kpi::metric::test_figures as f;

    #[test]
    fn highest_value_first_with_values_and_ranks_recorded() {
        let run = rank(
            &settings(KpiMetric::Cvr, 100, None),
            &[(1, f(100, 2)), (2, f(100, 5)), (3, f(50, 3))],
        );
        assert!(run.threshold_met);
        assert_eq!(run.clicks, 250);
        assert_eq!(run.ranking, vec![3, 2, 1], "6% > 5% > 2%");
        assert_eq!(run.offers[0].rank, Some(3));
        assert_eq!(run.offers[2].value, Some(0.06));
    }

    #[test]
    fn below_the_threshold_there_is_no_ranking() {
        let run = rank(
            &settings(KpiMetric::Cvr, 1_000, None),
            &[(1, f(400, 2)), (2, f(599, 50))],
        );
        assert!(!run.threshold_met, "999 clicks < 1,000");
        assert!(run.ranking.is_empty());
        assert!(run.offers.iter().all(|o| o.rank.is_none()));
        assert_eq!(
            run.offers[1].value,
            Some(50.0 / 599.0),
            "figures still kept"
        );
    }

    #[test]
    fn the_threshold_counts_clicks_over_all_offers_and_needs_one_click() {
        let met = rank(
            &settings(KpiMetric::Cvr, 1_000, None),
            &[(1, f(500, 2)), (2, f(500, 5))],
        );
        assert!(met.threshold_met, "500 + 500 reaches 1,000");
        let empty = rank(&settings(KpiMetric::Cv, 0, None), &[(1, f(0, 0))]);
        assert!(!empty.threshold_met, "no clicks at all is no data");
    }

    #[test]
    fn with_a_custom_goal_closest_first() {
        // CVR 1%, 4%, 6.5%, 10% with a goal of 5%: 1, 1.5, 4 and 5 points away.
        let run = rank(
            &settings(KpiMetric::Cvr, 0, Some(0.05)),
            &[
                (1, f(100, 1)),
                (2, f(100, 4)),
                (3, f(200, 13)),
                (4, f(100, 10)),
            ],
        );
        assert_eq!(run.ranking, vec![2, 3, 1, 4]);
        let plain = rank(
            &settings(KpiMetric::Cvr, 0, None),
            &[
                (1, f(100, 1)),
                (2, f(100, 4)),
                (3, f(200, 13)),
                (4, f(100, 10)),
            ],
        );
        assert_eq!(
            plain.ranking,
            vec![4, 3, 2, 1],
            "without the goal: highest first"
        );
    }

    #[test]
    fn ties_go_to_more_clicks_then_lower_offer_id() {
        let run = rank(
            &settings(KpiMetric::Cvr, 0, None),
            &[(9, f(100, 5)), (4, f(100, 5)), (7, f(200, 10))],
        );
        assert_eq!(run.ranking, vec![7, 4, 9]);
    }

    #[test]
    fn offers_without_data_come_after_measured_ones_by_id() {
        let run = rank(
            &settings(KpiMetric::Cvr, 0, None),
            &[(5, f(0, 0)), (3, f(0, 0)), (8, f(100, 0)), (2, f(100, 1))],
        );
        assert_eq!(
            run.ranking,
            vec![2, 8, 3, 5],
            "a measured 0% still beats an unmeasured offer"
        );
        assert_eq!(run.offers[0].value, None);
        // A sum metric too: no clicks is no data, not a zero.
        let sums = rank(
            &settings(KpiMetric::Revenue, 0, None),
            &[(1, f(0, 0)), (2, f(10, 0))],
        );
        assert_eq!(sums.ranking, vec![2, 1]);
    }

    #[test]
    fn the_ranking_does_not_depend_on_input_order() {
        let offers = [(1, f(100, 5)), (2, f(100, 5)), (3, f(0, 0)), (4, f(50, 1))];
        let mut reversed = offers;
        reversed.reverse();
        let s = settings(KpiMetric::Epc, 0, None);
        assert_eq!(rank(&s, &offers).ranking, rank(&s, &reversed).ranking);
    }
}
