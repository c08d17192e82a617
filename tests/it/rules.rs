//! Every discard rule through the decision path: fires, does not fire, and its
//! scope override. Counters are in-process; time is the test's.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use switchyard::catalog::{Catalog, Origin, file};
use switchyard::counters::CounterStore;
use switchyard::routing::{
    Decision, Inputs, Outcome, TransactionId, decide_impression, decide_offer_click,
};
use switchyard::rules::RuleCode;
use switchyard::visit::geo::AnonymousIp;
use switchyard::visit::{GeoInfo, TrackingParams, Visit};

const BASE: &str = "
advertisers: [{ id: 1, name: Acme }]
partners:
  - { id: 1, name: Blue, tags: [newyork] }
  - { id: 2, name: Red }
offers:
  - { id: 1, advertiser_id: 1, name: O, offer_url: 'https://o.example/?t={transaction_id}', requires_approval: false }
";

fn catalog(extra: &str) -> Catalog {
    let yaml = format!("{BASE}\n{extra}");
    Catalog::build(file::parse(&yaml, "test").unwrap(), Origin::Test, 1)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The base network (plus `extra`) with offer 1 targeted as `targeting` (YAML/JSON).
fn targeted(extra: &str, targeting: &str) -> Catalog {
    let mut source = file::parse(&format!("{BASE}\n{extra}"), "test").unwrap();
    source.offers[0].targeting = serde_yaml_ng::from_str(targeting).unwrap();
    Catalog::build(source, Origin::Test, 1).unwrap_or_else(|e| panic!("{e}"))
}

struct Hit {
    query: String,
    ip: IpAddr,
    ua: String,
    geo: GeoInfo,
}

fn hit(query: &str) -> Hit {
    Hit {
        query: query.to_owned(),
        ip: IpAddr::from([198, 51, 100, 1]),
        ua: "agent/1".into(),
        geo: GeoInfo::default(),
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap() + chrono::TimeDelta::seconds(seconds)
}

async fn decide(
    catalog: &Catalog,
    counters: &CounterStore,
    hit: &Hit,
    now: DateTime<Utc>,
) -> Decision {
    let mut visit = Visit::bare(
        TrackingParams::parse(&hit.query, true).unwrap(),
        hit.ip,
        &hit.ua,
    );
    visit.geo = hit.geo.clone();
    let inputs = Inputs {
        transaction_id: TransactionId::random(&mut rand::rng()),
        catalog,
        counters,
        visit: &visit,
        now,
        checks: &switchyard::checks::NO_CHECKS,
    };
    decide_offer_click(&inputs, None).await
}

async fn verdict(catalog: &Catalog, hit: &Hit) -> Option<RuleCode> {
    rule_of(&decide(catalog, &CounterStore::local_only(None), hit, at(0)).await)
}

fn rule_of(decision: &Decision) -> Option<RuleCode> {
    match decision.outcome {
        Outcome::Discard { rule, .. } => Some(rule),
        Outcome::Redirect { .. } => None,
    }
}

fn us() -> GeoInfo {
    GeoInfo {
        country: Some("US".into()),
        city: Some("New York".into()),
        ..GeoInfo::default()
    }
}

#[tokio::test]
async fn offer_targeting_mismatch_on_country() {
    let c = targeted("", "{ countries: { include: [US] } }");
    let mut h = hit("oid=1&affid=1");
    h.geo = us();
    assert_eq!(verdict(&c, &h).await, None);
    h.geo.country = Some("PL".into());
    assert_eq!(
        verdict(&c, &h).await,
        Some(RuleCode::OfferTargetingMismatch)
    );
    h.geo.country = None;
    assert_eq!(
        verdict(&c, &h).await,
        Some(RuleCode::OfferTargetingMismatch),
        "include does not match unknown"
    );
}

#[tokio::test]
async fn advanced_targeting_mismatch_on_city_and_its_scope_override() {
    let city = targeted("", r#"{ cities: { include: ["New York"] } }"#);
    let mut h = hit("oid=1&affid=1");
    h.geo = us();
    assert_eq!(verdict(&city, &h).await, None);
    h.geo.city = Some("San Francisco".into());
    assert_eq!(
        verdict(&city, &h).await,
        Some(RuleCode::AdvancedTargetingMismatch)
    );

    let switched_off = targeted(
        "optimization_rules: [{ kind: ADVANCED_TARGETING_MISMATCH, scope: offer, offer_id: 1, active: false }]",
        r#"{ cities: { include: ["New York"] } }"#,
    );
    assert_eq!(
        verdict(&switched_off, &h).await,
        None,
        "an inactive offer-scoped rule lets traffic through"
    );
}

#[tokio::test]
async fn anonymous_proxy_ip_only_when_configured() {
    let mut h = hit("oid=1&affid=1");
    h.geo.anonymous = AnonymousIp {
        vpn: true,
        ..AnonymousIp::default()
    };
    assert_eq!(
        verdict(&catalog(""), &h).await,
        None,
        "off until configured"
    );
    let on = catalog("optimization_rules: [{ kind: ANONYMOUS_PROXY_IP }]");
    assert_eq!(verdict(&on, &h).await, Some(RuleCode::AnonymousProxyIp));
    let hosting_only =
        catalog("optimization_rules: [{ kind: ANONYMOUS_PROXY_IP, params: { block: [hosting] } }]");
    assert_eq!(
        verdict(&hosting_only, &h).await,
        None,
        "VPNs not in the block list"
    );
    h.geo.anonymous = AnonymousIp::default();
    assert_eq!(verdict(&on, &h).await, None);
}

#[tokio::test]
async fn traffic_targeting_applies_to_partners_by_tag() {
    let c = catalog(
        "traffic_targeting: [{ partner_tag: '#NewYork', targeting: { cities: { include: ['New York'] } } }]",
    );
    let mut tagged = hit("oid=1&affid=1");
    tagged.geo = us();
    tagged.geo.city = Some("San Francisco".into());
    assert_eq!(verdict(&c, &tagged).await, Some(RuleCode::TrafficTargeting));
    let untagged = Hit {
        query: "oid=1&affid=2".into(),
        ..tagged
    };
    assert_eq!(verdict(&c, &untagged).await, None);
}

#[tokio::test]
async fn blacklisted_sub_id() {
    let c = catalog("offer_blacklisted_subs: [{ offer_id: 1, param: sub2, value: fraud-site }]");
    assert_eq!(
        verdict(&c, &hit("oid=1&affid=1&sub2=fraud-site")).await,
        Some(RuleCode::BlacklistedSubId)
    );
    assert_eq!(verdict(&c, &hit("oid=1&affid=1&sub2=fine")).await, None);
    assert_eq!(
        verdict(&c, &hit("oid=1&affid=1&sub1=fraud-site")).await,
        None,
        "other sub ids are not listed"
    );
}

#[tokio::test]
async fn invalid_user_identifier() {
    let c = catalog(
        "offer_retargeting_ids: [{ offer_id: 1, device_id: 6d92078a-8246-4ba4-ae5b-76104861e7dc }]",
    );
    assert_eq!(
        verdict(
            &c,
            &hit("oid=1&affid=1&idfa=6D92078A-8246-4BA4-AE5B-76104861E7DC")
        )
        .await,
        None
    );
    assert_eq!(
        verdict(
            &c,
            &hit("oid=1&affid=1&gaid=6d92078a-8246-4ba4-ae5b-76104861e7dc")
        )
        .await,
        None
    );
    assert_eq!(
        verdict(
            &c,
            &hit("oid=1&affid=1&idfa=00000000-0000-0000-0000-000000000000")
        )
        .await,
        Some(RuleCode::InvalidUserIdentifier)
    );
    assert_eq!(
        verdict(&c, &hit("oid=1&affid=1")).await,
        Some(RuleCode::InvalidUserIdentifier)
    );
}

#[tokio::test]
async fn traffic_control_allow_list_and_partner_scope() {
    let c = catalog(
        "traffic_control:
  - { scope: offer, offer_id: 1, list: allow, field: app_id, pattern: 'com.good.%' }
  - { scope: partner, partner_id: 2, list: block, field: site, pattern: '%casino%' }",
    );
    assert_eq!(
        verdict(&c, &hit("oid=1&affid=1&app_id=com.good.game")).await,
        None
    );
    assert_eq!(
        verdict(&c, &hit("oid=1&affid=1&app_id=com.other.game")).await,
        Some(RuleCode::TrafficControl)
    );
    assert_eq!(
        verdict(&c, &hit("oid=1&affid=1")).await,
        Some(RuleCode::TrafficControl),
        "allow list blocks all else"
    );
    assert_eq!(
        verdict(
            &c,
            &hit("oid=1&affid=2&app_id=com.good.x&site=bestcasino.example")
        )
        .await,
        Some(RuleCode::TrafficControl)
    );
    assert_eq!(
        verdict(
            &c,
            &hit("oid=1&affid=2&app_id=com.good.x&site=news.example")
        )
        .await,
        None
    );
}

#[tokio::test]
async fn ip_recency_window_edges() {
    let c = catalog("optimization_rules: [{ kind: IP_RECENCY, params: { ttl_seconds: 600 } }]");
    let counters = CounterStore::local_only(None);
    let h = hit("oid=1&affid=1");
    assert_eq!(rule_of(&decide(&c, &counters, &h, at(0)).await), None);
    assert_eq!(
        rule_of(&decide(&c, &counters, &h, at(599)).await),
        Some(RuleCode::IpRecency)
    );
    let other_ua = Hit {
        ua: "other/2".into(),
        ..hit("oid=1&affid=1")
    };
    assert_eq!(
        rule_of(&decide(&c, &counters, &other_ua, at(300)).await),
        Some(RuleCode::IpRecency),
        "IP alone"
    );
    assert_eq!(
        rule_of(&decide(&c, &counters, &h, at(600)).await),
        None,
        "TTL over"
    );
}

#[tokio::test]
async fn recency_fingerprints_ip_and_user_agent() {
    let c = catalog("optimization_rules: [{ kind: RECENCY, params: { ttl_seconds: 60 } }]");
    let counters = CounterStore::local_only(None);
    let h = hit("oid=1&affid=1");
    assert_eq!(rule_of(&decide(&c, &counters, &h, at(0)).await), None);
    assert_eq!(
        rule_of(&decide(&c, &counters, &h, at(30)).await),
        Some(RuleCode::Recency)
    );
    let other_ua = Hit {
        ua: "other/2".into(),
        ..hit("oid=1&affid=1")
    };
    assert_eq!(
        rule_of(&decide(&c, &counters, &other_ua, at(30)).await),
        None,
        "another fingerprint"
    );
    assert_eq!(rule_of(&decide(&c, &counters, &h, at(60)).await), None);
}

#[tokio::test]
async fn ip_rate_limit_threshold_then_window_reset() {
    let c = catalog(
        "optimization_rules: [{ kind: IP_RATE_LIMIT, params: { threshold: 2, window_seconds: 86400 } }]",
    );
    let counters = CounterStore::local_only(None);
    let h = hit("oid=1&affid=1");
    assert_eq!(rule_of(&decide(&c, &counters, &h, at(0)).await), None);
    assert_eq!(rule_of(&decide(&c, &counters, &h, at(10)).await), None);
    assert_eq!(
        rule_of(&decide(&c, &counters, &h, at(20)).await),
        Some(RuleCode::IpRateLimit)
    );
    assert_eq!(
        rule_of(&decide(&c, &counters, &h, at(86_399)).await),
        Some(RuleCode::IpRateLimit)
    );
    assert_eq!(
        rule_of(&decide(&c, &counters, &h, at(86_400)).await),
        None,
        "window reset"
    );
}

#[tokio::test]
async fn ip_ua_rate_limit_counts_per_fingerprint() {
    let c = catalog(
        "optimization_rules: [{ kind: IP_UA_RATE_LIMIT, params: { threshold: 1, window_seconds: 3600 } }]",
    );
    let counters = CounterStore::local_only(None);
    let h = hit("oid=1&affid=1");
    assert_eq!(rule_of(&decide(&c, &counters, &h, at(0)).await), None);
    assert_eq!(
        rule_of(&decide(&c, &counters, &h, at(1)).await),
        Some(RuleCode::IpUaRateLimit)
    );
    let other_ua = Hit {
        ua: "other/2".into(),
        ..hit("oid=1&affid=1")
    };
    assert_eq!(
        rule_of(&decide(&c, &counters, &other_ua, at(1)).await),
        None
    );
}

#[tokio::test]
async fn partner_scoped_rule_only_for_that_partner() {
    let c = catalog(
        "optimization_rules: [{ kind: IP_RECENCY, scope: partner, partner_id: 2, params: { ttl_seconds: 60 } }]",
    );
    let counters = CounterStore::local_only(None);
    for _ in 0..2 {
        assert_eq!(
            rule_of(&decide(&c, &counters, &hit("oid=1&affid=1"), at(0)).await),
            None
        );
    }
    assert_eq!(
        rule_of(&decide(&c, &counters, &hit("oid=1&affid=2"), at(0)).await),
        None
    );
    assert_eq!(
        rule_of(&decide(&c, &counters, &hit("oid=1&affid=2"), at(1)).await),
        Some(RuleCode::IpRecency)
    );
}

#[tokio::test]
async fn click_budget_hard_cap_and_soft_cap() {
    let hard = catalog("offer_caps: [{ offer_id: 1, metric: clicks, period: day, cap_limit: 2 }]");
    let counters = CounterStore::local_only(None);
    let results: Vec<_> = futures_util::future::join_all((0..4).map(|i| {
        let h = Hit {
            ip: IpAddr::from([10, 0, 0, i]),
            ..hit("oid=1&affid=1")
        };
        let (c, counters) = (&hard, &counters);
        async move { rule_of(&decide(c, counters, &h, at(0)).await) }
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.is_none()).count(), 2);
    assert_eq!(
        results
            .iter()
            .filter(|r| **r == Some(RuleCode::ClickBudgetReached))
            .count(),
        2
    );
    // Next day (offer timezone UTC): the cap reopens.
    assert_eq!(
        rule_of(&decide(&hard, &counters, &hit("oid=1&affid=1"), at(86_400)).await),
        None
    );

    let soft = catalog(
        "offer_caps: [{ offer_id: 1, metric: clicks, period: day, cap_limit: 1, hard: false }]",
    );
    let counters = CounterStore::local_only(None);
    for _ in 0..3 {
        assert_eq!(
            rule_of(&decide(&soft, &counters, &hit("oid=1&affid=1"), at(0)).await),
            None,
            "soft caps only count"
        );
    }
}

#[tokio::test]
async fn partner_cap_on_an_offer_leaves_other_partners_alone() {
    let c = catalog(
        "offer_caps: [{ offer_id: 1, partner_id: 2, metric: clicks, period: total, cap_limit: 1 }]",
    );
    let counters = CounterStore::local_only(None);
    assert_eq!(
        rule_of(&decide(&c, &counters, &hit("oid=1&affid=2"), at(0)).await),
        None
    );
    assert_eq!(
        rule_of(&decide(&c, &counters, &hit("oid=1&affid=2"), at(1)).await),
        Some(RuleCode::ClickBudgetReached)
    );
    assert_eq!(
        rule_of(&decide(&c, &counters, &hit("oid=1&affid=1"), at(1)).await),
        None
    );
}

#[tokio::test]
async fn budget_reached_when_payout_budget_is_spent() {
    let c = catalog("offer_caps: [{ offer_id: 1, metric: payout, period: month, cap_limit: 100 }]");
    let counters = CounterStore::local_only(None);
    assert_eq!(
        rule_of(&decide(&c, &counters, &hit("oid=1&affid=1"), at(0)).await),
        None
    );
    let (key, expires) = switchyard::counters::cap_key(
        1,
        None,
        switchyard::counters::CapMetric::Payout,
        switchyard::counters::CapPeriod::Month,
        chrono_tz::UTC,
        at(0),
    );
    counters.add(&key, 100_000_000, expires, at(0)).await;
    assert_eq!(
        rule_of(&decide(&c, &counters, &hit("oid=1&affid=1"), at(1)).await),
        Some(RuleCode::BudgetReached)
    );
}

#[tokio::test]
async fn impression_budget_is_separate_from_clicks() {
    let c =
        catalog("offer_caps: [{ offer_id: 1, metric: impressions, period: hour, cap_limit: 1 }]");
    let counters = CounterStore::local_only(None);
    let impression = |n: i64| {
        let (c, counters) = (&c, &counters);
        async move {
            let visit = Visit::bare(
                TrackingParams::parse("oid=1&affid=1", true).unwrap(),
                IpAddr::from([1, 1, 1, 1]),
                "ua",
            );
            let inputs = Inputs {
                transaction_id: TransactionId(n as u128),
                catalog: c,
                counters,
                visit: &visit,
                now: at(n),
                checks: &switchyard::checks::NO_CHECKS,
            };
            rule_of(&decide_impression(&inputs).await)
        }
    };
    assert_eq!(impression(0).await, None);
    assert_eq!(impression(1).await, Some(RuleCode::ImpressionBudgetReached));
    assert_eq!(
        rule_of(&decide(&c, &counters, &hit("oid=1&affid=1"), at(2)).await),
        None,
        "clicks are not capped"
    );
}

/// A candidate that is checked and passed over must consume nothing.
#[tokio::test]
async fn passed_over_offer_consumes_no_recency() {
    let network = |offer_1_paused: bool| {
        let mut source =
            file::parse(&format!("{BASE}\noptimization_rules: [{{ kind: IP_RECENCY, params: {{ ttl_seconds: 600 }} }}]"), "t")
                .unwrap();
        let mut fallback = source.offers[0].clone();
        fallback.id = 2;
        source.offers.push(fallback);
        if offer_1_paused {
            source.offers[0].status = switchyard::catalog::Status::Paused;
            source.offers[0].fail_offer_id = Some(2);
        }
        Catalog::build(source, Origin::Test, 1).unwrap()
    };
    let counters = CounterStore::local_only(None);
    let first = decide(&network(true), &counters, &hit("oid=1&affid=1"), at(0)).await;
    assert!(
        matches!(first.outcome, Outcome::Redirect { offer_id: 2, .. }),
        "{first:?}"
    );

    let second = decide(&network(false), &counters, &hit("oid=1&affid=1"), at(1)).await;
    assert!(
        matches!(second.outcome, Outcome::Redirect { offer_id: 1, .. }),
        "offer 1 was only checked before, its recency must be untouched: {second:?}"
    );
    let third = decide(&network(false), &counters, &hit("oid=1&affid=1"), at(2)).await;
    assert_eq!(
        rule_of(&third),
        Some(RuleCode::IpRecency),
        "now it was consumed"
    );
}

#[tokio::test]
async fn racing_hits_admit_exactly_the_cap() {
    let c = Arc::new(catalog(
        "offer_caps: [{ offer_id: 1, metric: clicks, period: total, cap_limit: 25 }]",
    ));
    let counters = Arc::new(CounterStore::local_only(None));
    let tasks: Vec<_> = (0..400u32)
        .map(|i| {
            let (c, counters) = (c.clone(), counters.clone());
            tokio::spawn(async move {
                let h = Hit {
                    ip: IpAddr::from(i.to_be_bytes()),
                    ..hit("oid=1&affid=1")
                };
                rule_of(&decide(&c, &counters, &h, at(0)).await).is_none()
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        if task.await.unwrap() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 25);
}

#[tokio::test]
async fn bad_rule_parameters_reject_the_catalog() {
    let yaml = format!(
        "{BASE}\noptimization_rules: [{{ kind: IP_RATE_LIMIT, params: {{ threshold: 0, window_seconds: 1 }} }}]"
    );
    let errors = Catalog::build(file::parse(&yaml, "t").unwrap(), Origin::Test, 1).unwrap_err();
    assert!(errors.to_string().contains("threshold"), "{errors}");
}
