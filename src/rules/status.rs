//! Status and relationship rules: is everyone involved active, and may this
//! partner send traffic to this offer at all. Cheapest checks, so they run first.

use crate::catalog::{ApprovalStatus, Catalog, Offer, Partner, Status};

use super::RuleCode;
use super::settings::EffectiveRules;

/// Whether the approval requirement applies: a smart link's Catch All (and its fail
/// offer) takes unapproved partners, everything else needs the offer's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    Required,
    Waived,
}

pub fn check(
    catalog: &Catalog,
    offer: &Offer,
    partner: &Partner,
    approval: Approval,
    rules: &EffectiveRules,
) -> Result<(), RuleCode> {
    let fails = |code: RuleCode, failed: bool| {
        if failed && rules.is_active(code) {
            Err(code)
        } else {
            Ok(())
        }
    };
    fails(
        RuleCode::InactivePublisher,
        partner.status != Status::Active,
    )?;
    fails(RuleCode::InactiveOffer, offer.status != Status::Active)?;
    // Build guarantees the advertiser exists; a gap counts as inactive rather than panic.
    let advertiser = catalog.advertiser(offer.advertiser_id);
    fails(
        RuleCode::InactiveAdvertiser,
        advertiser.is_none_or(|a| a.status != Status::Active),
    )?;
    fails(
        RuleCode::AdvertiserBlockedPublisher,
        advertiser.is_some_and(|a| a.blocked_partners.contains(&partner.id)),
    )?;
    if approval == Approval::Required {
        fails(
            RuleCode::PublisherNotApproved,
            !is_approved(catalog, offer, partner.id),
        )?;
    }
    Ok(())
}

/// Whether the partner may send traffic to the offer (also what the partner
/// portal lists).
pub fn is_approved(catalog: &Catalog, offer: &Offer, partner_id: i64) -> bool {
    match catalog.approval(offer.id, partner_id) {
        Some(ApprovalStatus::Approved) => true,
        // An explicit block wins over a public offer.
        Some(ApprovalStatus::Blocked) => false,
        _ => !offer.requires_approval,
    }
}
