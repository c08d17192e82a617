//! One optimizer run for one link: the window, the figures, then `rank` or
//! `explore` by the link's strategy. The caller supplies the clock and the rng,
//! so the scheduler, the simulator and tests run the very same code.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;

use super::carry::{History, PreviousRun, carry, gap};
use super::explore::{ExploreParams, explore};
use super::metric::Figures;
use super::rank::rank;
use super::window::{Window, window};
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

/// Runs the optimizer for `link` at `now`. Only the link's regular offers are
/// ranked (the Catch All is the fallback, not a candidate), each exactly once,
/// in the link's order, with empty figures when the source has none.
///
/// `previous` is the link's latest run (whatever its strategy, before or
/// after a reset: `carry::gap` decides whether its evidence still counts).
pub fn optimize(
    link: &SmartLink,
    source: &impl FiguresSource,
    previous: Option<&PreviousRun>,
    now: DateTime<Utc>,
    params: &ExploreParams,
    rng: &mut impl Rng,
) -> (Window, RunResult) {
    let window = window(link, now);
    let offers = per_offer(link, &source.figures(link.id, window.start, window.end));
    let run = match link.kpi.strategy {
        KpiStrategy::Rank => rank(&link.kpi, &offers),
        KpiStrategy::Explore => {
            let history = history(link, source, previous, window, params);
            explore(&link.kpi, &offers, &history, params, rng)
        }
    };
    (window, run)
}

/// What an exploring run reads besides its window's totals: the hours that
/// left the window since the previous run (to carry its evidence on), and
/// the window's latest hours (to notice a change).
fn history(
    link: &SmartLink,
    source: &impl FiguresSource,
    previous: Option<&PreviousRun>,
    window: Window,
    params: &ExploreParams,
) -> History {
    let ids: Vec<i64> = link.offers.iter().map(|o| o.offer_id).collect();
    let gap = gap(
        previous,
        link.optimization_reset_at,
        window,
        params.half_life_hours,
    );
    let left = gap.map_or_else(Vec::new, |g| source.figures(link.id, g.start, g.end));
    let carried = carry(previous, gap, &left, &ids, params.half_life_hours);
    let recent = recent_starts(window, params)
        .map(|from| per_offer(link, &source.figures(link.id, from, window.end)))
        .collect();
    History { carried, recent }
}

/// Where the window's latest stretches start (shorter than the window only).
fn recent_starts(window: Window, params: &ExploreParams) -> impl Iterator<Item = DateTime<Utc>> {
    params
        .recent_hours
        .into_iter()
        .map(move |h| window.end - Duration::hours(i64::from(h)))
        .filter(move |&from| from > window.start)
}

/// Every hour a run at `now` reads, so the scheduler can load them ahead:
/// the window, and for an exploring link the hours that left it since the
/// previous run.
pub fn reads(
    link: &SmartLink,
    previous: Option<&PreviousRun>,
    now: DateTime<Utc>,
    params: &ExploreParams,
) -> Window {
    let window = window(link, now);
    let gap = match link.kpi.strategy {
        KpiStrategy::Rank => None,
        KpiStrategy::Explore => gap(
            previous,
            link.optimization_reset_at,
            window,
            params.half_life_hours,
        ),
    };
    Window {
        start: gap.map_or(window.start, |g| g.start.min(window.start)),
        end: window.end,
    }
}

