//! Decides a smart link hit (`/sl/{id}`): which of the link's offers takes it.
//!
//! The walk follows seed 000's fail-traffic diagram: candidates in the link's
//! order (priority, a weighted draw, or a KPI link's latest run: its ranking,
//! or a draw by its traffic shares); a candidate that fails sends the hit
//! to its own fail offer (one hop, approval required) before the next
//! candidate; after the last one comes the Catch All and then the Catch All's
//! fail offer, both open to partners without approval; nothing left: the hit
//! is discarded with `SMART_LINK_NO_MATCHING_OFFERS`.
//!
//! An offer is eligible when its own status, approval, targeting and rules
//! pass (`try_offer`, which cannot be overridden) and the link's extra
//! targeting for it passes. The link's targeting is checked first only because
//! it is pure: `try_offer` reserves counters, and a passed-over offer must
//! consume nothing.

use rand::Rng;

use crate::catalog::source::RedirectMechanism;
use crate::catalog::{KpiOrder, Offer, Partner, SmartLink, SmartLinkOffer, Status};
use crate::rules::RuleCode;
use crate::rules::status::Approval;

use super::duplicate::{self, Unique};
use super::weights::WeightedDraw;
use super::{Decision, DiscardDetail, Inputs, Outcome, Target, TraceStep, invalid, redirect};

/// Decides a hit on smart link `link_id`. Unknown or inactive links, a request
/// on the wrong tracking domain and unknown partners are recorded discards.
pub async fn decide_smart_link(
    inputs: &Inputs<'_>,
    link_id: i64,
    rng: &mut (impl Rng + Send),
    trace: Option<&mut Vec<TraceStep>>,
) -> Decision {
    let decision = |outcome| Decision {
        transaction_id: inputs.transaction_id,
        requested_offer_id: None,
        smart_link_id: Some(link_id),
        outcome,
        checks: Vec::new(),
    };
    let Some(link) = inputs
        .catalog
        .smart_link(link_id)
        .filter(|l| l.status == Status::Active)
    else {
        return decision(invalid(DiscardDetail::UnknownSmartLink));
    };
    if let Some(domain) = &link.tracking_domain
        && inputs.visit.host.as_deref() != Some(domain.as_str())
    {
        return decision(invalid(DiscardDetail::WrongTrackingDomain));
    }
    let Some(partner) = inputs
        .visit
        .params
        .partner_id
        .and_then(|id| inputs.catalog.partner(id))
    else {
        return decision(invalid(DiscardDetail::UnknownPartner));
    };

    let mut walk = Walk {
        inputs,
        link,
        partner,
        refused: Vec::with_capacity(link.offers.len() + 2),
        trace,
    };
    let mut order = Order::new(link);
    while let Some(entry) = order.next(link, rng) {
        if let Some(outcome) = walk.entry(entry, Approval::Required).await {
            return decision(outcome);
        }
    }
    if let Some(catch_all) = &link.catch_all
        && let Some(outcome) = walk.entry(catch_all, Approval::Waived).await
    {
        return decision(outcome);
    }
    decision(Outcome::Discard {
        rule: RuleCode::SmartLinkNoMatchingOffers,
        detail: None,
        offer_id: None,
        advertiser_id: None,
    })
}

/// The order regular offers are tried in.
enum Order {
    Sequential(usize),
    Weighted(WeightedDraw),
    /// The position reached in the link's KPI ranking.
    Ranked(usize),
}

impl Order {
    fn new(link: &SmartLink) -> Self {
        match link.mechanism {
            RedirectMechanism::Priority => Order::Sequential(0),
            RedirectMechanism::Weight => {
                Order::Weighted(WeightedDraw::new(link.offers.iter().map(|o| o.weight)))
            }
            RedirectMechanism::Kpi => match &link.kpi_order {
                Some(KpiOrder::Ranked(_)) => Order::Ranked(0),
                Some(KpiOrder::Shares(weights)) => {
                    Order::Weighted(WeightedDraw::new(weights.iter().copied()))
                }
                // No run yet, threshold not met, or reset since: the seed
                // spreads traffic evenly.
                None => Order::Weighted(WeightedDraw::new(link.offers.iter().map(|_| 1))),
            },
        }
    }

