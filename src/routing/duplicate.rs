//! The duplicate click filter: where an offer has one, only a visitor's first
//! click within the window is valid. The visitor is recognised by one
//! identifier (cookie, IP, IP+UA, IDFA or GAID) and remembered per offer with a
//! recency counter, so the filter is shared by every instance through Redis.
//!
//! The counter is taken in the same all-or-nothing reservation as the offer's
//! caps: a visitor is remembered only by the offer that takes the hit, so an
//! offer that was passed over does not turn the visitor's next click into a
//! duplicate.

use crate::catalog::source::{DuplicateAction, DuplicateIdentifier};
use crate::catalog::{Offer, Partner};
use crate::counters::{CounterKey, Fnv1a64, Reservation, fnv1a64};
use crate::hit_kind::HitKind;
use crate::rules::RuleCode;
use crate::rules::status::Approval;
use crate::visit::Visit;

use super::{Inputs, try_offer, try_offer_with};
use std::fmt::Write as _;

/// Whether the click counts as the visitor's first (`{unique_click}` = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unique(pub bool);

/// What the filter asks of one click on one offer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Filter {
    Off,
    /// A repeat makes the offer refuse the hit.
    Refuse(Reservation),
    /// A repeat is let through, marked as not unique.
    Mark(Reservation),
}

/// Judges a click on an offer: its rules and counters, then the duplicate filter.
pub async fn try_offer_click(
    inputs: &Inputs<'_>,
    offer: &Offer,
    partner: &Partner,
    approval: Approval,
) -> Result<Unique, RuleCode> {
    match filter(offer, inputs.visit) {
        Filter::Off => try_offer(inputs, offer, partner, HitKind::Click, approval)
            .await
            .map(|()| Unique(true)),
        Filter::Refuse(seen) => try_offer_with(
            inputs,
            offer,
            partner,
            HitKind::Click,
            approval,
            Some((seen, RuleCode::DuplicateClick)),
        )
        .await
        .map(|()| Unique(true)),
        Filter::Mark(seen) => {
            try_offer(inputs, offer, partner, HitKind::Click, approval).await?;
            // Only now: a marked repeat must not cost the offer its caps, and a
            // refused offer must not remember the visitor.
            let first = inputs.counters.reserve(&[seen], inputs.now).await.is_ok();
            Ok(Unique(first))
        }
    }
}

/// A duplicate on an offer whose action is `block` ends a direct click: the
/// fail chain is for traffic the offer cannot take, not for repeats it refuses.
/// Smart links do not ask: inside one every refused repeat is fail traffic.
pub fn blocks_fail_chain(offer: &Offer, rule: RuleCode) -> bool {
    rule == RuleCode::DuplicateClick
        && offer
            .duplicate_filter
            .is_some_and(|f| f.action == DuplicateAction::Block)
}

/// The trace note for a marked repeat.
pub fn trace_detail(verdict: &Result<Unique, RuleCode>) -> Option<&'static str> {
    matches!(verdict, Ok(Unique(false))).then_some("duplicate_marked")
}

fn filter(offer: &Offer, visit: &Visit) -> Filter {
    let Some(settings) = offer.duplicate_filter else {
        return Filter::Off;
    };
    // Without the identifier (no cookie yet, no device id) nobody can tell a
    // repeat: the click counts as a first one.
    let Some(hash) = identifier_hash(settings.identifier, visit) else {
        return Filter::Off;
    };
    let seen = Reservation::Recency {
        key: key(offer.id, settings.identifier, hash),
        ttl: settings.window,
    };
    match settings.action {
        DuplicateAction::Mark => Filter::Mark(seen),
        DuplicateAction::Block | DuplicateAction::FailTraffic => Filter::Refuse(seen),
    }
}