/// Every regular offer of the link exactly once, in the link's order, with
/// empty figures when the source has none.
fn per_offer(link: &SmartLink, measured: &[(i64, Figures)]) -> Vec<(i64, Figures)> {
    link.offers
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
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;
    use crate::catalog::{Catalog, Origin, file};
    use crate::kpi::memory::HourlyFigures;

    const LINK: &str = "
advertisers: [{ id: 1, name: A }]
offers:
  - { id: 1, advertiser_id: 1, name: A, offer_url: 'https://a.example/' }
  - { id: 2, advertiser_id: 1, name: B, offer_url: 'https://b.example/' }
  - { id: 3, advertiser_id: 1, name: C, offer_url: 'https://c.example/' }
smart_links:
  - { id: 1, name: L, mechanism: kpi, kpi_min_clicks: 10, kpi_lookback_hours: 12,
      optimization_reset_at: '2024-01-01T06:00:00Z' }
smart_link_offers:
  - { smart_link_id: 1, offer_id: 1 }
  - { smart_link_id: 1, offer_id: 2 }
  - { smart_link_id: 1, offer_id: 3, is_catch_all: true }
";

    fn figures(clicks: u64, conversions: u64) -> Figures {
        Figures {
            clicks,
            unique_clicks: clicks,
            conversions,
            ..Figures::default()
        }
    }

    #[test]
    fn a_run_reads_only_the_window_after_the_reset_and_ranks_regular_offers() {
        let catalog = Catalog::build(file::parse(LINK, "test").unwrap(), Origin::Test, 1).unwrap();
        let link = catalog.smart_link(1).unwrap();
        let t = |h: u32| Utc.with_ymd_and_hms(2024, 1, 1, h, 0, 0).unwrap();
        let mut store = HourlyFigures::default();
        // Before the reset offer 1 looked great; after it, offer 2 does.
        store.add(1, t(5), 1, &figures(100, 50));
        store.add(1, t(7), 1, &figures(10, 1));
        store.add(1, t(8), 2, &figures(10, 5));
        store.add(1, t(8), 3, &figures(500, 400));
        let (window, run) = optimize(
            link,
            &store,
            None,
            t(12),
            &ExploreParams::default(),
            &mut SmallRng::seed_from_u64(1),
        );
        assert_eq!(window.start, t(6), "the reset is later than 12 h ago");
        assert_eq!(
            run.clicks, 20,
            "the Catch All's clicks are not the link's offers'"
        );
        assert!(run.threshold_met);
        assert_eq!(run.ranking, vec![2, 1]);
    }

    #[test]
    fn an_explore_run_carries_the_hours_that_left_its_window_unless_reset() {
        let mut source = file::parse(LINK, "test").unwrap();
        source.smart_links[0].kpi_strategy = KpiStrategy::Explore;
        source.smart_links[0].optimization_reset_at = None;
        let catalog = Catalog::build(source.clone(), Origin::Test, 1).unwrap();
        let link = catalog.smart_link(1).unwrap();
        let t = |h: u32| Utc.with_ymd_and_hms(2024, 1, 1, h, 0, 0).unwrap();
        let mut store = HourlyFigures::default();
        store.add(1, t(1), 1, &figures(100, 10));
        store.add(1, t(13), 1, &figures(100, 1));
        let previous = PreviousRun {
            ran_at: t(12),
            window_start: t(0),
            carried: Vec::new(),
        };
        let params = ExploreParams::default();
        let run = |link: &SmartLink| {
            let reads = reads(link, Some(&previous), t(14), &params);
            let (window, run) = optimize(
                link,
                &store,
                Some(&previous),
                t(14),
                &params,
                &mut SmallRng::seed_from_u64(1),
            );
            (reads, window, run)
        };
        let (reads, window, carried) = run(link);
        assert_eq!(window.start, t(2));
        assert_eq!(reads.start, t(0), "the hours since the last window start");
        assert_eq!(carried.carried[0].offer_id, 1);
        let hour_1 = carried.carried[0].evidence;
        assert!(
            hour_1.conversions > 9.0 && hour_1.conversions < 10.0,
            "{hour_1:?}"
        );

        source.smart_links[0].optimization_reset_at = Some(t(13));
        let reset = Catalog::build(source, Origin::Test, 2).unwrap();
        let (reads, _, cleared) = run(reset.smart_link(1).unwrap());
        assert!(cleared.carried.is_empty(), "{:?}", cleared.carried);
        assert_eq!(reads.start, t(13), "nothing before the reset is read");
    }
}
