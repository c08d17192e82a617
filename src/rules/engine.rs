//! Runs every discard rule for one (offer, partner, visit), in a fixed order,
//! cheapest first:
//!
//! 1. status and approval: hash lookups (`status`)
//! 2. blacklisted sub ids, retargeting list, Traffic Control: set lookups
//! 3. offer targeting, advanced targeting, Traffic Targeting, anonymous proxy
//! 4. the offer URL scan (`reach`, run by the router: it records verdicts)
//! 5. caps and budgets, IP recency, recency, rate limits: counter reservations,
//!    made by the router only for the offer that would take the hit.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::RuleCode;
use super::settings::EffectiveRules;
use super::status::{self, Approval};
use crate::catalog::{Cap, Catalog, Offer, Partner};
use crate::counters::{CapMetric, Reservation, rate_key_hashed, recency_key_hashed, ua_hash};
use crate::hit_kind::HitKind;
use crate::visit::Visit;

/// One hit on one candidate offer.
pub struct HitContext<'a> {
    pub catalog: &'a Catalog,
    pub offer: &'a Offer,
    pub partner: &'a Partner,
    pub visit: &'a Visit,
    pub kind: HitKind,
    pub now: DateTime<Utc>,
    pub approval: Approval,
}

impl HitContext<'_> {
    /// Borrowed unless the partner overrides a rule: the table is a kilobyte,
    /// too much to copy for every candidate.
    pub fn rules(&self) -> Cow<'_, EffectiveRules> {
        match self.catalog.rule_table.partner_overrides(self.partner.id) {
            [] => Cow::Borrowed(&self.offer.rules),
            overrides => Cow::Owned(self.offer.rules.with_partner(overrides)),
        }
    }
}

/// Every rule that is judged from the snapshot and the visit alone.
pub fn check_static(ctx: &HitContext<'_>, rules: &EffectiveRules) -> Result<(), RuleCode> {
    status::check(ctx.catalog, ctx.offer, ctx.partner, ctx.approval, rules)?;
    let params = &ctx.visit.params;
    let fails = |code: RuleCode, failed: bool| {
        if failed && rules.is_active(code) {
            Err(code)
        } else {
            Ok(())
        }
    };

    if !ctx.offer.blacklisted_subs.is_empty() {
        let blacklisted = ctx
            .offer
            .blacklisted_subs
            .iter()
            .any(|(name, values)| params.get(name).is_some_and(|v| values.contains(v)));
        fails(RuleCode::BlacklistedSubId, blacklisted)?;
    }
    if let Some(list) = &ctx.offer.retargeting_ids {
        let known = [&params.idfa, &params.gaid]
            .into_iter()
            .flatten()
            .any(|id| list.contains(id));
        fails(RuleCode::InvalidUserIdentifier, !known)?;
    }
    fails(
        RuleCode::TrafficControl,
        !ctx.catalog.traffic_control.passes(
            ctx.offer.id,
            ctx.offer.advertiser_id,
            ctx.partner.id,
            params,
        ),
    )?;
    fails(
        RuleCode::OfferTargetingMismatch,
        ctx.offer.targeting.check_offer(ctx.visit).is_err(),
    )?;
    fails(
        RuleCode::AdvancedTargetingMismatch,
        ctx.offer
            .targeting
            .check_advanced(ctx.visit, ctx.now)
            .is_err(),
    )?;
    let traffic_targeting_fails = ctx
        .catalog
        .partner_targeting(ctx.partner.id)
        .iter()
        .filter(|t| t.offer_id.is_none_or(|id| id == ctx.offer.id))
        .any(|t| t.targeting.check(ctx.visit, ctx.now).is_err());
    fails(RuleCode::TrafficTargeting, traffic_targeting_fails)?;

    let anonymous = rules.get(RuleCode::AnonymousProxyIp);
    if anonymous.active {
        let kinds = anonymous.anonymous.unwrap_or_default();
        let seen = ctx.visit.geo.anonymous;
        let refused = (kinds.vpn && seen.vpn)
            || (kinds.public_proxy && seen.public_proxy)
            || (kinds.tor_exit && seen.tor_exit)
            || (kinds.hosting && seen.hosting)
            || (kinds.residential_proxy && seen.residential_proxy);
        fails(RuleCode::AnonymousProxyIp, refused)?;
    }
    Ok(())
}

