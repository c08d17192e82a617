use std::net::IpAddr;

use chrono::Utc;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::*;
use crate::catalog::{Catalog, Origin, file};
use crate::counters::CounterStore;
use crate::routing::TransactionId;
use crate::visit::{TrackingParams, Visit};

/// Seed 000's diagram: A (fail → C), B (fail → D), Catch All (fail → E). Offer
/// `n` refuses a visit whose sub1 contains `_n_`, so one catalog serves every path.
const DIAGRAM: &str = "
advertisers: [{ id: 1, name: Acme }]
partners:
  - { id: 1, name: Approved }
  - { id: 2, name: Stranger }
offers:
  - { id: 1, advertiser_id: 1, name: A, offer_url: 'https://a.example/?t={transaction_id}&u={unique_click}&l={smart_link_id}', fail_offer_id: 3, targeting: { params: [{ name: sub1, op: contains, value: _1_, negate: true }] } }
  - { id: 2, advertiser_id: 1, name: B, offer_url: 'https://b.example/', fail_offer_id: 4, targeting: { params: [{ name: sub1, op: contains, value: _2_, negate: true }] } }
  - { id: 3, advertiser_id: 1, name: C, offer_url: 'https://c.example/', targeting: { params: [{ name: sub1, op: contains, value: _3_, negate: true }] } }
  - { id: 4, advertiser_id: 1, name: D, offer_url: 'https://d.example/', targeting: { params: [{ name: sub1, op: contains, value: _4_, negate: true }] } }
  - { id: 5, advertiser_id: 1, name: CatchAll, offer_url: 'https://ca.example/', fail_offer_id: 6, targeting: { params: [{ name: sub1, op: contains, value: _5_, negate: true }] } }
  - { id: 6, advertiser_id: 1, name: E, offer_url: 'https://e.example/', targeting: { params: [{ name: sub1, op: contains, value: _6_, negate: true }] } }
offer_urls:
  - { id: 30, offer_id: 3, name: C2, url: 'https://c.example/landing2' }
offer_approvals:
  - { offer_id: 1, partner_id: 1 }
  - { offer_id: 2, partner_id: 1 }
  - { offer_id: 3, partner_id: 1 }
  - { offer_id: 4, partner_id: 1 }
tracking_domains: [{ id: 1, hostname: go.example }]
smart_links:
  - { id: 10, name: Diagram }
  - { id: 11, name: Bound, tracking_domain_id: 1 }
  - { id: 12, name: Off, status: paused }
  - { id: 13, name: Loop }
  - { id: 14, name: Landing }
smart_link_offers:
  - { smart_link_id: 10, offer_id: 1, priority: 1 }
  - { smart_link_id: 10, offer_id: 2, priority: 2 }
  - { smart_link_id: 10, offer_id: 5, is_catch_all: true }
  - { smart_link_id: 11, offer_id: 2 }
  - { smart_link_id: 12, offer_id: 2 }
  - { smart_link_id: 14, offer_id: 3, offer_url_id: 30, targeting: { params: [{ name: sub2, op: equals, value: ok }] } }
  - { smart_link_id: 14, offer_id: 4, priority: 2 }
";

/// Offers 1 and 2 fail into each other.
const LOOP: &str = "
advertisers: [{ id: 1, name: Acme }]
partners: [{ id: 1, name: P }]
offers:
  - { id: 1, advertiser_id: 1, name: A, offer_url: 'https://a.example/', requires_approval: false, fail_offer_id: 2, status: paused }
  - { id: 2, advertiser_id: 1, name: B, offer_url: 'https://b.example/', requires_approval: false, fail_offer_id: 1, status: paused }
smart_links: [{ id: 1, name: L }]
smart_link_offers:
  - { smart_link_id: 1, offer_id: 1, priority: 1 }
  - { smart_link_id: 1, offer_id: 2, priority: 2 }
";

fn catalog(yaml: &str) -> Catalog {
    Catalog::build(file::parse(yaml, "test").unwrap(), Origin::Test, 1).unwrap()
}

fn visit(query: &str) -> Visit {
    let params = TrackingParams::parse(query, false).unwrap();
    Visit::bare(params, IpAddr::from([192, 0, 2, 1]), "test-agent")
}

struct Hit {
    decision: Decision,
    trace: Vec<TraceStep>,
}

impl Hit {
    fn offer(&self) -> Option<i64> {
        match &self.decision.outcome {
            Outcome::Redirect { offer_id, .. } => Some(*offer_id),
            Outcome::Discard { .. } => None,
        }
    }

