//! Decides where a hit goes: which offer takes it, or which rule discards it.
//!
//! **API boundary:** `decide_offer_click`, `smart_link::decide_smart_link` and
//! `decide_impression` are the way in.
//! They depend only on (snapshot, visit, counters, clock, rng): no database, no
//! HTTP, so they are tested and benchmarked as plain functions. Candidates are
//! judged by the static rules first; only the offer that would take the hit
//! reserves its counters (caps, recency, rate limits), atomically, and a refused
//! reservation makes it fail like any other rule: a passed-over offer consumes
//! nothing.

pub mod deep_link;
pub mod duplicate;
pub mod macros;
pub mod smart_link;
pub mod transaction_id;
pub mod weights;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::url_template::UrlTemplate;
use crate::catalog::{Catalog, Offer, Partner};
use crate::checks::{self, CheckVerdict, HitChecks};
use crate::counters::{CounterStore, Reservation};
use crate::hit_kind::HitKind;
use crate::rules::RuleCode;
use crate::rules::engine::{self, HitContext};
use crate::rules::status::Approval;
use crate::visit::Visit;

pub use macros::HitMacros;
pub use transaction_id::TransactionId;

/// Fail chains longer than this are cut: they are configuration mistakes, and a
/// hit must never loop.
pub const MAX_FAIL_CHAIN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Redirect {
        offer_id: i64,
        advertiser_id: i64,
        url: String,
        unique: bool,
    },
    Discard {
        rule: RuleCode,
        detail: Option<DiscardDetail>,
        offer_id: Option<i64>,
        advertiser_id: Option<i64>,
    },
}

/// What an `INVALID_REQUEST` discard refused: recorded as the hit's
/// `discard_detail`, and what the HTTP layer answers with its own 4xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscardDetail {
    UnknownOffer,
    UnknownPartner,
    UnknownSmartLink,
    WrongTrackingDomain,
    Unauthorized,
    /// A malformed tracking parameter, by its stable code.
    BadParameter(&'static str),
    /// A browser-side check's visitor never came back from the interstitial.
    Abandoned,
}

impl DiscardDetail {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscardDetail::UnknownOffer => "unknown_offer",
            DiscardDetail::UnknownPartner => "unknown_partner",
            DiscardDetail::UnknownSmartLink => "unknown_smart_link",
            DiscardDetail::WrongTrackingDomain => "wrong_tracking_domain",
            DiscardDetail::Unauthorized => "unauthorized",
            DiscardDetail::BadParameter(code) => code,
            DiscardDetail::Abandoned => "abandoned",
        }
    }
}

impl Serialize for DiscardDetail {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub transaction_id: TransactionId,
    pub requested_offer_id: Option<i64>,
    pub smart_link_id: Option<i64>,
    pub outcome: Outcome,
    /// The third-party checks' verdicts, whatever the outcome: filled by the
    /// caller from its `HitChecks` once the decision is made.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckVerdict>,
}

/// What `explain` prints: each offer tried and its verdict, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    pub offer_id: i64,
    /// How the offer became a candidate: "requested", "fail_offer", ...
    pub via: &'static str,
    /// `None`: the offer took the hit.
    pub rejected_by: Option<RuleCode>,
    /// What else is worth knowing about this step: `"link_targeting"` (the smart
    /// link's own targeting refused it), `"already_tried"` (the loop guard
    /// skipped it) or `"duplicate_marked"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}

/// Everything a decision reads besides the candidates themselves.
pub struct Inputs<'a> {
    /// Drawn by the caller from a CSPRNG: ids are attribution keys and must not
    /// be guessable.
    pub transaction_id: TransactionId,
    pub catalog: &'a Catalog,
    pub counters: &'a CounterStore,
    pub visit: &'a Visit,
    pub now: DateTime<Utc>,
    /// The hit's third-party checks: asked (bounded I/O, like `counters`) only
    /// for a candidate with an active check rule, and the keeper of their
    /// verdicts. `checks::NO_CHECKS` where nothing may call out.
    pub checks: &'a HitChecks<'a>,
}

/// Judges one candidate offer completely: static rules, then its third-party
/// checks, then (only if all pass) the atomic counter reservation, so a
/// candidate a check refuses has reserved nothing.
pub async fn try_offer(
    inputs: &Inputs<'_>,
    offer: &Offer,
    partner: &Partner,
    kind: HitKind,
    approval: Approval,
) -> Result<(), RuleCode> {
    try_offer_with(inputs, offer, partner, kind, approval, None).await
}

