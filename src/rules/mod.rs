//! Discard rules (seed 004): each one can make an offer refuse a hit.
//!
//! **Architecture invariant:** rules read the snapshot and the visit only; they
//! never do I/O. Counter-backed rules (caps, recency, rate limits) are checked by
//! reserving at the end of routing, see `routing`.

pub mod engine;
pub mod reach;
pub mod retargeting;
pub mod settings;
pub mod status;
pub mod traffic_control;

use serde::Serialize;

/// The reason a hit was discarded, as recorded in the click log and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleCode {
    InvalidRequest,
    InactiveAdvertiser,
    InactiveOffer,
    InactivePublisher,
    PublisherNotApproved,
    AdvertiserBlockedPublisher,
    BlacklistedSubId,
    InvalidUserIdentifier,
    TrafficControl,
    OfferTargetingMismatch,
    AdvancedTargetingMismatch,
    TrafficTargeting,
    AnonymousProxyIp,
    BudgetReached,
    ClickBudgetReached,
    ImpressionBudgetReached,
    IpRecency,
    Recency,
    IpRateLimit,
    IpUaRateLimit,
    DuplicateClick,
    SmartLinkNoMatchingOffers,
    /// The advertiser's check URL did not accept the visitor (`checks::prevalidation`).
    AdvertiserPrevalidation,
    /// Anura Direct judged the visitor `suspect` (`checks::anura`).
    AnuraDirect,
    /// The upstream hop was slower than the rule's threshold (`checks::latency`).
    SearchLatency,
    /// The offer's latest URL scan did not end at an app store (`scanner`).
    DoesNotReachStore,
    /// The offer's latest URL scan met no known tracker (`scanner`).
    DoesNotReachTracker,
    /// Browser-side checks, judged on the interstitial's second hop (`interstitial`).
    AdscoreScript,
    AnuraScript,
    ClientSideSearchLatency,
    /// No catalog snapshot has loaded yet (start-up against an unreachable database).
    NoCatalog,
}

impl RuleCode {
    pub const ALL: [RuleCode; 31] = [
        RuleCode::InvalidRequest,
        RuleCode::InactiveAdvertiser,
        RuleCode::InactiveOffer,
        RuleCode::InactivePublisher,
        RuleCode::PublisherNotApproved,
        RuleCode::AdvertiserBlockedPublisher,
        RuleCode::BlacklistedSubId,
        RuleCode::InvalidUserIdentifier,
        RuleCode::TrafficControl,
        RuleCode::OfferTargetingMismatch,
        RuleCode::AdvancedTargetingMismatch,
        RuleCode::TrafficTargeting,
        RuleCode::AnonymousProxyIp,
        RuleCode::BudgetReached,
        RuleCode::ClickBudgetReached,
        RuleCode::ImpressionBudgetReached,
        RuleCode::IpRecency,
        RuleCode::Recency,
        RuleCode::IpRateLimit,
        RuleCode::IpUaRateLimit,
        RuleCode::DuplicateClick,
        RuleCode::SmartLinkNoMatchingOffers,
        RuleCode::AdvertiserPrevalidation,
        RuleCode::AnuraDirect,
        RuleCode::SearchLatency,
        RuleCode::DoesNotReachStore,
        RuleCode::DoesNotReachTracker,
        RuleCode::AdscoreScript,
        RuleCode::AnuraScript,
        RuleCode::ClientSideSearchLatency,
        RuleCode::NoCatalog,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RuleCode::InvalidRequest => "INVALID_REQUEST",
            RuleCode::InactiveAdvertiser => "INACTIVE_ADVERTISER",
            RuleCode::InactiveOffer => "INACTIVE_OFFER",
            RuleCode::InactivePublisher => "INACTIVE_PUBLISHER",
            RuleCode::PublisherNotApproved => "PUBLISHER_NOT_APPROVED",
            RuleCode::AdvertiserBlockedPublisher => "ADVERTISER_BLOCKED_PUBLISHER",
            RuleCode::BlacklistedSubId => "BLACKLISTED_SUB_ID",
            RuleCode::InvalidUserIdentifier => "INVALID_USER_IDENTIFIER",
            RuleCode::TrafficControl => "TRAFFIC_CONTROL",
            RuleCode::OfferTargetingMismatch => "OFFER_TARGETING_MISMATCH",
            RuleCode::AdvancedTargetingMismatch => "ADVANCED_TARGETING_MISMATCH",
            RuleCode::TrafficTargeting => "TRAFFIC_TARGETING",
            RuleCode::AnonymousProxyIp => "ANONYMOUS_PROXY_IP",
            RuleCode::BudgetReached => "BUDGET_REACHED",
            RuleCode::ClickBudgetReached => "CLICK_BUDGET_REACHED",
            RuleCode::ImpressionBudgetReached => "IMPRESSION_BUDGET_REACHED",
            RuleCode::IpRecency => "IP_RECENCY",
            RuleCode::Recency => "RECENCY",
            RuleCode::IpRateLimit => "IP_RATE_LIMIT",
            RuleCode::IpUaRateLimit => "IP_UA_RATE_LIMIT",
            RuleCode::DuplicateClick => "DUPLICATE_CLICK",
            RuleCode::SmartLinkNoMatchingOffers => "SMART_LINK_NO_MATCHING_OFFERS",
            RuleCode::AdvertiserPrevalidation => "ADVERTISER_PREVALIDATION",
            RuleCode::AnuraDirect => "ANURA_DIRECT",
            RuleCode::SearchLatency => "SEARCH_LATENCY",
            RuleCode::DoesNotReachStore => "DOES_NOT_REACH_STORE",
            RuleCode::DoesNotReachTracker => "DOES_NOT_REACH_TRACKER",
            RuleCode::AdscoreScript => "ADSCORE_SCRIPT",
            RuleCode::AnuraScript => "ANURA_SCRIPT",
            RuleCode::ClientSideSearchLatency => "CLIENT_SIDE_SEARCH_LATENCY",
            RuleCode::NoCatalog => "NO_CATALOG",
        }
    }

    /// Failures that belong to the partner rather than the offer: they must not
    /// earn the partner the offer's fail traffic.
    pub fn is_partner_failure(&self) -> bool {
        matches!(
            self,
            RuleCode::InactivePublisher
                | RuleCode::PublisherNotApproved
                | RuleCode::AdvertiserBlockedPublisher
        )
    }
}

impl std::fmt::Display for RuleCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
