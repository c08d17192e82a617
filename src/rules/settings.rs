//! Which rules are active for a hit, and with which parameters.
//!
//! Rules are configured in `optimization_rules`: global, or scoped to an
//! advertiser, an offer or a partner. The most specific row wins, an inactive one
//! included (it lets traffic through): offer > partner > advertiser > global.
//! Without any row, a rule driven by catalog data (statuses, approvals, targeting,
//! caps, lists) is active, and a rule that needs parameters (recency, rate limits,
//! anonymous proxies) is off. Resolution for offer, advertiser and global is done
//! once per snapshot; a hit only patches in its partner's few overrides.

use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;
use serde::Deserialize;

use super::RuleCode;
use crate::catalog::source::{RuleRow, RuleScope};
use crate::interstitial::{self, params::BrowserCheckParams};

/// The rules an admin can configure, in evaluation order. The third-party
/// checks come last, in `checks::CHECKS` order, so a hit asks whether any is
/// active with three loads (`EffectiveRules::any_check_active`).
pub const CONFIGURABLE: [RuleCode; 27] = [
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
    RuleCode::DoesNotReachStore,
    RuleCode::DoesNotReachTracker,
    RuleCode::AdscoreScript,
    RuleCode::AnuraScript,
    RuleCode::ClientSideSearchLatency,
    RuleCode::SearchLatency,
    RuleCode::AdvertiserPrevalidation,
    RuleCode::AnuraDirect,
];

const FIRST_CHECK: usize = CONFIGURABLE.len() - crate::checks::CHECKS.len();