/// The visitor's identifier, hashed: identifiers are attacker-controlled text
/// and must not reach Redis keys verbatim.
fn identifier_hash(identifier: DuplicateIdentifier, visit: &Visit) -> Option<u64> {
    match identifier {
        DuplicateIdentifier::Cookie => present(&visit.click_cookie).map(|c| fnv1a64(c.as_bytes())),
        // Hashed as they are formatted: same value as hashing the text, no
        // string allocated per click.
        DuplicateIdentifier::Ip => {
            let mut hash = Fnv1a64::default();
            let _ = write!(hash, "{}", visit.ip);
            Some(hash.finish())
        }
        DuplicateIdentifier::IpUa => {
            let mut hash = Fnv1a64::default();
            let _ = write!(hash, "{}\n{}", visit.ip, visit.user_agent);
            Some(hash.finish())
        }
        // Device ids arrive in either case from different SDKs.
        DuplicateIdentifier::Idfa => {
            present(&visit.params.idfa).map(|v| fnv1a64(v.to_ascii_lowercase().as_bytes()))
        }
        DuplicateIdentifier::Gaid => {
            present(&visit.params.gaid).map(|v| fnv1a64(v.to_ascii_lowercase().as_bytes()))
        }
    }
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn key(offer_id: i64, identifier: DuplicateIdentifier, hash: u64) -> CounterKey {
    let kind = match identifier {
        DuplicateIdentifier::Cookie => "cookie",
        DuplicateIdentifier::Ip => "ip",
        DuplicateIdentifier::IpUa => "ipua",
        DuplicateIdentifier::Idfa => "idfa",
        DuplicateIdentifier::Gaid => "gaid",
    };
    CounterKey::Duplicate {
        offer_id,
        identifier: kind,
        hash,
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use super::*;
    use crate::catalog::{Catalog, Origin, file};
    use crate::visit::TrackingParams;

    fn offer_with(identifier: &str, action: &str) -> Offer {
        let yaml = format!(
            "advertisers: [{{ id: 1, name: A }}]
offers:
  - {{ id: 7, advertiser_id: 1, name: O, offer_url: 'https://o.example/', duplicate_filter: {identifier}, duplicate_action: {action}, duplicate_window_seconds: 60 }}
"
        );
        let catalog = Catalog::build(file::parse(&yaml, "test").unwrap(), Origin::Test, 1).unwrap();
        catalog.offer(7).unwrap().clone()
    }

    fn visit(query: &str, ip: [u8; 4], ua: &str) -> Visit {
        let params = TrackingParams::parse(query, false).unwrap();
        Visit::bare(params, IpAddr::from(ip), ua)
    }

    fn key_of(filter: &Filter) -> Option<String> {
        match filter {
            Filter::Off => None,
            Filter::Refuse(r) | Filter::Mark(r) => Some(r.key().to_string()),
        }
    }

    #[test]
    fn ip_ua_identifier_tells_user_agents_apart() {
        let offer = offer_with("ip_ua", "block");
        let a = filter(&offer, &visit("affid=1", [1, 2, 3, 4], "a"));
        let b = filter(&offer, &visit("affid=1", [1, 2, 3, 4], "b"));
        assert_ne!(key_of(&a), key_of(&b));
        assert!(key_of(&a).unwrap().starts_with("dup:o7:ipua:"));
    }

    #[test]
    fn device_ids_match_whatever_their_case() {
        let offer = offer_with("idfa", "block");
        let lower = filter(&offer, &visit("affid=1&idfa=abc-def", [1, 1, 1, 1], "x"));
        let upper = filter(&offer, &visit("affid=1&idfa=ABC-DEF", [2, 2, 2, 2], "y"));
        assert_eq!(key_of(&lower), key_of(&upper));
    }

    #[test]
    fn a_click_without_the_identifier_is_not_filtered() {
        let offer = offer_with("gaid", "block");
        let filter = filter(&offer, &visit("affid=1", [1, 1, 1, 1], "x"));
        assert_eq!(filter, Filter::Off);
        let offer = offer_with("cookie", "block");
        let plain = visit("affid=1", [1, 1, 1, 1], "x");
        assert_eq!(super::filter(&offer, &plain), Filter::Off);
    }

    #[test]
    fn mark_lets_repeats_through_and_others_refuse() {
        let mark = offer_with("ip", "mark");
        let v = visit("affid=1", [1, 1, 1, 1], "x");
        assert!(matches!(filter(&mark, &v), Filter::Mark(_)));
        let fail = offer_with("ip", "fail_traffic");
        assert!(
            matches!(filter(&fail, &v), Filter::Refuse(Reservation::Recency { ttl, .. }) if ttl == Duration::from_secs(60))
        );
        let block = offer_with("ip", "block");
        assert!(blocks_fail_chain(&block, RuleCode::DuplicateClick));
        assert!(!blocks_fail_chain(&fail, RuleCode::DuplicateClick));
        assert!(!blocks_fail_chain(&block, RuleCode::IpRecency));
    }
}
