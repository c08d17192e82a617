//! The exploring strategy: Thompson sampling on the link's metric over the
//! lookback window and the evidence carried from before it (`carry`, cut by
//! `change` when an offer's rate moved), turned into traffic shares with a
//! floor.
//!
//! Plain ranking sends everything to the last run's winner, so the others stop
//! being measured and a leader whose conversion rate drops keeps the traffic.
//! Here each offer's share is the probability, under its evidence,
//! that it is the best, and every offer keeps at least `min_share`: the leader
//! takes most clicks, the rest stay measured, and a drop shows within hours.
//!
//! The model, for every metric: successes `k` over a base `n` (conversions
//! over clicks, or events over unique clicks), a Gamma-Poisson posterior on
//! the rate `k / n` with a weak prior at the link's pooled rate (worth one
//! success), times the offer's money per conversion for money metrics. Sums
//! (CV, Payout, Profit, Revenue) are compared per click: a sum grows with the
//! traffic this strategy itself hands out, and comparing it would feed the
//! leader forever. With a goal, a sum is judged as if the offer had an even
//! share of the window's clicks.

use rand::Rng;

use super::carry::{Basis, Evidence, History, basis};
use super::change::evidence;
use super::gamma::gamma;
use super::metric::{Figures, is_sum};
use super::rank::{rank, score};
use super::{KpiSettings, KpiStrategy, RunResult};

/// Tuned with `switchyard kpi simulate` (docs/KPI.md has the table).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExploreParams {
    /// The least share any offer gets; capped at half the traffic over all
    /// offers together, so the leader always keeps the majority.
    pub min_share: f64,
    /// Thompson draws per run: the shares' resolution.
    pub draws: u32,
    /// Shares follow P(best)^sharpen: Thompson sampling allocates click by
    /// click, but a run fixes the shares for hours while the window keeps
    /// forgetting, so plain P(best) keeps too much traffic on offers the
    /// floor already measures.
    pub sharpen: f64,
    /// Evidence from before the window counts half as much every this many
    /// hours (`carry`).
    pub half_life_hours: f64,
    /// An offer whose latest hours' rate is this many standard errors from
    /// its rate before them is judged on those hours alone: its rate changed
    /// (`change`).
    pub change_z: f64,
    /// The latest hours `change` compares with the rest, in hours.
    pub recent_hours: [u32; 4],
}

impl Default for ExploreParams {
    fn default() -> Self {
        Self {
            min_share: 0.005,
            draws: 4_000,
            sharpen: 2.0,
            half_life_hours: 48.0,
            change_z: 3.5,
            recent_hours: [1, 2, 4, 8],
        }
    }
}

/// Shares for the link's offers. Below the threshold: like `rank`, no
/// ranking and no shares (traffic stays even). `ranking` is by share, best
/// first (ties: the ranking rules), and `shares` is aligned with it.
pub fn explore(
    settings: &KpiSettings,
    offers: &[(i64, Figures)],
    history: &History,
    params: &ExploreParams,
    rng: &mut impl Rng,
) -> RunResult {
    let mut run = rank(settings, offers);
    run.strategy = KpiStrategy::Explore;
    let (evidence, kept) = evidence(settings.metric, offers, history, params.change_z);
    run.carried = kept;
    if !run.threshold_met || offers.is_empty() {
        return run;
    }
    let sharpen = if params.sharpen.is_finite() && params.sharpen > 0.0 {
        params.sharpen
    } else {
        1.0
    };
    let arms = arms(settings, offers, &evidence);
    let wins: Vec<f64> = thompson(settings, &arms, params.draws.max(1), rng)
        .into_iter()
        .map(|w| w.powf(sharpen))
        .collect();
    let count = offers.len() as f64;
    let floor = params.min_share.clamp(0.0, 0.5 / count);
    let total: f64 = wins.iter().sum();
    let share_of = |i: usize| floor + (1.0 - count * floor) * wins[i] / total;

    let mut order: Vec<usize> = (0..offers.len()).collect();
    let rank_position = |i: usize| {
        run.ranking
            .iter()
            .position(|&id| id == offers[i].0)
            .unwrap_or(usize::MAX)
    };
    order.sort_by(|&a, &b| {
        share_of(b)
            .total_cmp(&share_of(a))
            .then(rank_position(a).cmp(&rank_position(b)))
    });
    run.ranking = order.iter().map(|&i| offers[i].0).collect();
    run.shares = order.iter().map(|&i| share_of(i)).collect();
    for (position, &i) in order.iter().enumerate() {
        run.offers[i].share = Some(share_of(i));
        run.offers[i].rank = u32::try_from(position + 1).ok();
    }
    run
}

