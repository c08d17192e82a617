//! A hit through a 10-offer smart link (weight mechanism) where four offers fail
//! their targeting, with the 20 rules of `decide.rs` active on every offer:
//! routing alone (budget: under 2 µs), and with parsing and the event record.

mod support;

use std::fmt::Write;
use std::net::IpAddr;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use support::{Traffic, VISITORS, ready, steady_state};
use switchyard::catalog::{Catalog, Origin, file};
use switchyard::counters::CounterStore;
use switchyard::events::{HitKind, HitRecord};
use switchyard::routing::smart_link::decide_smart_link;
use switchyard::routing::{Inputs, Outcome, TransactionId};
use switchyard::visit::{TrackingParams, Visit};

const QUERY: &str = "affid=1&sub1=campaign_42&sub2=creative-7&source_id=app123&idfa=6d92078a-8246-4ba4-ae5b-76104861e7dc";
const UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const IDFA: &str = "6d92078a-8246-4ba4-ae5b-76104861e7dc";

/// Offers 1..=10, each with the targeting, caps, lists and rules of
/// `decide.rs`'s TWENTY_RULES; offers 2, 4, 6 and 8 also require a `sub2` this
/// hit never has.
fn catalog_yaml() -> String {
    let mut yaml = String::from(
        "advertisers: [{ id: 1, name: A }]\npartners: [{ id: 1, name: P, tags: [us] }]\noffers:\n",
    );
    for id in 1..=10 {
        let failing = if id % 2 == 0 && id < 10 {
            r#", { name: sub2, op: equals, value: never }"#
        } else {
            ""
        };
        let _ = write!(
            yaml,
            r#"  - id: {id}
    advertiser_id: 1
    name: O{id}
    offer_url: "https://adv{id}.example/?t={{transaction_id}}&s={{sub1}}&c={{country_code}}&l={{smart_link_id}}"
    timezone: America/New_York
    targeting:
      countries: {{ exclude: [KP, IR, SY] }}
      device_types: {{ exclude: [bot] }}
      params: [{{ name: sub1, op: regex, value: "^campaign_" }}{failing}]
      ip_ranges: {{ exclude: ["10.0.0.0/8", "192.168.0.0/16"] }}
"#
        );
    }
    yaml.push_str("offer_approvals:\n");
    for id in 1..=10 {
        let _ = writeln!(yaml, "  - {{ offer_id: {id}, partner_id: 1 }}");
    }
    yaml.push_str("offer_caps:\n");
    for id in 1..=10 {
        let _ = writeln!(
            yaml,
            "  - {{ offer_id: {id}, metric: clicks, period: day, cap_limit: 100000000 }}
  - {{ offer_id: {id}, partner_id: 1, metric: clicks, period: month, cap_limit: 100000000 }}
  - {{ offer_id: {id}, metric: payout, period: month, cap_limit: 1000000 }}"
        );
    }
    yaml.push_str("offer_blacklisted_subs:\n");
    for id in 1..=10 {
        let _ = writeln!(yaml, "  - {{ offer_id: {id}, param: sub1, value: fraud }}");
    }
    yaml.push_str("offer_retargeting_ids:\n");
    for id in 1..=10 {
        let _ = writeln!(yaml, "  - {{ offer_id: {id}, device_id: {IDFA} }}");
    }
    yaml.push_str("traffic_control:\n");
    for id in 1..=10 {
        let _ = writeln!(
            yaml,
            "  - {{ scope: offer, offer_id: {id}, list: block, field: app_id, pattern: \"com.bad%\" }}"
        );
    }
    yaml.push_str(
        "traffic_targeting: [{ partner_tag: us, targeting: { device_types: { exclude: [bot] } } }]
optimization_rules:
  - { kind: ANONYMOUS_PROXY_IP }
  - { kind: IP_RECENCY, params: { ttl_seconds: 1 } }
  - { kind: RECENCY, params: { ttl_seconds: 1 } }
  - { kind: IP_RATE_LIMIT, params: { threshold: 1000000000, window_seconds: 86400 } }
  - { kind: IP_UA_RATE_LIMIT, params: { threshold: 1000000000, window_seconds: 86400 } }
smart_links: [{ id: 1, name: Rotation, mechanism: weight }]
smart_link_offers:
",
    );
    for id in 1..=10 {
        let _ = writeln!(
            yaml,
            "  - {{ smart_link_id: 1, offer_id: {id}, weight: {} }}",
            10 + id
        );
    }
    yaml
}

