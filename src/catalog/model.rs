//! The compiled, indexed catalog objects the decision path reads.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rustc_hash::{FxHashMap, FxHashSet};

use super::click_texts::ClickTexts;
use super::money::Micros;
use super::secret::SecretHash;
use super::source::{
    ApprovalStatus, CapMetric, CapPeriod, DuplicateAction, DuplicateIdentifier, PayoutModel,
    RedirectMechanism, Status,
};
use super::url_template::UrlTemplate;
use crate::counters::{CounterKey, cap_key};
use crate::kpi::KpiSettings;
use crate::rules::retargeting::RetargetingList;
use crate::rules::settings::EffectiveRules;
use crate::scanner::ScanResult;
use crate::targeting::CompiledTargeting;

#[derive(Debug, Clone)]
pub struct Advertiser {
    pub id: i64,
    pub name: String,
    pub status: Status,
    pub blocked_partners: FxHashSet<i64>,
}

#[derive(Debug, Clone)]
pub struct Partner {
    pub id: i64,
    pub name: String,
    pub status: Status,
    pub tags: Vec<String>,
    pub api_key_sha256: Option<SecretHash>,
    pub postback_url: Option<String>,
    /// The click texts `postback_url` expands: all a conversion needs of them.
    pub postback_texts: ClickTexts,
}

#[derive(Debug, Clone, Copy)]
pub struct DuplicateFilter {
    pub identifier: DuplicateIdentifier,
    pub window: Duration,
    pub action: DuplicateAction,
}

#[derive(Debug, Clone, Default)]
pub struct DeepLinkPolicy {
    pub enabled: bool,
    /// Lowercase hostnames; a deep link must name one of them or a subdomain.
    pub hosts: Box<[Box<str>]>,
}

#[derive(Debug, Clone, Copy)]
pub struct Cap {
    pub partner_id: Option<i64>,
    pub metric: CapMetric,
    pub period: CapPeriod,
    pub limit: Micros,
    pub hard: bool,
}

#[derive(Debug, Clone)]
pub struct Offer {
    pub id: i64,
    pub advertiser_id: i64,
    pub name: Box<str>,
    pub status: Status,
    pub url: UrlTemplate,
    /// Active extra landing pages, sorted by `offer_urls.id` (`landing_page`).
    pub landing_pages: Box<[(i64, UrlTemplate)]>,
    pub requires_approval: bool,
    pub payout_model: PayoutModel,
    pub payout: Micros,
    pub revenue_model: PayoutModel,
    pub revenue: Micros,
    /// Shared: a catalog has a handful of currencies and 100k offers.
    pub currency: Arc<str>,
    pub timezone: Tz,
    pub fail_offer_id: Option<i64>,
    pub duplicate_filter: Option<DuplicateFilter>,
    pub deep_link: DeepLinkPolicy,
    pub conversion_window: Duration,
    pub allow_duplicate_conversions: bool,
    /// Boxed: most offers have none, and the digest is 32 bytes.
    pub verification_token_sha256: Option<Box<SecretHash>>,
    /// Offer and advanced targeting, compiled in the offer's timezone; shared
    /// by the offers with the same spec (`catalog::shared`).
    pub targeting: Arc<CompiledTargeting>,
    /// Rule settings from global, advertiser and offer rows (partner rows are
    /// patched in per hit); shared by the offers with the same settings.
    pub rules: Arc<EffectiveRules>,
    pub caps: Box<[Cap]>,
    /// Parameter name → values that discard a hit on this offer.
    pub blacklisted_subs: FxHashMap<String, FxHashSet<String>>,
    /// The offer's retargeting list; `None` when it has none (every id passes).
    /// Shared so a reload can reuse an unchanged million-id list.
    pub retargeting_ids: Option<Arc<RetargetingList>>,
    /// The partners with an approval row, sorted by partner id: a few per
    /// offer, so a binary search here beats a map keyed by both ids, and costs
    /// 16 bytes an approval instead of about 50.
    pub approvals: Box<[(i64, ApprovalStatus)]>,
    /// The latest scan of the offer's current URL (`scanner`); `None`: not
    /// scanned yet, or the URL changed since.
    pub last_scan: Option<LastScan>,
}