/// `try_offer` with one more reservation taken in the same all-or-nothing call,
/// so that a check such as the duplicate filter marks the visitor as seen only
/// when the offer really takes the hit.
pub(crate) async fn try_offer_with(
    inputs: &Inputs<'_>,
    offer: &Offer,
    partner: &Partner,
    kind: HitKind,
    approval: Approval,
    extra: Option<(Reservation, RuleCode)>,
) -> Result<(), RuleCode> {
    let ctx = HitContext {
        catalog: inputs.catalog,
        offer,
        partner,
        visit: inputs.visit,
        kind,
        now: inputs.now,
        approval,
    };
    let rules = ctx.rules();
    engine::check_static(&ctx, &rules)?;
    crate::rules::reach::check_offer(&ctx, &rules, inputs.checks)?;
    if checks::any_active(&rules) {
        let macros = HitMacros {
            transaction_id: inputs.transaction_id,
            deep_link: None,
            offer_id: offer.id,
            advertiser_id: offer.advertiser_id,
            smart_link_id: None,
            unique_click: true,
            visit: inputs.visit,
        };
        // Boxed: the providers' HTTP futures are kilobytes, and inline they
        // made every hit's future that much larger, copied several times per
        // request by axum, checks or not (callgrind: +11,000 instructions).
        Box::pin(checks::check_offer(inputs.checks, &ctx, &rules, &macros)).await?;
    }
    let mut needed = engine::reservations(&ctx, &rules);
    if let Some(reservation) = extra {
        needed.push(reservation);
    }
    if needed.list.is_empty() {
        return Ok(());
    }
    inputs
        .counters
        .reserve(&needed.list, inputs.now)
        .await
        .map_err(|refused| {
            needed
                .rules
                .get(refused.index)
                .copied()
                .unwrap_or(RuleCode::BudgetReached)
        })?;
    if !needed.soft_caps.is_empty() {
        alert_soft_caps(inputs, offer, &needed).await;
    }
    Ok(())
}

/// Soft caps never refuse a hit; operators learn they are exceeded from
/// `switchyard_soft_cap_exceeded_total` and from one warning when a cap is crossed.
async fn alert_soft_caps(inputs: &Inputs<'_>, offer: &Offer, needed: &engine::Reservations) {
    for soft in &needed.soft_caps {
        let Some(reservation) = needed.list.get(soft.index) else {
            continue;
        };
        let count = inputs.counters.current(reservation.key(), inputs.now).await;
        if count > soft.limit {
            metrics::counter!(
                "switchyard_soft_cap_exceeded_total",
                "metric" => soft.metric.as_str(),
                "offer_id" => offer.id.to_string()
            )
            .increment(1);
            if count == soft.limit + 1 {
                tracing::warn!(
                    offer.id = offer.id,
                    cap.metric = soft.metric.as_str(),
                    cap.limit = soft.limit,
                    cap.key = %reservation.key(),
                    "soft cap exceeded: hits keep flowing"
                );
            }
        }
    }
}

/// The decision of a hit on `/c` or `/i`, which names its offer itself.
fn direct_decision(inputs: &Inputs<'_>, outcome: Outcome) -> Decision {
    Decision {
        transaction_id: inputs.transaction_id,
        requested_offer_id: inputs.visit.params.offer_id,
        smart_link_id: None,
        outcome,
        checks: Vec::new(),
    }
}

/// The offer and partner a direct hit names, or the invalid-request outcome.
fn offer_and_partner<'a>(inputs: &Inputs<'a>) -> Result<(&'a Offer, &'a Partner), Outcome> {
    let params = &inputs.visit.params;
    let offer = params
        .offer_id
        .and_then(|id| inputs.catalog.offer(id))
        .ok_or_else(|| invalid(DiscardDetail::UnknownOffer))?;
    let partner = params
        .partner_id
        .and_then(|id| inputs.catalog.partner(id))
        .ok_or_else(|| invalid(DiscardDetail::UnknownPartner))?;
    Ok((offer, partner))
}

fn invalid(detail: DiscardDetail) -> Outcome {
    Outcome::Discard {
        rule: RuleCode::InvalidRequest,
        detail: Some(detail),
        offer_id: None,
        advertiser_id: None,
    }
}

