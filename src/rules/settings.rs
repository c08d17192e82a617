//! Which rules are active for a hit, and with which parameters.
//!
//! Rules are configured in `optimization_rules`: global, or scoped to an
//! advertiser, an offer or a partner. The most specific row wins, an inactive one
//! included (it lets traffic through): offer > partner > advertiser > global.
//! Without any row, a rule driven by catalog data (statuses, approvals, targeting,
//! caps, lists) is active, and a rule that needs parameters (recency, rate limits,
//! anonymous proxies) is off. Resolution for offer, advertiser and global is done
//! once per snapshot; a hit only patches in its partner's few overrides.

use std::time::Duration;

use rustc_hash::FxHashMap;
use serde::Deserialize;

use super::RuleCode;
use crate::catalog::source::{RuleRow, RuleScope};

/// The rules an admin can configure, in evaluation order.
pub const CONFIGURABLE: [RuleCode; 19] = [
    RuleCode::InactivePublisher,
    RuleCode::InactiveOffer,
    RuleCode::InactiveAdvertiser,
    RuleCode::AdvertiserBlockedPublisher,
    RuleCode::PublisherNotApproved,
    RuleCode::BlacklistedSubId,
    RuleCode::InvalidUserIdentifier,
    RuleCode::TrafficControl,
    RuleCode::OfferTargetingMismatch,
    RuleCode::AdvancedTargetingMismatch,
    RuleCode::TrafficTargeting,
    RuleCode::AnonymousProxyIp,
    RuleCode::ClickBudgetReached,
    RuleCode::ImpressionBudgetReached,
    RuleCode::BudgetReached,
    RuleCode::IpRecency,
    RuleCode::Recency,
    RuleCode::IpRateLimit,
    RuleCode::IpUaRateLimit,
];

fn slot(code: RuleCode) -> Option<usize> {
    CONFIGURABLE.iter().position(|c| *c == code)
}

fn active_by_default(code: RuleCode) -> bool {
    !matches!(
        code,
        RuleCode::AnonymousProxyIp
            | RuleCode::IpRecency
            | RuleCode::Recency
            | RuleCode::IpRateLimit
            | RuleCode::IpUaRateLimit
    )
}

/// How specific the row that decided a setting was; higher wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Specificity {
    #[default]
    Default,
    Global,
    Advertiser,
    Partner,
    Offer,
}

/// Which anonymous-IP kinds `ANONYMOUS_PROXY_IP` discards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AnonymousKinds {
    pub vpn: bool,
    pub public_proxy: bool,
    pub tor_exit: bool,
    pub hosting: bool,
    pub residential_proxy: bool,
}

impl Default for AnonymousKinds {
    fn default() -> Self {
        Self {
            vpn: true,
            public_proxy: true,
            tor_exit: true,
            hosting: true,
            residential_proxy: true,
        }
    }
}

/// One rule's effective state. `Copy`: a hit whose partner overrides rules
/// copies the offer's table to patch the overrides in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RuleSetting {
    pub active: bool,
    pub specificity: Specificity,
    /// Recency TTL.
    pub ttl: Duration,
    /// Rate limits: hits allowed per window.
    pub threshold: u32,
    pub window: Duration,
    pub anonymous: Option<AnonymousKinds>,
}

/// The effective setting of every configurable rule for one (offer, partner).
/// `Hash`: offers with the same settings share one table in the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EffectiveRules([RuleSetting; CONFIGURABLE.len()]);

impl Default for EffectiveRules {
    fn default() -> Self {
        let mut settings = [RuleSetting::default(); CONFIGURABLE.len()];
        for (setting, code) in settings.iter_mut().zip(CONFIGURABLE) {
            setting.active = active_by_default(code);
        }
        Self(settings)
    }
}

impl EffectiveRules {
    /// The setting of a rule; rules that cannot be configured are always active.
    pub fn get(&self, code: RuleCode) -> RuleSetting {
        match slot(code) {
            Some(i) => self.0[i],
            None => RuleSetting {
                active: true,
                ..RuleSetting::default()
            },
        }
    }

    pub fn is_active(&self, code: RuleCode) -> bool {
        self.get(code).active
    }

    fn apply(&mut self, code: RuleCode, setting: RuleSetting) {
        if let Some(i) = slot(code)
            && setting.specificity >= self.0[i].specificity
        {
            self.0[i] = setting;
        }
    }

