//! Per-offer figures over a window and the metric formulas (seed 000's list).

use serde::{Deserialize, Serialize};

use super::KpiMetric;
use crate::catalog::money::Micros;

/// What one offer did inside one link over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub clicks: u64,
    pub unique_clicks: u64,
    pub conversions: u64,
    pub events: u64,
    /// Paid to partners.
    pub payout: Micros,
    /// Received from advertisers.
    pub revenue: Micros,
}

impl Figures {
    pub fn profit(&self) -> Micros {
        Micros(self.revenue.0.saturating_sub(self.payout.0))
    }

    /// Adds another window's (or hour's) figures.
    pub fn add(&mut self, other: &Figures) {
        self.clicks += other.clicks;
        self.unique_clicks += other.unique_clicks;
        self.conversions += other.conversions;
        self.events += other.events;
        self.payout = Micros(self.payout.0.saturating_add(other.payout.0));
        self.revenue = Micros(self.revenue.0.saturating_add(other.revenue.0));
    }
}

/// Money in currency units: metrics are compared, not booked, so a float is fine.
pub(super) fn units(amount: Micros) -> f64 {
    amount.0 as f64 / 1_000_000.0
}

/// The metric's value; `None` where it is undefined (a rate over no clicks).
///
/// EPC is profit per click, the network's earnings per click: the network
/// optimizes what it keeps, and RPC already measures revenue per click
/// (docs/KPI.md says why).
pub fn value(metric: KpiMetric, figures: &Figures) -> Option<f64> {
    let per = |amount: f64, base: u64| (base > 0).then(|| amount / base as f64);
    match metric {
        KpiMetric::Cv => Some(figures.conversions as f64),
        KpiMetric::Cvr => per(figures.conversions as f64, figures.clicks),
        KpiMetric::Evr => per(figures.events as f64, figures.unique_clicks),
        KpiMetric::Rpc => per(units(figures.revenue), figures.clicks),
        KpiMetric::Cpc => per(units(figures.payout), figures.clicks),
        KpiMetric::Epc => per(units(figures.profit()), figures.clicks),
        KpiMetric::Payout => Some(units(figures.payout)),
        KpiMetric::Profit => Some(units(figures.profit())),
        KpiMetric::Revenue => Some(units(figures.revenue)),
    }
}

/// Whether the metric is a sum over the window (it grows with the traffic an
/// offer is given) rather than a rate.
pub fn is_sum(metric: KpiMetric) -> bool {
    matches!(
        metric,
        KpiMetric::Cv | KpiMetric::Payout | KpiMetric::Profit | KpiMetric::Revenue
    )
}

/// Figures where each conversion pays 2 and earns 5 (profit 3), for tests.
#[cfg(test)]
pub(crate) fn test_figures(clicks: u64, conversions: u64) -> Figures {
    Figures {
        clicks,
        unique_clicks: clicks,
        conversions,
        events: conversions,
        payout: Micros(conversions as i64 * 2_000_000),
        revenue: Micros(conversions as i64 * 5_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 200 clicks (150 unique), 8 conversions, 12 events, payout 16.00, revenue 40.00.
    fn figures() -> Figures {
        Figures {
            clicks: 200,
            unique_clicks: 150,
            conversions: 8,
            events: 12,
            payout: Micros(16_000_000),
            revenue: Micros(40_000_000),
        }
    }

    #[test]
    fn each_metric_on_hand_computed_figures() {
        let f = figures();
        let cases = [
            (KpiMetric::Cv, 8.0),
            (KpiMetric::Cvr, 0.04),
            (KpiMetric::Evr, 0.08),
            (KpiMetric::Rpc, 0.2),
            (KpiMetric::Cpc, 0.08),
            (KpiMetric::Epc, 0.12),
            (KpiMetric::Payout, 16.0),
            (KpiMetric::Profit, 24.0),
            (KpiMetric::Revenue, 40.0),
        ];
        for (metric, expected) in cases {
            let got = value(metric, &f).unwrap();
            assert!((got - expected).abs() < 1e-12, "{metric:?}: {got}");
        }
    }

    #[test]
    fn rates_over_no_clicks_are_undefined_and_sums_are_zero() {
        let none = Figures::default();
        for metric in [
            KpiMetric::Cvr,
            KpiMetric::Evr,
            KpiMetric::Rpc,
            KpiMetric::Cpc,
            KpiMetric::Epc,
        ] {
            assert_eq!(value(metric, &none), None, "{metric:?}");
        }
        for metric in [
            KpiMetric::Cv,
            KpiMetric::Payout,
            KpiMetric::Profit,
            KpiMetric::Revenue,
        ] {
            assert_eq!(value(metric, &none), Some(0.0), "{metric:?}");
        }
        let clicks_but_no_unique = Figures {
            clicks: 5,
            ..Figures::default()
        };
        assert_eq!(value(KpiMetric::Evr, &clicks_but_no_unique), None);
    }

    #[test]
    fn profit_can_be_negative() {
        let f = Figures {
            clicks: 10,
            payout: Micros(3_000_000),
            revenue: Micros(1_000_000),
            ..Figures::default()
        };
        assert_eq!(value(KpiMetric::Epc, &f), Some(-0.2));
        assert_eq!(value(KpiMetric::Profit, &f), Some(-2.0));
    }
}
