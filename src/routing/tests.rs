use std::net::IpAddr;

use super::*;
use crate::catalog::{Catalog, Origin, file};
use crate::counters::CounterStore;
use crate::visit::TrackingParams;

fn catalog(yaml: &str) -> Catalog {
    Catalog::build(file::parse(yaml, "test").unwrap(), Origin::Test, 1).unwrap()
}

const NETWORK: &str = "
advertisers:
  - { id: 1, name: Acme }
  - { id: 2, name: Globex }
partners:
  - { id: 1, name: Blue }
  - { id: 2, name: Red }
advertiser_blocked_partners:
  - { advertiser_id: 2, partner_id: 2 }
offers:
  - { id: 1, advertiser_id: 1, name: A, offer_url: 'https://a.example/?t={transaction_id}&s={sub1}&o={offer_id}', fail_offer_id: 2 }
  - { id: 2, advertiser_id: 1, name: B, offer_url: 'https://b.example/', fail_offer_id: 1 }
  - { id: 3, advertiser_id: 1, name: Public, offer_url: 'https://c.example/', requires_approval: false }
  - { id: 4, advertiser_id: 2, name: Globex, offer_url: 'https://g.example/', requires_approval: false }
  - { id: 5, advertiser_id: 1, name: Deep, offer_url: 'https://d.example/', deep_link_enabled: true, deep_link_hosts: [shop.example] }
  - { id: 6, advertiser_id: 1, name: Tracked deep, offer_url: 'https://trk.example/c?t={transaction_id}&to={deep_link}', requires_approval: false, deep_link_enabled: true, deep_link_hosts: [shop.example] }
offer_approvals:
  - { offer_id: 1, partner_id: 1 }
  - { offer_id: 2, partner_id: 1 }
  - { offer_id: 5, partner_id: 1 }
  - { offer_id: 3, partner_id: 2, status: blocked }
";