/// Decides a direct offer click (`/c?oid=..&affid=..`): the offer, else its fail
/// chain, else a discard with the requested offer's failing rule.
pub async fn decide_offer_click(
    inputs: &Inputs<'_>,
    mut trace: Option<&mut Vec<TraceStep>>,
) -> Decision {
    let catalog = inputs.catalog;
    let visit = inputs.visit;
    let transaction_id = inputs.transaction_id;
    let decision = |outcome| direct_decision(inputs, outcome);
    let (requested, partner) = match offer_and_partner(inputs) {
        Ok(found) => found,
        Err(outcome) => return decision(outcome),
    };

    let mut first_failure: Option<RuleCode> = None;
    let mut tried: [i64; MAX_FAIL_CHAIN] = [0; MAX_FAIL_CHAIN];
    let mut current = requested;
    let mut via = "requested";
    for depth in 0..MAX_FAIL_CHAIN {
        tried[depth] = current.id;
        let verdict =
            duplicate::try_offer_click(inputs, current, partner, Approval::Required).await;
        if let Some(steps) = trace.as_deref_mut() {
            steps.push(TraceStep {
                offer_id: current.id,
                via,
                rejected_by: verdict.err(),
                detail: duplicate::trace_detail(&verdict),
            });
        }
        match verdict {
            Ok(unique) => {
                let target = Target {
                    offer: current,
                    landing_page: None,
                    smart_link_id: None,
                    unique: unique.0,
                };
                return decision(redirect(&target, visit, transaction_id));
            }
            Err(rule) => {
                let first = *first_failure.get_or_insert(rule);
                // A partner refused by the requested offer itself earns no fail traffic.
                if depth == 0 && first.is_partner_failure() {
                    break;
                }
                // A duplicate on an offer that blocks duplicates is refused outright.
                if duplicate::blocks_fail_chain(current, rule) {
                    break;
                }
            }
        }
        let next = current.fail_offer_id.and_then(|id| catalog.offer(id));
        match next {
            Some(next) if !tried[..=depth].contains(&next.id) => {
                current = next;
                via = "fail_offer";
            }
            _ => break,
        }
    }
    decision(Outcome::Discard {
        rule: first_failure.unwrap_or(RuleCode::InactiveOffer),
        detail: None,
        offer_id: Some(requested.id),
        advertiser_id: Some(requested.advertiser_id),
    })
}

/// Decides an impression (`/i`): the same rules as a click on the offer, its own
/// budgets, and no fail chain (there is nothing to redirect).
pub async fn decide_impression(inputs: &Inputs<'_>) -> Decision {
    let decision = |outcome| direct_decision(inputs, outcome);
    let (offer, partner) = match offer_and_partner(inputs) {
        Ok(found) => found,
        Err(outcome) => return decision(outcome),
    };
    match try_offer(
        inputs,
        offer,
        partner,
        HitKind::Impression,
        Approval::Required,
    )
    .await
    {
        Ok(()) => decision(Outcome::Redirect {
            offer_id: offer.id,
            advertiser_id: offer.advertiser_id,
            url: String::new(),
            unique: true,
        }),
        Err(rule) => decision(Outcome::Discard {
            rule,
            detail: None,
            offer_id: Some(offer.id),
            advertiser_id: Some(offer.advertiser_id),
        }),
    }
}

/// Where an accepted hit goes.
struct Target<'a> {
    offer: &'a Offer,
    /// A smart link's chosen landing page instead of the offer's default URL.
    landing_page: Option<&'a UrlTemplate>,
    smart_link_id: Option<i64>,
    /// False when the duplicate click filter marked the hit as a repeat.
    unique: bool,
}

/// The offer's URL for this hit. An allowed deep link fills `{deep_link}` when the
/// offer URL has one (so the advertiser's tracker still sees the click);
/// otherwise it replaces the destination, with anything not URL-safe escaped.
fn redirect(target: &Target<'_>, visit: &Visit, transaction_id: TransactionId) -> Outcome {
    let offer = target.offer;
    let template = target.landing_page.unwrap_or(&offer.url);
    let deep_link = visit
        .params
        .url
        .as_deref()
        .and_then(|deep| deep_link::allowed(offer, deep));
    let macros = HitMacros {
        transaction_id,
        deep_link,
        offer_id: offer.id,
        advertiser_id: offer.advertiser_id,
        smart_link_id: target.smart_link_id,
        unique_click: target.unique,
        visit,
    };
    let url = match deep_link {
        Some(deep) if !template.uses(crate::catalog::url_template::Macro::DeepLink) => {
            deep_link::escape(deep)
        }
        _ => template.expand(&macros),
    };
    Outcome::Redirect {
        offer_id: offer.id,
        advertiser_id: offer.advertiser_id,
        url,
        unique: target.unique,
    }
}

#[cfg(test)]
mod tests;