// The checks' slots are where `any_check_active` looks.
const _: () = {
    let mut i = 0;
    while i < crate::checks::CHECKS.len() {
        assert!(CONFIGURABLE[FIRST_CHECK + i] as u8 == crate::checks::CHECKS[i] as u8);
        i += 1;
    }
};

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
            | RuleCode::SearchLatency
            | RuleCode::AdvertiserPrevalidation
            | RuleCode::AnuraDirect
            | RuleCode::DoesNotReachStore
            | RuleCode::DoesNotReachTracker
            | RuleCode::AdscoreScript
            | RuleCode::AnuraScript
            | RuleCode::ClientSideSearchLatency
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
    /// Third-party checks: their settings, by index in `RuleTable::check`
    /// (an index keeps the setting `Copy`).
    pub check: Option<u32>,
    /// Scan rules (`reach`): `"mode": "monitor"`, the verdict is recorded
    /// and the hit is not discarded.
    pub monitor: bool,
    /// Scan rules: `"on_error": "closed"`, discard when the scan could not tell.
    pub fail_closed: bool,
    /// Browser-side rules: their parameters, by index in `RuleTable::browser`.
    pub browser: Option<u32>,
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

    /// Whether any third-party check is on: asked for every candidate, so it
    /// reads the checks' fixed slots instead of looking each code up.
    pub fn any_check_active(&self) -> bool {
        self.0[FIRST_CHECK..].iter().any(|s| s.active)
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
    let specificity = specificity(row.scope);
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

/// A check rule row: its settings go to `checks`, the setting keeps their index.
fn parse_check(
    row: &RuleRow,
    code: RuleCode,
    checks: &mut Vec<crate::checks::CheckSettings>,
) -> Result<RuleSetting, RuleConfigError> {
    let settings = crate::checks::settings::parse(code, &row.params).map_err(|reason| {
        RuleConfigError::BadParams {
            kind: row.kind.clone(),
            reason,
        }
    })?;
    let index = u32::try_from(checks.len()).map_err(|_| RuleConfigError::BadParams {
        kind: row.kind.clone(),
        reason: "too many check rules".into(),
    })?;
    checks.push(settings);
    Ok(RuleSetting {
        active: row.active,
        specificity: specificity(row.scope),
        check: Some(index),
        ..RuleSetting::default()
    })
}

/// A scan rule row (`reach`): only the common `mode` and `on_error`. It makes
/// no call on the hit, so it has no `timeout_ms`: the scanner's own bounds are
/// `SWITCHYARD_SCAN_*`.
fn parse_scan_rule(row: &RuleRow) -> Result<RuleSetting, RuleConfigError> {
    let bad = |reason: String| RuleConfigError::BadParams {
        kind: row.kind.clone(),
        reason,
    };
    if row.params.get("timeout_ms").is_some() {
        return Err(bad(
            "takes no timeout_ms: it reads the last scan, the scanner's bounds are SWITCHYARD_SCAN_*"
                .into(),
        ));
    }
    let (common, rest) =
        crate::checks::CommonParams::split(&row.params, super::reach::DEFAULTS).map_err(bad)?;
    if rest.as_object().is_some_and(|other| !other.is_empty()) {
        return Err(bad("takes only mode and on_error".into()));
    }
    Ok(RuleSetting {
        active: row.active,
        specificity: specificity(row.scope),
        monitor: common.mode == crate::checks::Mode::Monitor,
        fail_closed: common.on_error == crate::checks::OnError::Closed,
        ..RuleSetting::default()
    })
}

fn parse_browser(
    row: &RuleRow,
    code: RuleCode,
    browser: &mut Vec<Arc<BrowserCheckParams>>,
) -> Result<RuleSetting, RuleConfigError> {
    let bad = |reason: String| RuleConfigError::BadParams {
        kind: row.kind.clone(),
        reason,
    };
    let params = interstitial::params::parse(code, &row.params).map_err(bad)?;
    let index =
        u32::try_from(browser.len()).map_err(|_| bad("too many browser-side rules".into()))?;
    browser.push(Arc::new(params));
    Ok(RuleSetting {
        active: row.active,
        specificity: specificity(row.scope),
        browser: Some(index),
        ..RuleSetting::default()
    })
}

fn specificity(scope: RuleScope) -> Specificity {
    match scope {
        RuleScope::Global => Specificity::Global,
        RuleScope::Advertiser => Specificity::Advertiser,
        RuleScope::Partner => Specificity::Partner,
        RuleScope::Offer => Specificity::Offer,
    }
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
    /// The settings of every check rule row, indexed by `RuleSetting::check`.
    checks: Vec<crate::checks::CheckSettings>,
    /// The parameters of every browser-side rule row, indexed by `RuleSetting::browser`.
    browser: Vec<Arc<BrowserCheckParams>>,
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
            let parsed = if crate::checks::is_check(code) {
                parse_check(row, code, &mut table.checks)
            } else if super::reach::RULES.contains(&code) {
                parse_scan_rule(row)
            } else if interstitial::params::is_browser_rule(code) {
                parse_browser(row, code, &mut table.browser)
            } else {
                parse_setting(row, code)
            };
            let setting = match parsed {
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

    pub fn check(&self, index: u32) -> Option<&crate::checks::CheckSettings> {
        self.checks.get(usize::try_from(index).ok()?)
    }

    /// Whether some partner-scoped row switches `code` on: background work a
    /// rule needs (the offer URL scanner) must then be done for every offer.
    pub fn any_partner_activates(&self, code: RuleCode) -> bool {
        self.by_partner
            .values()
            .flatten()
            .any(|(c, setting)| *c == code && setting.active)
    }

    pub fn partner_overrides(&self, partner_id: i64) -> &[(RuleCode, RuleSetting)] {
        self.by_partner.get(&partner_id).map_or(&[], Vec::as_slice)
    }

    /// The parameters a browser-side setting points at.
    pub fn browser_params(&self, setting: &RuleSetting) -> Option<&Arc<BrowserCheckParams>> {
        self.browser.get(usize::try_from(setting.browser?).ok()?)
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
    fn scan_rules_take_mode_and_on_error_only() {
        let table = RuleTable::compile(&[row(
            "DOES_NOT_REACH_STORE",
            RuleScope::Global,
            None,
            true,
            serde_json::json!({ "mode": "monitor", "on_error": "closed" }),
        )])
        .unwrap();
        let setting = table.for_offer(1, 1).get(RuleCode::DoesNotReachStore);
        assert!(setting.active && setting.monitor && setting.fail_closed);
        assert!(
            !table
                .for_offer(1, 1)
                .is_active(RuleCode::DoesNotReachTracker)
        );
        for params in [
            serde_json::json!({ "timeout_ms": 20 }),
            serde_json::json!({ "ttl_seconds": 5 }),
            serde_json::json!({ "mode": "sometimes" }),
        ] {
            let refused = RuleTable::compile(&[row(
                "DOES_NOT_REACH_TRACKER",
                RuleScope::Global,
                None,
                true,
                params.clone(),
            )]);
            assert!(refused.is_err(), "{params}");
        }
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