    fn url(&self) -> &str {
        match &self.decision.outcome {
            Outcome::Redirect { url, .. } => url,
            Outcome::Discard { .. } => "",
        }
    }

    fn discard(&self) -> Option<(RuleCode, Option<DiscardDetail>)> {
        match &self.decision.outcome {
            Outcome::Discard { rule, detail, .. } => Some((*rule, *detail)),
            Outcome::Redirect { .. } => None,
        }
    }

    fn tried(&self) -> Vec<(i64, &'static str)> {
        self.trace.iter().map(|s| (s.offer_id, s.via)).collect()
    }
}

fn hit_on(catalog: &Catalog, counters: &CounterStore, link: i64, visit: &Visit, seed: u64) -> Hit {
    let inputs = Inputs {
        transaction_id: TransactionId(u128::from(seed) + 1),
        catalog,
        counters,
        visit,
        now: Utc::now(),
        checks: &crate::checks::NO_CHECKS,
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut trace = Vec::new();
    let decision = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(decide_smart_link(&inputs, link, &mut rng, Some(&mut trace)));
    Hit { decision, trace }
}

fn hit(catalog: &Catalog, link: i64, query: &str) -> Hit {
    hit_on(
        catalog,
        &CounterStore::local_only(None),
        link,
        &visit(query),
        1,
    )
}

#[test]
fn each_arrow_of_the_seed_diagram() {
    let catalog = catalog(DIAGRAM);
    let cases = [
        ("", Some(1)),
        ("_1_", Some(3)),
        ("_1__3_", Some(2)),
        ("_1__3__2_", Some(4)),
        ("_1__3__2__4_", Some(5)),
        ("_1__3__2__4__5_", Some(6)),
        ("_1__3__2__4__5__6_", None),
    ];
    for (sub1, expected) in cases {
        let hit = hit(&catalog, 10, &format!("affid=1&sub1=x{sub1}"));
        assert_eq!(hit.offer(), expected, "sub1={sub1}");
        assert_eq!(hit.decision.smart_link_id, Some(10));
        if expected.is_none() {
            assert_eq!(
                hit.discard(),
                Some((RuleCode::SmartLinkNoMatchingOffers, None))
            );
        }
    }
    let everything = hit(&catalog, 10, "affid=1&sub1=_1__3__2__4__5__6_");
    assert_eq!(
        everything.tried(),
        vec![
            (1, "candidate"),
            (3, "fail_offer"),
            (2, "candidate"),
            (4, "fail_offer"),
            (5, "catch_all"),
            (6, "catch_all_fail_offer"),
        ]
    );
}

#[test]
fn catch_all_accepts_unapproved_partner_and_so_does_its_fail_offer() {
    let catalog = catalog(DIAGRAM);
    let to_catch_all = hit(&catalog, 10, "affid=2");
    assert_eq!(to_catch_all.offer(), Some(5));
    // A and B refused the partner, and their fail offers were not offered to it.
    assert_eq!(
        to_catch_all.tried(),
        vec![(1, "candidate"), (2, "candidate"), (5, "catch_all")]
    );
    assert_eq!(
        to_catch_all.trace[0].rejected_by,
        Some(RuleCode::PublisherNotApproved)
    );
    assert_eq!(hit(&catalog, 10, "affid=2&sub1=_5_").offer(), Some(6));
}

#[test]
fn fail_offer_loop_ends_and_each_offer_is_judged_once() {
    let catalog = catalog(LOOP);
    let hit = hit(&catalog, 1, "affid=1");
    assert_eq!(
        hit.discard(),
        Some((RuleCode::SmartLinkNoMatchingOffers, None))
    );
    assert_eq!(
        hit.trace
            .iter()
            .filter(|s| s.detail != Some("already_tried"))
            .map(|s| s.offer_id)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[test]
fn link_targeting_applies_after_the_offers_own_and_picks_the_landing_page() {
    let catalog = catalog(DIAGRAM);
    let landed = hit(&catalog, 14, "affid=1&sub2=ok");
    assert_eq!(landed.offer(), Some(3));
    assert_eq!(landed.url(), "https://c.example/landing2");
    let refused = hit(&catalog, 14, "affid=1&sub2=no");
    assert_eq!(refused.offer(), Some(4));
    assert_eq!(refused.trace[0].detail, Some("link_targeting"));
    assert_eq!(
        refused.trace[0].rejected_by,
        Some(RuleCode::AdvancedTargetingMismatch)
    );
}

#[test]
fn unknown_paused_and_wrongly_hosted_links_are_invalid_requests() {
    let catalog = catalog(DIAGRAM);
    let invalid = |detail| Some((RuleCode::InvalidRequest, Some(detail)));
    assert_eq!(
        hit(&catalog, 99, "affid=1").discard(),
        invalid(DiscardDetail::UnknownSmartLink)
    );
    assert_eq!(
        hit(&catalog, 12, "affid=1").discard(),
        invalid(DiscardDetail::UnknownSmartLink)
    );
    assert_eq!(
        hit(&catalog, 11, "affid=1").discard(),
        invalid(DiscardDetail::WrongTrackingDomain)
    );
    let mut on_domain = visit("affid=1");
    on_domain.host = Some("go.example".into());
    let counters = CounterStore::local_only(None);
    assert_eq!(
        hit_on(&catalog, &counters, 11, &on_domain, 1).offer(),
        Some(2)
    );
    assert_eq!(
        hit(&catalog, 10, "affid=77").discard(),
        invalid(DiscardDetail::UnknownPartner)
    );
}

#[test]
fn macros_carry_the_smart_link_and_uniqueness() {
    let catalog = catalog(DIAGRAM);
    let hit = hit(&catalog, 10, "affid=1");
    assert!(hit.url().ends_with("&u=1&l=10"), "{}", hit.url());
}

fn weighted(extra_offer_status: &str) -> String {
    format!(
        "
advertisers: [{{ id: 1, name: Acme }}]
partners: [{{ id: 1, name: P }}]
offers:
  - {{ id: 1, advertiser_id: 1, name: A, offer_url: 'https://a.example/', requires_approval: false }}
  - {{ id: 2, advertiser_id: 1, name: B, offer_url: 'https://b.example/', requires_approval: false }}
  - {{ id: 3, advertiser_id: 1, name: C, offer_url: 'https://c.example/', requires_approval: false }}
  - {{ id: 4, advertiser_id: 1, name: D, offer_url: 'https://d.example/', requires_approval: false, status: {extra_offer_status} }}
smart_links: [{{ id: 1, name: W, mechanism: weight }}]
smart_link_offers:
  - {{ smart_link_id: 1, offer_id: 1, weight: 50 }}
  - {{ smart_link_id: 1, offer_id: 2, weight: 25 }}
  - {{ smart_link_id: 1, offer_id: 3, weight: 25 }}
  - {{ smart_link_id: 1, offer_id: 4, weight: 100 }}
"
    )
}

/// Pearson's chi-square statistic of observed counts against expected shares.
fn chi_square(observed: &[u32], shares: &[f64]) -> f64 {
    let n: u32 = observed.iter().sum();
    observed
        .iter()
        .zip(shares)
        .map(|(&o, &p)| {
            let e = f64::from(n) * p;
            (f64::from(o) - e).powi(2) / e
        })
        .sum()
}

fn draws(catalog: &Catalog, n: u64) -> [u32; 5] {
    let counters = CounterStore::local_only(None);
    let visit = visit("affid=1");
    let inputs = Inputs {
        transaction_id: TransactionId(1),
        catalog,
        counters: &counters,
        visit: &visit,
        now: Utc::now(),
        checks: &crate::checks::NO_CHECKS,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut rng = SmallRng::seed_from_u64(2026);
    let mut counts = [0u32; 5];
    for _ in 0..n {
        let decision = runtime.block_on(decide_smart_link(&inputs, 1, &mut rng, None));
        if let Outcome::Redirect { offer_id, .. } = decision.outcome {
            counts[usize::try_from(offer_id).unwrap()] += 1;
        }
    }
    counts
}

// Critical values of chi-square at p = 0.001: 2 degrees of freedom 13.82, 3: 16.27.
#[test]
fn weights_are_followed() {
    let counts = draws(&catalog(&weighted("active")), 10_000);
    let chi = chi_square(&counts[1..5], &[0.25, 0.125, 0.125, 0.5]);
    assert!(chi < 16.27, "chi-square {chi}, counts {counts:?}");
}

#[test]
fn an_ineligible_offers_share_is_spread_proportionally() {
    let counts = draws(&catalog(&weighted("paused")), 10_000);
    assert_eq!(counts[4], 0);
    let chi = chi_square(&counts[1..4], &[0.5, 0.25, 0.25]);
    assert!(chi < 13.82, "chi-square {chi}, counts {counts:?}");
}

#[test]
fn kpi_links_spread_evenly_until_the_optimizer_ranks_them() {
    let yaml = weighted("paused").replace("mechanism: weight", "mechanism: kpi");
    let counts = draws(&catalog(&yaml), 9_000);
    let chi = chi_square(&counts[1..4], &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
    assert!(chi < 13.82, "chi-square {chi}, counts {counts:?}");
}

#[test]
fn the_chi_square_check_can_fail() {
    // Guards the two tests above against a statistic that always passes.
    assert!(chi_square(&[5_000, 5_000, 0], &[0.5, 0.25, 0.25]) > 13.82);
}

/// The diagram's offers behind a KPI link whose latest run ranks B above A.
fn ranked(run: &str) -> Catalog {
    let yaml = DIAGRAM
        .replace(
            "  - { id: 14, name: Landing }",
            "  - { id: 14, name: Landing }\n  - { id: 20, name: Ranked, mechanism: kpi, optimization_reset_at: '2024-01-01T00:00:00Z' }",
        )
        .replace(
            "smart_link_offers:\n",
            "smart_link_offers:\n  - { smart_link_id: 20, offer_id: 1 }\n  - { smart_link_id: 20, offer_id: 2 }\n  - { smart_link_id: 20, offer_id: 5, is_catch_all: true }\n",
        );
    catalog(&format!("{yaml}smart_link_kpi_runs: [{run}]\n"))
}

/// An offer tried and how it was reached.
type Tried = (i64, &'static str);

const RANKED_RUN: &str =
    "{ smart_link_id: 20, ran_at: '2024-01-02T00:00:00Z', threshold_met: true, ranking: [2, 1] }";

#[test]
fn a_ranked_link_falls_through_fail_offers_and_down_the_ranking_to_the_catch_all() {
    let catalog = ranked(RANKED_RUN);
    let cases: [(&str, &[Tried], Option<i64>); 5] = [
        ("", &[(2, "candidate")], Some(2)),
        ("_2_", &[(2, "candidate"), (4, "fail_offer")], Some(4)),
        (
            "_2_4_",
            &[(2, "candidate"), (4, "fail_offer"), (1, "candidate")],
            Some(1),
        ),
        (
            "_2_4_1_3_",
            &[
                (2, "candidate"),
                (4, "fail_offer"),
                (1, "candidate"),
                (3, "fail_offer"),
                (5, "catch_all"),
            ],
            Some(5),
        ),
        (
            "_2_4_1_3_5_",
            &[
                (2, "candidate"),
                (4, "fail_offer"),
                (1, "candidate"),
                (3, "fail_offer"),
                (5, "catch_all"),
                (6, "catch_all_fail_offer"),
            ],
            Some(6),
        ),
    ];
    for (sub1, tried, offer) in cases {
        // Several seeds: a ranked link must not depend on the rng at all.
        for seed in 0..16 {
            let hit = hit_on(
                &catalog,
                &CounterStore::local_only(None),
                20,
                &visit(&format!("affid=1&sub1={sub1}")),
                seed,
            );
            assert_eq!(hit.tried(), tried, "sub1 {sub1:?} seed {seed}");
            assert_eq!(hit.offer(), offer, "sub1 {sub1:?} seed {seed}");
        }
    }
}

#[test]
fn a_run_below_the_threshold_or_before_the_reset_does_not_rank() {
    let below = ranked(
        "{ smart_link_id: 20, ran_at: '2024-01-02T00:00:00Z', threshold_met: false, ranking: [] }",
    );
    assert_eq!(below.smart_link(20).unwrap().kpi_order, None);
    let stale = ranked(
        "{ smart_link_id: 20, ran_at: '2023-12-31T00:00:00Z', threshold_met: true, ranking: [2, 1] }",
    );
    assert_eq!(stale.smart_link(20).unwrap().kpi_order, None);
    let current = ranked(RANKED_RUN);
    assert_eq!(
        current.smart_link(20).unwrap().kpi_order,
        Some(crate::catalog::KpiOrder::Ranked(vec![1, 0])),
        "link offers are [A, B]; the run puts B first"
    );
}

#[test]
fn an_exploring_run_draws_by_its_shares() {
    // Offer 4 is not in the run: it gets the run's smallest share (0.1).
    let yaml = weighted("active").replace("mechanism: weight", "mechanism: kpi")
        + "smart_link_kpi_runs:
  - { smart_link_id: 1, ran_at: '2024-01-02T00:00:00Z', strategy: explore, threshold_met: true,
      ranking: [3, 1, 2], shares: [0.7, 0.2, 0.1] }
";
    let counts = draws(&catalog(&yaml), 11_000);
    let chi = chi_square(&counts[1..5], &[0.2 / 1.1, 0.1 / 1.1, 0.7 / 1.1, 0.1 / 1.1]);
    assert!(chi < 16.27, "chi-square {chi}, counts {counts:?}");
}
