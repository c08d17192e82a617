//! The decision path without HTTP: parse parameters, decide, build the event
//! record; with the demo catalog, and with a catalog where 20 rules are active.

use std::hint::black_box;
use std::net::IpAddr;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::catalog::{Catalog, Origin, file};
use switchyard::counters::CounterStore;
use switchyard::events::{HitKind, HitRecord};
use switchyard::routing::{Inputs, TransactionId, decide_offer_click};
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let demo = Catalog::build(
        file::parse(file::DEMO_CATALOG, "demo").unwrap(),
        Origin::Test,
        1,
    )
    .unwrap();
    let rules =
        Catalog::build(file::parse(TWENTY_RULES, "rules").unwrap(), Origin::Test, 1).unwrap();
    let counters = CounterStore::local_only(None);
    let mut ip_counter: u32 = 0;

    c.bench_function("parse_params", |b| {
        b.iter(|| TrackingParams::parse(black_box(QUERY), true).unwrap())
    });

    for (name, catalog) in [
        ("decide_demo_offer", &demo),
        ("decide_with_20_rules", &rules),
    ] {
        // The decision alone, as the budget states it: the visit is parsed once and
        // only its IP changes, so every hit is a new visitor and every recency and
        // rate-limit reservation inserts real entries.
        let mut visit = Visit::bare(
            TrackingParams::parse(QUERY, true).unwrap(),
            IpAddr::from([0, 0, 0, 0]),
            UA,
        );
        c.bench_function(name, |b| {
            b.iter(|| {
                ip_counter = ip_counter.wrapping_add(1);
                visit.ip = IpAddr::from(ip_counter.to_be_bytes());
                let inputs = Inputs {
                    transaction_id: TransactionId(u128::from(ip_counter)),
                    catalog,
                    counters: &counters,
                    visit: &visit,
                    now: Utc::now(),
                };
                black_box(runtime.block_on(decide_offer_click(&inputs, None)))
            })
        });
    }

    // Parsing, deciding and building the event record: everything but HTTP.
    c.bench_function("click_path_without_http", |b| {
        b.iter(|| {
            ip_counter = ip_counter.wrapping_add(1);
            let now = Utc::now();
            let visit = Visit::bare(
                TrackingParams::parse(black_box(QUERY), true).unwrap(),
                IpAddr::from(ip_counter.to_be_bytes()),
                UA,
            );
            let inputs = Inputs {
                transaction_id: TransactionId::random(&mut rand::rng()),
                catalog: &rules,
                counters: &counters,
                visit: &visit,
                now,
            };
            let decision = runtime.block_on(decide_offer_click(&inputs, None));
            black_box(HitRecord::from_decision(
                HitKind::Click,
                &decision,
                visit,
                now,
            ))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
