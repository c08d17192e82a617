//! Evidence an exploring link carries from one run to the next: what its
//! offers did before the lookback window, fading with age.
//!
//! A 24-hour window cannot tell offers 7% apart (docs/KPI.md, Results); the
//! week before it can. Reading all of it at every run would make a run's cost
//! grow with the link's age, so each run records the evidence older than its
//! window (`RunResult::carried`, the `carried` column) and the next run fades
//! it and adds the hours that left the window since (`gap`). The previous run
//! is read from `smart_link_kpi_runs` by the scheduler and kept in memory by the
//! simulator: the same `carry` either way. A reset throws the evidence away,
//! as it throws away the runs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::KpiMetric;
use super::metric::{Figures, units};
use super::window::Window;

/// Figures weighted by their age (so fractional), money in currency units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub clicks: f64,
    pub unique_clicks: f64,
    pub conversions: f64,
    pub events: f64,
    pub payout: f64,
    pub revenue: f64,
}

impl Evidence {
    pub fn of(f: &Figures) -> Self {
        Self {
            clicks: f.clicks as f64,
            unique_clicks: f.unique_clicks as f64,
            conversions: f.conversions as f64,
            events: f.events as f64,
            payout: units(f.payout),
            revenue: units(f.revenue),
        }
    }

    pub fn scaled(&self, weight: f64) -> Self {
        Self {
            clicks: self.clicks * weight,
            unique_clicks: self.unique_clicks * weight,
            conversions: self.conversions * weight,
            events: self.events * weight,
            payout: self.payout * weight,
            revenue: self.revenue * weight,
        }
    }

    pub fn plus(&self, other: &Evidence) -> Self {
        Self {
            clicks: self.clicks + other.clicks,
            unique_clicks: self.unique_clicks + other.unique_clicks,
            conversions: self.conversions + other.conversions,
            events: self.events + other.events,
            payout: self.payout + other.payout,
            revenue: self.revenue + other.revenue,
        }
    }

    /// `self` without `part` (a part of it), never below zero.
    pub fn minus(&self, part: &Evidence) -> Self {
        Self {
            clicks: (self.clicks - part.clicks).max(0.0),
            unique_clicks: (self.unique_clicks - part.unique_clicks).max(0.0),
            conversions: (self.conversions - part.conversions).max(0.0),
            events: (self.events - part.events).max(0.0),
            payout: self.payout - part.payout,
            revenue: self.revenue - part.revenue,
        }
    }

    pub fn profit(&self) -> f64 {
        self.revenue - self.payout
    }
}

/// One offer's carried evidence, as stored in the `carried` column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CarriedOffer {
    pub offer_id: i64,
    #[serde(flatten)]
    pub evidence: Evidence,
}

/// What an exploring run knows besides its window's totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Evidence from before the window (`carry`).
    pub carried: Vec<CarriedOffer>,
    /// The window's latest hours, shortest stretch first: each is every
    /// offer's figures over the last so many hours (`change` compares them
    /// with the rest).
    pub recent: Vec<Vec<(i64, Figures)>>,
}

/// What the next run needs of the link's latest run.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviousRun {
    pub ran_at: DateTime<Utc>,
    /// Its window's start: `carried` is the evidence from before it.
    pub window_start: DateTime<Utc>,
    pub carried: Vec<CarriedOffer>,
}

/// Evidence older than this many half-lives weighs under 0.1%: dropped, so a
/// link that was not run for weeks does not read weeks of rollups.
const FORGOTTEN_HALF_LIVES: f64 = 10.0;

/// The hours that left the window since `previous` ran: what `carry` adds.
/// `None`: nothing is carried (no usable previous run), so nothing to read.
pub fn gap(
    previous: Option<&PreviousRun>,
    reset: Option<DateTime<Utc>>,
    window: Window,
    half_life_hours: f64,
) -> Option<Window> {
    let previous = previous?;
    // A reset after the previous run cleared what it learned; a previous run
    // from the future (clock moved back) cannot be aged.
    if reset.is_some_and(|reset| previous.ran_at < reset) || previous.window_start > window.start {
        return None;
    }
    if !(half_life_hours.is_finite() && half_life_hours > 0.0) {
        return None;
    }
    if hours(previous.window_start, window.start) > FORGOTTEN_HALF_LIVES * half_life_hours {
        return None;
    }
    Some(Window {
        start: previous.window_start,
        end: window.start,
    })
}