/// Reservations side by side with the rule that refuses each, so the list can be
/// handed to the counters without copying its keys.
#[derive(Debug, Default)]
pub struct Reservations {
    pub list: Vec<Reservation>,
    pub rules: Vec<RuleCode>,
    /// Soft caps among `list` (by index) and their limits: counted, never
    /// refused, and alerted on once exceeded.
    pub soft_caps: Vec<SoftCap>,
}

#[derive(Debug, Clone, Copy)]
pub struct SoftCap {
    pub index: usize,
    pub limit: i64,
    pub metric: CapMetric,
}

impl Reservations {
    pub fn push(&mut self, (reservation, rule): (Reservation, RuleCode)) {
        self.list.push(reservation);
        self.rules.push(rule);
    }
}

/// What the offer must reserve to take the hit, each with the rule that refuses
/// it when the reservation fails. Soft caps (and caps whose rule is off) count
/// without a limit.
pub fn reservations(ctx: &HitContext<'_>, rules: &EffectiveRules) -> Reservations {
    // Sized up front (caps plus the four visitor rules at most) so a hit
    // allocates each list once instead of growing it.
    let most = ctx.offer.caps.len() + 4;
    let mut out = Reservations {
        list: Vec::with_capacity(most),
        rules: Vec::with_capacity(most),
        soft_caps: Vec::new(),
    };
    for cap in ctx
        .offer
        .caps
        .iter()
        .filter(|c| c.partner_id.is_none_or(|p| p == ctx.partner.id))
    {
        if let Some((reservation, rule, soft_limit)) = cap_reservation(ctx, rules, cap) {
            if let Some(limit) = soft_limit {
                out.soft_caps.push(SoftCap {
                    index: out.list.len(),
                    limit,
                    metric: cap.metric,
                });
            }
            out.push((reservation, rule));
        }
    }
    // The IP-only and the IP + user agent variants of recency and rate limits.
    // Hashed once for both keys, and only when a rule needs it.
    let ua_rules = rules.get(RuleCode::Recency).active || rules.get(RuleCode::IpUaRateLimit).active;
    let ua = ua_rules.then(|| ua_hash(&ctx.visit.user_agent));
    for (rule, ua) in [(RuleCode::IpRecency, None), (RuleCode::Recency, ua)] {
        let setting = rules.get(rule);
        if setting.active {
            let key = recency_key_hashed(ctx.offer.id, ctx.visit.ip, ua, setting.ttl);
            out.push((
                Reservation::Recency {
                    key,
                    ttl: setting.ttl,
                },
                rule,
            ));
        }
    }
    for (rule, ua) in [(RuleCode::IpRateLimit, None), (RuleCode::IpUaRateLimit, ua)] {
        let setting = rules.get(rule);
        if setting.active {
            let key = rate_key_hashed(ctx.offer.id, ctx.visit.ip, ua, setting.window);
            out.push((
                Reservation::RateLimit {
                    key,
                    limit: setting.threshold,
                    window: setting.window,
                },
                rule,
            ));
        }
    }
    out
}

/// The cap's reservation, its rule, and its limit when the cap is soft.
fn cap_reservation(
    ctx: &HitContext<'_>,
    rules: &EffectiveRules,
    cap: &Cap,
) -> Option<(Reservation, RuleCode, Option<i64>)> {
    let (rule, amount) = match (cap.metric, ctx.kind) {
        (CapMetric::Clicks, HitKind::Click) => (RuleCode::ClickBudgetReached, 1),
        (CapMetric::Impressions, HitKind::Impression) => (RuleCode::ImpressionBudgetReached, 1),
        // Money and conversion budgets are spent by conversions; a hit only
        // checks that the budget is not exhausted.
        (CapMetric::Conversions | CapMetric::Payout | CapMetric::Revenue, _) => {
            (RuleCode::BudgetReached, 0)
        }
        _ => return None,
    };
    let enforced = cap.hard && rules.is_active(rule);
    if amount == 0 && !enforced {
        return None;
    }
    let limit = match cap.metric {
        CapMetric::Payout | CapMetric::Revenue => cap.limit.0,
        _ => cap.limit.0 / 1_000_000,
    };
    let (key, expires_at) = ctx.offer.cap_key(cap, ctx.now);
    let reservation = Reservation::Cap {
        key,
        amount,
        limit: enforced.then_some(limit),
        expires_at,
    };
    Some((
        reservation,
        rule,
        (!enforced && amount > 0).then_some(limit),
    ))
}