fn bench(c: &mut Criterion) {
    let catalog = Catalog::build(
        file::parse(&catalog_yaml(), "smart link").unwrap(),
        Origin::Test,
        1,
    )
    .unwrap();
    let counters = CounterStore::local_only(None);
    let mut rng = SmallRng::seed_from_u64(42);
    assert_routes_to_odd_offers(&catalog, &counters);

    // A million visitors at steady state (`support`): recency never refuses,
    // and every reservation is real work on a cold counter entry.
    // Routing alone, as the budget states it: the visit is parsed once and
    // only its IP changes.
    let counters = CounterStore::local_only(None);
    let mut traffic = Traffic::new();
    let mut visit = Visit::bare(
        TrackingParams::parse(QUERY, false).unwrap(),
        IpAddr::from([0, 0, 0, 0]),
        UA,
    );
    let route = || {
        let (ip, now) = traffic.next_hit();
        visit.ip = ip;
        let inputs = Inputs {
            transaction_id: TransactionId::random(&mut rng),
            catalog: &catalog,
            counters: &counters,
            visit: &visit,
            now,
            checks: &switchyard::checks::NO_CHECKS,
        };
        ready(decide_smart_link(&inputs, 1, &mut rng, None))
    };
    steady_state(
        c,
        "smart_link_10_offers_20_rules",
        VISITORS,
        route,
        |decision| assert!(matches!(decision.outcome, Outcome::Redirect { .. })),
    );

    // The same hit with its parsing and event record: everything but HTTP.
    let counters = CounterStore::local_only(None);
    let mut traffic = Traffic::new();
    let click = || {
        let (ip, now) = traffic.next_hit();
        let visit = Visit::bare(TrackingParams::parse(QUERY, false).unwrap(), ip, UA);
        let inputs = Inputs {
            transaction_id: TransactionId::random(&mut rng),
            catalog: &catalog,
            counters: &counters,
            visit: &visit,
            now,
            checks: &switchyard::checks::NO_CHECKS,
        };
        let decision = ready(decide_smart_link(&inputs, 1, &mut rng, None));
        HitRecord::from_decision(HitKind::Click, &decision, visit, now)
    };
    steady_state(
        c,
        "smart_link_click_path_without_http",
        VISITORS,
        click,
        |record| assert!(record.redirected),
    );
}

/// The figure means nothing if the hit is discarded early: check that the
/// failing offers fail and the others take the hit.
fn assert_routes_to_odd_offers(catalog: &Catalog, counters: &CounterStore) {
    let mut rng = SmallRng::seed_from_u64(1);
    for i in 0..50u32 {
        let visit = Visit::bare(
            TrackingParams::parse(QUERY, false).unwrap(),
            IpAddr::from((0xC633_6400 + i).to_be_bytes()),
            UA,
        );
        let inputs = Inputs {
            transaction_id: TransactionId::random(&mut rng),
            catalog,
            counters,
            visit: &visit,
            now: Utc::now(),
            checks: &switchyard::checks::NO_CHECKS,
        };
        let decision = ready(decide_smart_link(&inputs, 1, &mut rng, None));
        match decision.outcome {
            Outcome::Redirect { offer_id, .. } => {
                assert!(offer_id % 2 == 1 || offer_id == 10, "offer {offer_id}")
            }
            other => panic!("discarded: {other:?}"),
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