    fn next<'l>(&mut self, link: &'l SmartLink, rng: &mut impl Rng) -> Option<&'l SmartLinkOffer> {
        let index = match self {
            Order::Sequential(next) => {
                *next += 1;
                *next - 1
            }
            Order::Weighted(draw) => draw.draw(rng)?,
            Order::Ranked(next) => {
                *next += 1;
                match &link.kpi_order {
                    Some(KpiOrder::Ranked(order)) => *order.get(*next - 1)?,
                    _ => return None,
                }
            }
        };
        link.offers.get(index)
    }
}

/// One hit's way through a link: the offers refused so far and the trace.
struct Walk<'a, 't> {
    inputs: &'a Inputs<'a>,
    link: &'a SmartLink,
    partner: &'a Partner,
    /// Offers judged and refused, with the approval mode and the rule: the loop
    /// guard. An offer refused under `Required` may be judged again as (or as
    /// the fail offer of) the Catch All, where approval is waived.
    refused: Vec<(i64, Approval, RuleCode)>,
    trace: Option<&'t mut Vec<TraceStep>>,
}

impl Walk<'_, '_> {
    /// A link entry, then its fail offer when it fails.
    async fn entry(&mut self, entry: &SmartLinkOffer, approval: Approval) -> Option<Outcome> {
        let catalog = self.inputs.catalog;
        // The catalog build rejects links naming unknown offers.
        let offer = catalog.offer(entry.offer_id)?;
        let (via, fail_via) = match approval {
            Approval::Required => ("candidate", "fail_offer"),
            Approval::Waived => ("catch_all", "catch_all_fail_offer"),
        };
        let rule = match self.judge(offer, Some(entry), approval, via).await {
            Ok(outcome) => return Some(outcome),
            Err(rule) => rule,
        };
        // As on direct clicks, a partner refused by the offer itself earns none
        // of its fail traffic; the Catch All waives approval for its fail offer too.
        if approval == Approval::Required && rule.is_partner_failure() {
            return None;
        }
        let fail = offer.fail_offer_id.and_then(|id| catalog.offer(id))?;
        self.judge(fail, None, approval, fail_via).await.ok()
    }

    /// One offer: the loop guard, the link's targeting, then the offer's rules,
    /// counters and duplicate filter.
    async fn judge(
        &mut self,
        offer: &Offer,
        entry: Option<&SmartLinkOffer>,
        approval: Approval,
        via: &'static str,
    ) -> Result<Outcome, RuleCode> {
        if let Some(&(_, _, rule)) = self
            .refused
            .iter()
            .find(|&&(id, mode, _)| id == offer.id && mode == approval)
        {
            self.step(offer.id, via, Some(rule), Some("already_tried"));
            return Err(rule);
        }
        let inputs = self.inputs;
        let link_refuses = entry.is_some_and(|e| {
            !e.targeting.is_unrestricted() && e.targeting.check(inputs.visit, inputs.now).is_err()
        });
        let verdict = if link_refuses {
            Err(RuleCode::AdvancedTargetingMismatch)
        } else {
            duplicate::try_offer_click(inputs, offer, self.partner, approval).await
        };
        let detail = if link_refuses {
            Some("link_targeting")
        } else {
            duplicate::trace_detail(&verdict)
        };
        self.step(offer.id, via, verdict.err(), detail);
        match verdict {
            Ok(Unique(unique)) => {
                let landing_page = entry
                    .and_then(|e| e.offer_url_id)
                    .and_then(|id| offer.landing_page(id));
                let target = Target {
                    offer,
                    landing_page,
                    smart_link_id: Some(self.link.id),
                    unique,
                };
                Ok(redirect(&target, inputs.visit, inputs.transaction_id))
            }
            Err(rule) => {
                self.refused.push((offer.id, approval, rule));
                Err(rule)
            }
        }
    }

    fn step(
        &mut self,
        offer_id: i64,
        via: &'static str,
        rejected_by: Option<RuleCode>,
        detail: Option<&'static str>,
    ) {
        if let Some(steps) = self.trace.as_deref_mut() {
            steps.push(TraceStep {
                offer_id,
                via,
                rejected_by,
                detail,
            });
        }
    }
}

#[cfg(test)]
mod tests;