/// What `DOES_NOT_REACH_STORE` and `DOES_NOT_REACH_TRACKER` read of a scan:
/// four bytes an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastScan {
    pub result: ScanResult,
    pub reached_tracker: bool,
    /// With `ScanResult::Error`: the scanner could not tell (timeout,
    /// connection, 5xx), rather than found the chain broken.
    pub transient: bool,
}

impl Offer {
    /// This partner's approval row on the offer; `None` when there is none.
    pub fn approval(&self, partner_id: i64) -> Option<ApprovalStatus> {
        find(&self.approvals, partner_id).copied()
    }

    /// An active extra landing page of the offer, by `offer_urls.id`.
    pub fn landing_page(&self, url_id: i64) -> Option<&UrlTemplate> {
        find(&self.landing_pages, url_id)
    }

    /// The counter of `cap` (one of this offer's) for the period containing
    /// `now`, in the offer's timezone, and when that period ends.
    pub fn cap_key(&self, cap: &Cap, now: DateTime<Utc>) -> (CounterKey, Option<DateTime<Utc>>) {
        cap_key(
            self.id,
            cap.partner_id,
            cap.metric,
            cap.period,
            self.timezone,
            now,
        )
    }
}

/// The value under `id` in a slice sorted by id.
fn find<T>(sorted: &[(i64, T)], id: i64) -> Option<&T> {
    sorted
        .binary_search_by_key(&id, |(key, _)| *key)
        .ok()
        .map(|i| &sorted[i].1)
}

/// Rows keyed by id, sorted for `find`; of rows with the same id, the last
/// read wins, as it would in a map.
pub(super) fn sorted_by_id<T>(mut rows: Vec<(i64, T)>) -> Box<[(i64, T)]> {
    rows.reverse();
    // Stable: of equal ids, the last read now comes first and is kept.
    rows.sort_by_key(|(id, _)| *id);
    rows.dedup_by_key(|(id, _)| *id);
    rows.into_boxed_slice()
}

#[derive(Debug, Clone)]
pub struct TrackingDomain {
    pub id: i64,
    pub hostname: String,
    pub status: Status,
}

#[derive(Debug, Clone)]
pub struct SmartLinkOffer {
    pub offer_id: i64,
    /// A specific landing page for this link; `None`: the offer's default URL.
    pub offer_url_id: Option<i64>,
    pub priority: i32,
    pub weight: u32,
    /// The link's extra targeting for this offer (after the offer's own).
    pub targeting: Arc<CompiledTargeting>,
}

#[derive(Debug, Clone)]
pub struct SmartLink {
    pub id: i64,
    pub name: String,
    pub status: Status,
    /// Lowercase hostname the link answers on; `None`: any host.
    pub tracking_domain: Option<String>,
    pub mechanism: RedirectMechanism,
    pub partner_visible: bool,
    pub kpi: KpiSettings,
    /// KPI runs before this instant are not used; `None`: never reset.
    pub optimization_reset_at: Option<DateTime<Utc>>,
    /// Regular offers, sorted by priority (lowest number first) then offer id.
    pub offers: Vec<SmartLinkOffer>,
    pub catch_all: Option<SmartLinkOffer>,
    /// How the latest KPI run orders `offers`; `None` (no run, threshold not
    /// met, or reset since): traffic is spread evenly. Read only for `kpi` links.
    pub kpi_order: Option<KpiOrder>,
}

/// The latest KPI run, resolved against the link's offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KpiOrder {
    /// Indices into `SmartLink::offers`, best first; every offer appears once.
    Ranked(Vec<usize>),
    /// A weight for each entry of `SmartLink::offers` (same index), drawn
    /// without replacement like the weight mechanism.
    Shares(Vec<u32>),
}

/// Traffic Targeting applied to a partner through one of its tags.
#[derive(Debug, Clone)]
pub struct PartnerTargeting {
    /// `None`: every offer.
    pub offer_id: Option<i64>,
    pub targeting: Arc<CompiledTargeting>,
}