fn visit(query: &str) -> Visit {
    let params = TrackingParams::parse(query, true).unwrap();
    Visit::bare(params, IpAddr::from([192, 0, 2, 1]), "test-agent")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn decide(catalog: &Catalog, query: &str) -> (Decision, Vec<TraceStep>) {
    decide_with(catalog, &CounterStore::local_only(None), query, Utc::now())
}

fn decide_with(
    catalog: &Catalog,
    counters: &CounterStore,
    query: &str,
    now: chrono::DateTime<Utc>,
) -> (Decision, Vec<TraceStep>) {
    let visit = visit(query);
    let inputs = Inputs {
        transaction_id: TransactionId::random(&mut rand::rng()),
        catalog,
        counters,
        visit: &visit,
        now,
        checks: &crate::checks::NO_CHECKS,
    };
    let mut trace = Vec::new();
    let decision = block_on(decide_offer_click(&inputs, Some(&mut trace)));
    (decision, trace)
}

fn redirected_to(decision: &Decision) -> Option<(i64, &str)> {
    match &decision.outcome {
        Outcome::Redirect { offer_id, url, .. } => Some((*offer_id, url.as_str())),
        Outcome::Discard { .. } => None,
    }
}

fn discarded_by(decision: &Decision) -> Option<RuleCode> {
    match &decision.outcome {
        Outcome::Discard { rule, .. } => Some(*rule),
        Outcome::Redirect { .. } => None,
    }
}

#[test]
fn approved_partner_is_redirected_with_expanded_macros() {
    let catalog = catalog(NETWORK);
    let (decision, _) = decide(&catalog, "oid=1&affid=1&sub1=a b");
    let (offer, url) = redirected_to(&decision).unwrap();
    assert_eq!(offer, 1);
    assert_eq!(
        url,
        format!(
            "https://a.example/?t={}&s=a%20b&o=1",
            decision.transaction_id
        )
    );
}

#[test]
fn paused_offer_sends_the_click_to_its_fail_offer() {
    let mut source = file::parse(NETWORK, "test").unwrap();
    source.offers[0].status = crate::catalog::Status::Paused;
    let catalog = Catalog::build(source, Origin::Test, 1).unwrap();
    let (decision, trace) = decide(&catalog, "oid=1&affid=1");
    assert_eq!(redirected_to(&decision).map(|r| r.0), Some(2));
    assert_eq!(
        decision.requested_offer_id,
        Some(1),
        "the record keeps the offer the hit was meant for"
    );
    assert_eq!(
        trace
            .iter()
            .map(|s| (s.offer_id, s.via))
            .collect::<Vec<_>>(),
        [(1, "requested"), (2, "fail_offer")]
    );
}

#[test]
fn fail_chain_loop_ends_with_the_first_failure() {
    let mut source = file::parse(NETWORK, "test").unwrap();
    source.offers[0].status = crate::catalog::Status::Paused;
    source.offers[1].status = crate::catalog::Status::Inactive;
    let catalog = Catalog::build(source, Origin::Test, 1).unwrap();
    let (decision, trace) = decide(&catalog, "oid=1&affid=1");
    assert_eq!(discarded_by(&decision), Some(RuleCode::InactiveOffer));
    assert_eq!(
        trace.len(),
        2,
        "A fails to B, B fails to A: each tried once"
    );
}

#[test]
fn unapproved_partner_gets_no_fail_traffic() {
    let catalog = catalog(NETWORK);
    let (decision, trace) = decide(&catalog, "oid=1&affid=2");
    assert_eq!(
        discarded_by(&decision),
        Some(RuleCode::PublisherNotApproved)
    );
    assert_eq!(trace.len(), 1);
}

#[test]
fn public_offer_needs_no_approval_but_an_explicit_block_wins() {
    let catalog = catalog(NETWORK);
    assert_eq!(
        redirected_to(&decide(&catalog, "oid=3&affid=1").0).map(|r| r.0),
        Some(3)
    );
    assert_eq!(
        discarded_by(&decide(&catalog, "oid=3&affid=2").0),
        Some(RuleCode::PublisherNotApproved)
    );
}

#[test]
fn advertiser_block_list_refuses_the_partner() {
    let catalog = catalog(NETWORK);
    assert_eq!(
        discarded_by(&decide(&catalog, "oid=4&affid=2").0),
        Some(RuleCode::AdvertiserBlockedPublisher)
    );
    assert!(redirected_to(&decide(&catalog, "oid=4&affid=1").0).is_some());
}

#[test]
fn inactive_partner_and_advertiser_are_discarded() {
    let mut source = file::parse(NETWORK, "test").unwrap();
    source.partners[0].status = crate::catalog::Status::Inactive;
    source.advertisers[1].status = crate::catalog::Status::Paused;
    let catalog = Catalog::build(source, Origin::Test, 1).unwrap();
    assert_eq!(
        discarded_by(&decide(&catalog, "oid=1&affid=1").0),
        Some(RuleCode::InactivePublisher)
    );
    assert_eq!(
        discarded_by(&decide(&catalog, "oid=4&affid=2").0),
        Some(RuleCode::InactiveAdvertiser)
    );
}

#[test]
fn unknown_ids_are_invalid_requests() {
    let catalog = catalog(NETWORK);
    let (decision, _) = decide(&catalog, "oid=77&affid=1");
    assert!(matches!(
        decision.outcome,
        Outcome::Discard {
            rule: RuleCode::InvalidRequest,
            detail: Some(DiscardDetail::UnknownOffer),
            ..
        }
    ));
    let (decision, _) = decide(&catalog, "oid=1&affid=77");
    assert!(matches!(
        decision.outcome,
        Outcome::Discard {
            detail: Some(DiscardDetail::UnknownPartner),
            ..
        }
    ));
}

#[test]
fn deep_links_only_to_the_offers_hosts() {
    let catalog = catalog(NETWORK);
    let url_for = |target: &str| {
        let query = format!(
            "oid=5&affid=1&url={}",
            percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC)
        );
        redirected_to(&decide(&catalog, &query).0)
            .map(|(_, url)| url.to_owned())
            .unwrap()
    };
    assert_eq!(
        url_for("https://shop.example/item/9"),
        "https://shop.example/item/9"
    );
    assert_eq!(
        url_for("https://m.shop.example/x"),
        "https://m.shop.example/x"
    );
    for refused in [
        "https://evil.example/",
        "https://shop.example@evil.example/",
        "https://evilshop.example/",
        "javascript:alert(1)",
        "https://shop.example.evil.example/",
    ] {
        assert_eq!(url_for(refused), "https://d.example/", "{refused}");
    }
    // Offers without deep links ignore the parameter.
    let (decision, _) = decide(&catalog, "oid=1&affid=1&url=https%3A%2F%2Fshop.example%2F");
    assert!(
        redirected_to(&decision)
            .unwrap()
            .1
            .starts_with("https://a.example/")
    );
}

#[test]
fn deep_link_fills_the_macro_when_the_offer_url_has_one() {
    let catalog = catalog(NETWORK);
    let (decision, _) = decide(
        &catalog,
        "oid=6&affid=1&url=https%3A%2F%2Fshop.example%2Fcaf%C3%A9%3Fa%3D1",
    );
    let url = redirected_to(&decision).unwrap().1.to_owned();
    assert_eq!(
        url,
        format!(
            "https://trk.example/c?t={}&to=https%3A%2F%2Fshop.example%2Fcaf%C3%A9%3Fa%3D1",
            decision.transaction_id
        )
    );
    let (decision, _) = decide(&catalog, "oid=6&affid=1&url=https%3A%2F%2Fevil.example%2F");
    assert!(
        redirected_to(&decision).unwrap().1.ends_with("&to="),
        "refused deep link leaves the slot empty"
    );
}

#[test]
fn raw_deep_links_are_made_header_safe() {
    let catalog = catalog(NETWORK);
    let (decision, _) = decide(
        &catalog,
        "oid=5&affid=1&url=https%3A%2F%2Fshop.example%2Fcaf%C3%A9%3Fq%3D%22x%22",
    );
    assert_eq!(
        redirected_to(&decision).unwrap().1,
        "https://shop.example/caf%C3%A9?q=%22x%22"
    );
}

#[test]
fn the_demo_catalog_is_valid() {
    let source = file::parse(file::DEMO_CATALOG, "demo").unwrap();
    let catalog = Catalog::build(source, Origin::Test, 1).unwrap();
    assert!(
        redirected_to(&decide(&catalog, "oid=1&affid=1").0).is_some(),
        "README's curl must redirect"
    );
}