    /// This table with a partner's overrides, which beat advertiser and global
    /// rows but not offer rows.
    pub fn with_partner(&self, overrides: &[(RuleCode, RuleSetting)]) -> Self {
        let mut rules = *self;
        for (code, setting) in overrides {
            rules.apply(*code, *setting);
        }
        rules
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawParams {
    ttl_seconds: Option<u64>,
    threshold: Option<u32>,
    window_seconds: Option<u64>,
    block: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleConfigError {
    #[error("unknown rule kind `{0}`")]
    UnknownKind(String),
    #[error("rule {kind}: {reason}")]
    BadParams { kind: String, reason: String },
}

fn parse_setting(row: &RuleRow, code: RuleCode) -> Result<RuleSetting, RuleConfigError> {
    let bad = |reason: String| RuleConfigError::BadParams {
        kind: row.kind.clone(),
        reason,
    };
    let raw: RawParams =
        serde_json::from_value(row.params.clone()).map_err(|e| bad(e.to_string()))?;
    let specificity = match row.scope {
        RuleScope::Global => Specificity::Global,
        RuleScope::Advertiser => Specificity::Advertiser,
        RuleScope::Partner => Specificity::Partner,
        RuleScope::Offer => Specificity::Offer,
    };
    let mut setting = RuleSetting {
        active: row.active,
        specificity,
        ..RuleSetting::default()
    };
    match code {
        RuleCode::IpRecency | RuleCode::Recency => {
            let ttl = raw
                .ttl_seconds
                .filter(|t| *t > 0)
                .ok_or_else(|| bad("needs ttl_seconds > 0".into()))?;
            setting.ttl = Duration::from_secs(ttl);
        }
        RuleCode::IpRateLimit | RuleCode::IpUaRateLimit => {
            setting.threshold = raw
                .threshold
                .filter(|t| *t > 0)
                .ok_or_else(|| bad("needs threshold > 0".into()))?;
            let window = raw
                .window_seconds
                .filter(|w| *w > 0)
                .ok_or_else(|| bad("needs window_seconds > 0".into()))?;
            setting.window = Duration::from_secs(window);
        }
        RuleCode::AnonymousProxyIp => {
            if let Some(kinds) = raw.block {
                let mut mask = AnonymousKinds {
                    vpn: false,
                    public_proxy: false,
                    tor_exit: false,
                    hosting: false,
                    residential_proxy: false,
                };
                for kind in kinds {
                    match kind.as_str() {
                        "vpn" => mask.vpn = true,
                        "public_proxy" => mask.public_proxy = true,
                        "tor_exit" => mask.tor_exit = true,
                        "hosting" => mask.hosting = true,
                        "residential_proxy" => mask.residential_proxy = true,
                        other => return Err(bad(format!("unknown anonymous IP kind `{other}`"))),
                    }
                }
                setting.anonymous = Some(mask);
            }
        }
        _ => {
            if raw.ttl_seconds.is_some()
                || raw.threshold.is_some()
                || raw.window_seconds.is_some()
                || raw.block.is_some()
            {
                return Err(bad("takes no parameters".into()));
            }
        }
    }
    Ok(setting)
}

pub fn code_from_kind(kind: &str) -> Option<RuleCode> {
    CONFIGURABLE.iter().copied().find(|c| c.as_str() == kind)
}

/// Rule rows compiled for resolution.
#[derive(Debug, Default)]
pub struct RuleTable {
    global: Vec<(RuleCode, RuleSetting)>,
    by_advertiser: FxHashMap<i64, Vec<(RuleCode, RuleSetting)>>,
    by_offer: FxHashMap<i64, Vec<(RuleCode, RuleSetting)>>,
    by_partner: FxHashMap<i64, Vec<(RuleCode, RuleSetting)>>,
}

impl RuleTable {
    pub fn compile(rows: &[RuleRow]) -> Result<Self, Vec<RuleConfigError>> {
        let mut table = RuleTable::default();
        let mut errors = Vec::new();
        for row in rows {
            let Some(code) = code_from_kind(&row.kind) else {
                errors.push(RuleConfigError::UnknownKind(row.kind.clone()));
                continue;
            };
            let setting = match parse_setting(row, code) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let entry = (code, setting);
            match (row.scope, row.advertiser_id, row.offer_id, row.partner_id) {
                (RuleScope::Advertiser, Some(id), _, _) => {
                    table.by_advertiser.entry(id).or_default().push(entry)
                }
                (RuleScope::Offer, _, Some(id), _) => {
                    table.by_offer.entry(id).or_default().push(entry)
                }
                (RuleScope::Partner, _, _, Some(id)) => {
                    table.by_partner.entry(id).or_default().push(entry)
                }
                _ => table.global.push(entry),
            }
        }
        if errors.is_empty() {
            Ok(table)
        } else {
            Err(errors)
        }
    }

    /// Defaults, then global, advertiser and offer rows: the offer's table before
    /// any partner override.
    pub fn for_offer(&self, offer_id: i64, advertiser_id: i64) -> EffectiveRules {
        let mut rules = EffectiveRules::default();
        let layers = [
            Some(&self.global),
            self.by_advertiser.get(&advertiser_id),
            self.by_offer.get(&offer_id),
        ];
        for layer in layers.into_iter().flatten() {
            for (code, setting) in layer {
                rules.apply(*code, *setting);
            }
        }
        rules
    }

    pub fn partner_overrides(&self, partner_id: i64) -> &[(RuleCode, RuleSetting)] {
        self.by_partner.get(&partner_id).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        kind: &str,
        scope: RuleScope,
        id: Option<i64>,
        active: bool,
        params: serde_json::Value,
    ) -> RuleRow {
        RuleRow {
            kind: kind.into(),
            scope,
            advertiser_id: (scope == RuleScope::Advertiser).then_some(id).flatten(),
            offer_id: (scope == RuleScope::Offer).then_some(id).flatten(),
            partner_id: (scope == RuleScope::Partner).then_some(id).flatten(),
            active,
            params,
        }
    }

    #[test]
    fn parameterised_rules_are_off_until_configured() {
        let table = RuleTable::compile(&[]).unwrap();
        let rules = table.for_offer(1, 1);
        assert!(rules.is_active(RuleCode::InactiveOffer));
        assert!(rules.is_active(RuleCode::OfferTargetingMismatch));
        assert!(!rules.is_active(RuleCode::IpRecency));
        assert!(!rules.is_active(RuleCode::AnonymousProxyIp));
        assert!(
            rules.is_active(RuleCode::InvalidRequest),
            "not configurable: always on"
        );
    }

    #[test]
    fn inactive_offer_scoped_rule_beats_active_global_and_partner_rules() {
        let ttl = serde_json::json!({ "ttl_seconds": 600 });
        let table = RuleTable::compile(&[
            row("IP_RECENCY", RuleScope::Global, None, true, ttl.clone()),
            row("IP_RECENCY", RuleScope::Offer, Some(7), false, ttl.clone()),
            row(
                "IP_RECENCY",
                RuleScope::Partner,
                Some(3),
                true,
                serde_json::json!({ "ttl_seconds": 5 }),
            ),
        ])
        .unwrap();
        assert!(table.for_offer(1, 1).is_active(RuleCode::IpRecency));
        assert_eq!(
            table.for_offer(1, 1).get(RuleCode::IpRecency).ttl,
            Duration::from_secs(600)
        );
        let offer_7 = table
            .for_offer(7, 1)
            .with_partner(table.partner_overrides(3));
        assert!(
            !offer_7.is_active(RuleCode::IpRecency),
            "offer scope wins over partner scope"
        );
        let other = table
            .for_offer(8, 1)
            .with_partner(table.partner_overrides(3));
        assert_eq!(
            other.get(RuleCode::IpRecency).ttl,
            Duration::from_secs(5),
            "partner beats global"
        );
    }

    #[test]
    fn advertiser_scope_overrides_global() {
        let table = RuleTable::compile(&[row(
            "INACTIVE_OFFER",
            RuleScope::Advertiser,
            Some(2),
            false,
            serde_json::json!({}),
        )])
        .unwrap();
        assert!(!table.for_offer(1, 2).is_active(RuleCode::InactiveOffer));
        assert!(table.for_offer(1, 3).is_active(RuleCode::InactiveOffer));
    }

    #[test]
    fn bad_rows_are_refused_at_load() {
        let errors = RuleTable::compile(&[
            row(
                "NO_SUCH_RULE",
                RuleScope::Global,
                None,
                true,
                serde_json::json!({}),
            ),
            row(
                "IP_RECENCY",
                RuleScope::Global,
                None,
                true,
                serde_json::json!({}),
            ),
            row(
                "IP_RATE_LIMIT",
                RuleScope::Global,
                None,
                true,
                serde_json::json!({ "threshold": 2 }),
            ),
            row(
                "ANONYMOUS_PROXY_IP",
                RuleScope::Global,
                None,
                true,
                serde_json::json!({ "block": ["vpn", "satellite"] }),
            ),
            row(
                "INACTIVE_OFFER",
                RuleScope::Global,
                None,
                true,
                serde_json::json!({ "ttl_seconds": 1 }),
            ),
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:?}");
    }
}