/// How often each offer won, out of `draws` (as f64 for the arithmetic).
fn thompson(settings: &KpiSettings, arms: &[Arm], draws: u32, rng: &mut impl Rng) -> Vec<f64> {
    let mut wins = vec![0.0; arms.len()];
    for _ in 0..draws {
        let mut best: Option<(usize, f64)> = None;
        for (i, arm) in arms.iter().enumerate() {
            let sample = gamma(rng, arm.shape, arm.rate) * arm.value;
            let s = score(settings.goal, sample);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
        if let Some((i, _)) = best {
            wins[i] += 1.0;
        }
    }
    wins
}

/// One offer's posterior: the rate is Gamma(shape, rate); a draw is worth
/// `rate draw * value`.
struct Arm {
    shape: f64,
    rate: f64,
    value: f64,
}

fn arms(settings: &KpiSettings, offers: &[(i64, Figures)], evidence: &[Evidence]) -> Vec<Arm> {
    let bases: Vec<Basis> = evidence.iter().map(|e| basis(settings.metric, e)).collect();
    let pooled_k: f64 = bases.iter().map(|b| b.successes).sum();
    let pooled_n: f64 = bases.iter().map(|b| b.base).sum();
    let pooled_money: f64 = bases.iter().filter_map(|b| b.money).sum();
    // Prior worth one success at the pooled rate: mean (K+1)/(N+1).
    let prior_rate = (pooled_n + 1.0) / (pooled_k + 1.0);
    let pooled_value = if pooled_k > 0.0 {
        pooled_money / pooled_k
    } else {
        0.0
    };
    let clicks: u64 = offers.iter().map(|(_, f)| f.clicks).sum();
    let even_clicks = clicks as f64 / offers.len().max(1) as f64;
    let sum_scale = if settings.goal.is_some() && is_sum(settings.metric) {
        even_clicks
    } else {
        1.0
    };
    bases
        .iter()
        .map(|b| {
            let per_success = match b.money {
                None => 1.0,
                Some(money) if b.successes > 0.0 => money / b.successes,
                Some(_) => pooled_value,
            };
            Arm {
                shape: b.successes + 1.0,
                rate: b.base + prior_rate,
                value: per_success * sum_scale,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;
    use crate::kpi::KpiMetric;
    use crate::kpi::carry::CarriedOffer;

    const ALL: [KpiMetric; 9] = [
        KpiMetric::Cv,
        KpiMetric::Cvr,
        KpiMetric::Evr,
        KpiMetric::Rpc,
        KpiMetric::Cpc,
        KpiMetric::Epc,
        KpiMetric::Payout,
        KpiMetric::Profit,
        KpiMetric::Revenue,
    ];

    use crate::kpi::metric::test_figures as f;

    fn settings(metric: KpiMetric) -> KpiSettings {
        KpiSettings {
            metric,
            min_clicks: 1_000,
            strategy: KpiStrategy::Explore,
            ..KpiSettings::default()
        }
    }

    /// Offer 2 clearly best; offer 4 has no clicks at all.
    fn window() -> [(i64, Figures); 4] {
        [
            (1, f(900, 18)),
            (2, f(900, 45)),
            (3, f(200, 3)),
            (4, f(0, 0)),
        ]
    }

    #[test]
    fn the_same_seed_gives_the_same_shares() {
        let params = ExploreParams::default();
        let run = |seed| {
            explore(
                &settings(KpiMetric::Rpc),
                &window(),
                &History::default(),
                &params,
                &mut SmallRng::seed_from_u64(seed),
            )
        };
        assert_eq!(run(42), run(42));
        assert_eq!(run(42).ranking[0], 2);
    }

    #[test]
    fn every_offer_keeps_its_minimum_share_for_every_metric() {
        let params = ExploreParams {
            min_share: 0.05,
            draws: 2_000,
            ..ExploreParams::default()
        };
        let carried = History {
            carried: vec![carried(2, 5_000.0, 250.0), carried(3, 800.0, 40.0)],
            recent: vec![window().iter().map(|&(id, _)| (id, f(100, 4))).collect()],
        };
        for metric in ALL {
            for (goal, history) in [None, Some(0.03)]
                .into_iter()
                .flat_map(|g| [(g, History::default()), (g, carried.clone())])
            {
                let s = KpiSettings {
                    goal,
                    ..settings(metric)
                };
                let run = explore(
                    &s,
                    &window(),
                    &history,
                    &params,
                    &mut SmallRng::seed_from_u64(1),
                );
                assert_eq!(run.shares.len(), 4, "{metric:?}");
                let total: f64 = run.shares.iter().sum();
                assert!((total - 1.0).abs() < 1e-9, "{metric:?}: {total}");
                assert!(
                    run.shares.iter().all(|&s| s >= 0.05 - 1e-12),
                    "{metric:?} {goal:?}: {:?}",
                    run.shares
                );
                assert!(run.offers.iter().all(|o| o.share.is_some()));
            }
        }
    }

    #[test]
    fn the_leader_gets_most_of_the_traffic() {
        let run = explore(
            &settings(KpiMetric::Cvr),
            &window(),
            &History::default(),
            &ExploreParams::default(),
            &mut SmallRng::seed_from_u64(5),
        );
        assert_eq!(run.ranking[0], 2);
        assert!(run.shares[0] > 0.8, "{:?}", run.shares);
        // Offer 4 was never measured: it gets more than the floor to find out.
        let unmeasured = run.offers[3].share.unwrap();
        assert!(unmeasured > 0.02, "{unmeasured}");
        let weak = run.offers[2].share.unwrap();
        assert!(weak < 0.02, "offer 3 measured 1.5%: {weak}");
    }

    #[test]
    fn the_floor_never_takes_the_majority() {
        // 40 offers asking 5% each would leave the leader nothing: the floor
        // is cut to 0.5 / 40 each.
        let mut many: Vec<(i64, Figures)> = (2..=40).map(|id| (id, f(100, 1))).collect();
        many.push((1, f(2_000, 200)));
        let params = ExploreParams {
            min_share: 0.05,
            draws: 500,
            ..ExploreParams::default()
        };
        let run = explore(
            &settings(KpiMetric::Cvr),
            &many,
            &History::default(),
            &params,
            &mut SmallRng::seed_from_u64(5),
        );
        let floor = run.shares.iter().copied().fold(f64::INFINITY, f64::min);
        assert!((floor - 0.5 / 40.0).abs() < 1e-9, "{floor}");
        assert_eq!(run.ranking[0], 1);
        assert!(run.shares[0] >= 0.5, "{}", run.shares[0]);
    }

    #[test]
    fn below_the_threshold_nothing_is_shared() {
        let run = explore(
            &settings(KpiMetric::Cvr),
            &[(1, f(300, 9)), (2, f(300, 1))],
            &History::default(),
            &ExploreParams::default(),
            &mut SmallRng::seed_from_u64(5),
        );
        assert!(!run.threshold_met);
        assert!(run.ranking.is_empty() && run.shares.is_empty());
        assert_eq!(run.strategy, KpiStrategy::Explore);
    }

    /// `clicks` clicks at `rate` over `hours` hours, as carried evidence.
    fn carried(offer_id: i64, clicks: f64, conversions: f64) -> CarriedOffer {
        CarriedOffer {
            offer_id,
            evidence: Evidence::of(&f(0, 0)).plus(&Evidence {
                clicks,
                unique_clicks: clicks,
                conversions,
                events: conversions,
                payout: conversions * 2.0,
                revenue: conversions * 5.0,
            }),
        }
    }

    fn share_of(run: &RunResult, offer: i64) -> f64 {
        let i = run.ranking.iter().position(|&id| id == offer).unwrap();
        run.shares[i]
    }

    #[test]
    fn carried_evidence_settles_what_the_window_cannot() {
        // 3.0% vs 2.8% over a day cannot be told apart; a week faded in can.
        let day = [(1, f(6_000, 180)), (2, f(6_000, 168))];
        let params = ExploreParams::default();
        let s = settings(KpiMetric::Rpc);
        let alone = explore(
            &s,
            &day,
            &History::default(),
            &params,
            &mut SmallRng::seed_from_u64(3),
        );
        let week = History {
            carried: vec![carried(1, 40_000.0, 1_200.0), carried(2, 40_000.0, 1_120.0)],
            ..History::default()
        };
        let with = explore(&s, &day, &week, &params, &mut SmallRng::seed_from_u64(3));
        assert!(share_of(&alone, 1) < 0.9, "{:?}", alone.shares);
        assert!(share_of(&with, 1) > 0.95, "{:?}", with.shares);
        assert_eq!(
            with.carried, week.carried,
            "consistent evidence is carried on"
        );
        assert_eq!(
            with.offers[0].value, alone.offers[0].value,
            "values stay the window's"
        );
    }

    #[test]
    fn a_leader_whose_latest_hours_dropped_loses_the_lead_at_once_for_every_metric() {
        // A week at 4% and a window at 3.9%, but its last two hours at 1.5%.
        let window = [(1, f(9_000, 351)), (2, f(3_000, 90))];
        let history = History {
            carried: vec![carried(1, 30_000.0, 1_200.0), carried(2, 5_000.0, 150.0)],
            recent: vec![
                vec![(1, f(400, 6)), (2, f(100, 3))],
                vec![(1, f(800, 12)), (2, f(200, 6))],
            ],
        };
        for metric in ALL {
            let run = explore(
                &settings(metric),
                &window,
                &history,
                &ExploreParams::default(),
                &mut SmallRng::seed_from_u64(3),
            );
            assert_eq!(run.ranking[0], 2, "{metric:?}: {:?}", run.shares);
            assert_eq!(
                run.carried,
                vec![carried(2, 5_000.0, 150.0)],
                "{metric:?}: the changed offer's old evidence is dropped"
            );
        }
    }

    #[test]
    fn two_lucky_conversions_at_the_floor_are_not_a_change() {
        // 5 clicks an hour at 2% and two convert: 6 standard errors for a z
        // test on the difference, 2.9 for the likelihood ratio.
        let window = [(1, f(11_000, 440)), (2, f(120, 2))];
        let history = History {
            carried: vec![carried(1, 20_000.0, 800.0), carried(2, 300.0, 6.0)],
            recent: vec![vec![(1, f(495, 20)), (2, f(5, 2))]],
        };
        let run = explore(
            &settings(KpiMetric::Rpc),
            &window,
            &history,
            &ExploreParams::default(),
            &mut SmallRng::seed_from_u64(3),
        );
        assert_eq!(run.carried, history.carried);
        assert!(share_of(&run, 1) > 0.99, "{:?}", run.shares);
    }

    #[test]
    fn below_the_threshold_the_evidence_is_still_carried_on() {
        let history = History {
            carried: vec![carried(1, 2_000.0, 60.0)],
            ..History::default()
        };
        let run = explore(
            &settings(KpiMetric::Cvr),
            &[(1, f(300, 9)), (2, f(300, 1))],
            &history,
            &ExploreParams::default(),
            &mut SmallRng::seed_from_u64(5),
        );
        assert!(!run.threshold_met && run.shares.is_empty());
        assert_eq!(run.carried, history.carried);
    }
}