/// The evidence from before `window`: the previous run's, faded by the time
/// its window start moved, plus the `left` figures (the hours of `gap`),
/// faded by their middle's age. Offers no longer in `offers` are dropped.
pub fn carry(
    previous: Option<&PreviousRun>,
    gap: Option<Window>,
    left: &[(i64, Figures)],
    offers: &[i64],
    half_life_hours: f64,
) -> Vec<CarriedOffer> {
    let (Some(previous), Some(gap)) = (previous, gap) else {
        return Vec::new();
    };
    let moved = hours(gap.start, gap.end);
    let fade = |age: f64| (-age / half_life_hours).exp2();
    offers
        .iter()
        .map(|&offer_id| {
            let old = previous
                .carried
                .iter()
                .filter(|c| c.offer_id == offer_id)
                .fold(Evidence::default(), |sum, c| sum.plus(&c.evidence));
            let new = left
                .iter()
                .filter(|(id, _)| *id == offer_id)
                .fold(Evidence::default(), |sum, (_, f)| {
                    sum.plus(&Evidence::of(f))
                });
            CarriedOffer {
                offer_id,
                evidence: old.scaled(fade(moved)).plus(&new.scaled(fade(moved / 2.0))),
            }
        })
        .collect()
}

fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_seconds() as f64 / 3_600.0
}

/// Successes over a base, and the money those successes brought (money metrics).
pub(super) struct Basis {
    pub(super) successes: f64,
    pub(super) base: f64,
    pub(super) money: Option<f64>,
}

pub(super) fn basis(metric: KpiMetric, e: &Evidence) -> Basis {
    let conversions = |money: Option<f64>| Basis {
        successes: e.conversions,
        base: e.clicks,
        money,
    };
    match metric {
        KpiMetric::Cv | KpiMetric::Cvr => conversions(None),
        KpiMetric::Evr => Basis {
            successes: e.events,
            base: e.unique_clicks,
            money: None,
        },
        KpiMetric::Rpc | KpiMetric::Revenue => conversions(Some(e.revenue)),
        KpiMetric::Cpc | KpiMetric::Payout => conversions(Some(e.payout)),
        KpiMetric::Epc | KpiMetric::Profit => conversions(Some(e.profit())),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::kpi::metric::test_figures as f;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 2, h, 0, 0).unwrap()
    }

    fn previous(conversions: f64) -> PreviousRun {
        PreviousRun {
            ran_at: t(10),
            window_start: t(0),
            carried: vec![CarriedOffer {
                offer_id: 1,
                evidence: Evidence {
                    clicks: 1_000.0,
                    conversions,
                    ..Evidence::default()
                },
            }],
        }
    }

    fn window(start: u32) -> Window {
        Window {
            start: t(start),
            end: t(start + 10),
        }
    }

    #[test]
    fn the_evidence_fades_and_gains_the_hours_that_left_the_window() {
        let prev = previous(40.0);
        let gap = gap(Some(&prev), None, window(2), 2.0);
        assert_eq!(
            gap,
            Some(Window {
                start: t(0),
                end: t(2)
            })
        );
        let carried = carry(Some(&prev), gap, &[(1, f(100, 4))], &[1, 2], 2.0);
        // Two hours is one half-life; the gap's middle is one hour old.
        let e = carried[0].evidence;
        let half_of_half = 0.5_f64.sqrt();
        assert!(
            (e.clicks - (500.0 + 100.0 * half_of_half)).abs() < 1e-9,
            "{e:?}"
        );
        assert!((e.conversions - (20.0 + 4.0 * half_of_half)).abs() < 1e-9);
        assert!(
            (e.revenue - 20.0 * half_of_half).abs() < 1e-9,
            "5 per conversion"
        );
        assert_eq!(
            carried[1].evidence,
            Evidence::default(),
            "offer 2: nothing yet"
        );
    }

    #[test]
    fn a_reset_after_the_previous_run_clears_the_carried_evidence() {
        let prev = previous(40.0);
        assert!(gap(Some(&prev), Some(t(11)), window(12), 24.0).is_none());
        assert!(carry(Some(&prev), None, &[(1, f(100, 4))], &[1], 24.0).is_empty());
        // A reset the previous run already saw keeps it.
        assert!(gap(Some(&prev), Some(t(9)), window(12), 24.0).is_some());
    }

    #[test]
    fn nothing_is_carried_without_a_previous_run_or_from_long_ago() {
        assert!(gap(None, None, window(12), 24.0).is_none());
        let prev = previous(40.0);
        assert!(
            gap(Some(&prev), None, window(12), 1.0).is_none(),
            "12 half-lives"
        );
        assert!(gap(Some(&prev), None, window(12), 0.0).is_none());
    }

    #[test]
    fn carried_evidence_round_trips_through_its_column() {
        let prev = previous(40.0);
        let json = serde_json::to_value(&prev.carried).unwrap();
        assert_eq!(json[0]["offer_id"], 1);
        assert_eq!(json[0]["conversions"], 40.0);
        let back: Vec<CarriedOffer> = serde_json::from_value(json).unwrap();
        assert_eq!(back, prev.carried);
    }
}
