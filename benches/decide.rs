//! The decision path without HTTP: parse parameters, decide, build the event
//! record; with the demo catalog, and with a catalog where 20 rules are active.
//! Hits come from a million visitors cycled at steady state (`support`).

mod support;

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use support::{Traffic, VISITORS, ready, steady_state};
use switchyard::catalog::{Catalog, Origin, file};
use switchyard::counters::CounterStore;
use switchyard::events::{HitKind, HitRecord};
use switchyard::routing::{Inputs, Outcome, TransactionId, decide_offer_click, try_offer};
use switchyard::rules::status::Approval;
use switchyard::visit::{TrackingParams, Visit};

const QUERY: &str = "oid=1&affid=1&sub1=campaign_42&sub2=creative-7&source_id=app123&idfa=6d92078a-8246-4ba4-ae5b-76104861e7dc";
const UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

/// Every configurable rule active on offer 1, each with something to check.
const TWENTY_RULES: &str = r#"
advertisers: [{ id: 1, name: A }]
partners: [{ id: 1, name: P, tags: [us] }]
offers:
  - id: 1
    advertiser_id: 1
    name: O
    offer_url: "https://adv.example/?t={transaction_id}&s={sub1}&c={country_code}"
    timezone: America/New_York
    targeting:
      countries: { exclude: [KP, IR, SY] }
      device_types: { exclude: [bot] }
      params: [{ name: sub1, op: regex, value: "^campaign_" }]
      ip_ranges: { exclude: ["10.0.0.0/8", "192.168.0.0/16"] }
offer_approvals: [{ offer_id: 1, partner_id: 1 }]
offer_caps:
  - { offer_id: 1, metric: clicks, period: day, cap_limit: 100000000 }
  - { offer_id: 1, partner_id: 1, metric: clicks, period: month, cap_limit: 100000000 }
  - { offer_id: 1, metric: payout, period: month, cap_limit: 1000000 }
offer_blacklisted_subs: [{ offer_id: 1, param: sub1, value: fraud }]
offer_retargeting_ids: [{ offer_id: 1, device_id: 6d92078a-8246-4ba4-ae5b-76104861e7dc }]
traffic_control: [{ scope: offer, offer_id: 1, list: block, field: app_id, pattern: "com.bad%" }]
traffic_targeting: [{ partner_tag: us, targeting: { device_types: { exclude: [bot] } } }]
optimization_rules:
  - { kind: ANONYMOUS_PROXY_IP }
  - { kind: IP_RECENCY, params: { ttl_seconds: 1 } }
  - { kind: RECENCY, params: { ttl_seconds: 1 } }
  - { kind: IP_RATE_LIMIT, params: { threshold: 1000000000, window_seconds: 86400 } }
  - { kind: IP_UA_RATE_LIMIT, params: { threshold: 1000000000, window_seconds: 86400 } }
"#;

fn bench(c: &mut Criterion) {
    let demo = Catalog::build(
        file::parse(file::DEMO_CATALOG, "demo").unwrap(),
        Origin::Test,
        1,
    )
    .unwrap();
    let rules =
        Catalog::build(file::parse(TWENTY_RULES, "rules").unwrap(), Origin::Test, 1).unwrap();

    c.bench_function("parse_params", |b| {
        b.iter(|| TrackingParams::parse(black_box(QUERY), true).unwrap())
    });

    for (name, catalog) in [
        ("decide_demo_offer", &demo),
        ("decide_with_20_rules", &rules),
    ] {
        // The decision alone, as the budget states it: the visit is parsed once
        // and only its IP changes, so every hit's recency and rate-limit
        // reservations are real work on a cold table entry.
        let counters = CounterStore::local_only(None);
        let mut traffic = Traffic::new();
        let mut visit = Visit::bare(
            TrackingParams::parse(QUERY, true).unwrap(),
            IpAddr::from([0, 0, 0, 0]),
            UA,
        );
        let mut n = 0;
        let decide = || {
            let (ip, now) = traffic.next_hit();
            visit.ip = ip;
            n += 1;
            let inputs = Inputs {
                transaction_id: TransactionId(n),
                catalog,
                counters: &counters,
                visit: &visit,
                now,
                checks: &switchyard::checks::NO_CHECKS,
            };
            ready(decide_offer_click(&inputs, None))
        };
        steady_state(c, name, VISITORS, decide, |decision| {
            assert!(
                matches!(decision.outcome, Outcome::Redirect { .. }),
                "{name}: the bench hit must take the whole path, not be discarded: {decision:?}"
            )
        });
    }

    // The budget's own unit: the 20 rules judged for one offer, static checks
    // and counter reservations, without the lookups and URL of a decision.
    // Once with a million visitors (cold counter entries, as in production)
    // and once with ten thousand (warm: they fit in the CPU caches).
    let (offer, partner) = (rules.offer(1).unwrap(), rules.partner(1).unwrap());
    for visitors in [VISITORS, 10_000] {
        let mut traffic = Traffic::of(visitors);
        let counters = CounterStore::local_only(None);
        let mut visit = Visit::bare(
            TrackingParams::parse(QUERY, true).unwrap(),
            IpAddr::from([0, 0, 0, 0]),
            UA,
        );
        let evaluate = || {
            let (ip, now) = traffic.next_hit();
            visit.ip = ip;
            let inputs = Inputs {
                transaction_id: TransactionId(1),
                catalog: &rules,
                counters: &counters,
                visit: &visit,
                now,
                checks: &switchyard::checks::NO_CHECKS,
            };
            ready(try_offer(
                &inputs,
                offer,
                partner,
                HitKind::Click,
                Approval::Required,
            ))
        };
        let name = format!("evaluate_20_rules/{visitors}_visitors");
        steady_state(c, &name, visitors, evaluate, |verdict| {
            assert_eq!(verdict, &Ok(()), "every rule must pass")
        });
    }

    // Parsing, deciding and building the event record: everything but HTTP.
    let counters = CounterStore::local_only(None);
    let mut traffic = Traffic::new();
    let click = || {
        let (ip, now) = traffic.next_hit();
        let visit = Visit::bare(
            TrackingParams::parse(black_box(QUERY), true).unwrap(),
            ip,
            UA,
        );
        let inputs = Inputs {
            transaction_id: TransactionId::random(&mut rand::rng()),
            catalog: &rules,
            counters: &counters,
            visit: &visit,
            now,
            checks: &switchyard::checks::NO_CHECKS,
        };
        let decision = ready(decide_offer_click(&inputs, None));
        HitRecord::from_decision(HitKind::Click, &decision, visit, now)
    };
    steady_state(c, "click_path_without_http", VISITORS, click, |record| {
        assert!(record.redirected)
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
