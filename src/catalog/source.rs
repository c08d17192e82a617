//! The catalog as rows: what the Postgres loader reads and the catalog file holds.
//!
//! Both loaders produce a `CatalogSource`; `Catalog::build` validates and indexes it
//! the same way whichever it came from, so the embedded default and production
//! cannot drift apart.

use serde::{Deserialize, Serialize};

use super::money::Micros;
use super::secret::SecretHash;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "entity_status", rename_all = "snake_case")]
pub enum Status {
    #[default]
    Active,
    Paused,
    Inactive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "approval_status", rename_all = "snake_case")]
pub enum ApprovalStatus {
    #[default]
    Approved,
    Pending,
    Rejected,
    Blocked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "payout_model", rename_all = "snake_case")]
pub enum PayoutModel {
    #[default]
    Flat,
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "duplicate_identifier", rename_all = "snake_case")]
pub enum DuplicateIdentifier {
    Cookie,
    Ip,
    IpUa,
    Idfa,
    Gaid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "duplicate_action", rename_all = "snake_case")]
pub enum DuplicateAction {
    #[default]
    Block,
    FailTraffic,
    Mark,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "redirect_mechanism", rename_all = "snake_case")]
pub enum RedirectMechanism {
    #[default]
    Priority,
    Weight,
    Kpi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "kpi_metric", rename_all = "snake_case")]
pub enum KpiMetric {
    Cv,
    #[default]
    Cvr,
    Evr,
    Rpc,
    Cpc,
    Epc,
    Payout,
    Profit,
    Revenue,
}

/// How a KPI link turns its optimizer's run into traffic (docs/KPI.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "kpi_strategy", rename_all = "snake_case")]
pub enum KpiStrategy {
    /// Everflow's behaviour: the top-ranked eligible offer takes the click.
    #[default]
    Rank,
    /// A weighted draw by the run's traffic shares, every offer above a floor.
    Explore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "rule_scope", rename_all = "snake_case")]
pub enum RuleScope {
    #[default]
    Global,
    Advertiser,
    Offer,
    Partner,
}

/// Shared with the counters, which key caps by them.
pub use crate::counters::{CapMetric, CapPeriod};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "traffic_control_list", rename_all = "snake_case")]
pub enum TrafficControlList {
    Allow,
    Block,
}

fn yes() -> bool {
    true
}
fn utc() -> String {
    "UTC".to_owned()
}
fn usd() -> String {
    "USD".to_owned()
}
fn one_day() -> i32 {
    86_400
}
fn thirty_days() -> i32 {
    2_592_000
}
fn one() -> i32 {
    1
}
fn six() -> i32 {
    6
}
fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// The whole catalog, table by table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogSource {
    pub advertisers: Vec<AdvertiserRow>,
    pub partners: Vec<PartnerRow>,
    pub advertiser_blocked_partners: Vec<BlockedPartnerRow>,
    pub offers: Vec<OfferRow>,
    pub offer_urls: Vec<OfferUrlRow>,
    pub offer_approvals: Vec<ApprovalRow>,
    pub offer_caps: Vec<CapRow>,
    pub offer_blacklisted_subs: Vec<BlacklistedSubRow>,
    pub offer_retargeting_ids: Vec<RetargetingIdRow>,
    pub tracking_domains: Vec<TrackingDomainRow>,
    pub smart_links: Vec<SmartLinkRow>,
    pub smart_link_offers: Vec<SmartLinkOfferRow>,
    /// The latest KPI run of each link (not a catalog table: the optimizer's
    /// output, carried in the snapshot so routing can read it without I/O).
    pub smart_link_kpi_runs: Vec<SmartLinkKpiRunRow>,
    /// The latest scan of each offer's current URL (the scanner's output, like
    /// the KPI runs).
    pub offer_url_scans: Vec<OfferScanRow>,
    pub optimization_rules: Vec<RuleRow>,
    pub traffic_control: Vec<TrafficControlRow>,
    pub traffic_targeting: Vec<TrafficTargetingRow>,
    /// Retargeting lists carried over from the previous snapshot (not a table).
    #[serde(skip)]
    pub retargeting_reuse: RetargetingReuse,
    /// The previous snapshot's compiled targeting and rules, to share rather
    /// than compile again (not a table).
    #[serde(skip)]
    pub shared: super::shared::Shared,
}

/// What the Postgres loader knows about retargeting lists beyond the rows it
/// read: the fingerprint of every offer's list, and the lists it did not re-read
/// because their fingerprint had not changed.
#[derive(Debug, Clone, Default)]
pub struct RetargetingReuse {
    pub fingerprints: rustc_hash::FxHashMap<i64, RetargetingFingerprint>,
    pub reused:
        rustc_hash::FxHashMap<i64, std::sync::Arc<crate::rules::retargeting::RetargetingList>>,
}

/// Row count and sum of `hashtext(device_id)` of one offer's list, computed by
/// Postgres without sending the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetargetingFingerprint {
    pub count: i64,
    pub hash_sum: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct AdvertiserRow {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub status: Status,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct PartnerRow {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub status: Status,
    #[serde(default)]
    pub tags: Vec<String>,
    /// SHA-256 of the partner's API key (`catalog::secret`); files carry it
    /// as 64 hex characters.
    #[serde(default)]
    pub api_key_sha256: Option<SecretHash>,
    #[serde(default)]
    pub postback_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct BlockedPartnerRow {
    pub advertiser_id: i64,
    pub partner_id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferRow {
    pub id: i64,
    pub advertiser_id: i64,
    pub name: String,
    #[serde(default)]
    pub status: Status,
    pub offer_url: String,
    #[serde(default = "yes")]
    pub requires_approval: bool,
    #[serde(default)]
    pub payout_model: PayoutModel,
    #[serde(default)]
    pub payout: Micros,
    #[serde(default)]
    pub revenue_model: PayoutModel,
    #[serde(default)]
    pub revenue: Micros,
    #[serde(default = "usd")]
    pub currency: String,
    #[serde(default = "utc")]
    pub timezone: String,
    #[serde(default)]
    pub fail_offer_id: Option<i64>,
    #[serde(default)]
    pub duplicate_filter: Option<DuplicateIdentifier>,
    #[serde(default = "one_day")]
    pub duplicate_window_seconds: i32,
    #[serde(default)]
    pub duplicate_action: DuplicateAction,
    #[serde(default)]
    pub deep_link_enabled: bool,
    #[serde(default)]
    pub deep_link_hosts: Vec<String>,
    #[serde(default = "thirty_days")]
    pub conversion_window_seconds: i32,
    #[serde(default)]
    pub allow_duplicate_conversions: bool,
    /// SHA-256 of the token a postback must carry, as for `api_key_sha256`.
    #[serde(default)]
    pub verification_token_sha256: Option<SecretHash>,
    #[serde(default = "empty_object")]
    pub targeting: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct OfferUrlRow {
    pub id: i64,
    pub offer_id: i64,
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub status: Status,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRow {
    pub offer_id: i64,
    pub partner_id: i64,
    #[serde(default)]
    pub status: ApprovalStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapRow {
    pub offer_id: i64,
    #[serde(default)]
    pub partner_id: Option<i64>,
    pub metric: CapMetric,
    pub period: CapPeriod,
    pub cap_limit: Micros,
    #[serde(default = "yes")]
    pub hard: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct BlacklistedSubRow {
    pub offer_id: i64,
    pub param: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct RetargetingIdRow {
    pub offer_id: i64,
    pub device_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct TrackingDomainRow {
    pub id: i64,
    pub hostname: String,
    #[serde(default)]
    pub status: Status,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct SmartLinkRow {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub status: Status,
    #[serde(default)]
    pub tracking_domain_id: Option<i64>,
    #[serde(default)]
    pub mechanism: RedirectMechanism,
    #[serde(default)]
    pub partner_visible: bool,
    #[serde(default)]
    pub kpi_metric: KpiMetric,
    #[serde(default)]
    pub kpi_min_clicks: i32,
    #[serde(default)]
    pub kpi_lookback_hours: Option<i32>,
    #[serde(default)]
    pub kpi_goal: Option<f64>,
    #[serde(default = "six")]
    pub kpi_frequency_hours: i32,
    #[serde(default)]
    pub kpi_strategy: KpiStrategy,
    /// KPI runs before this instant are not used; `None` (catalog files): never reset.
    #[serde(default)]
    pub optimization_reset_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What routing needs of a KPI run: the columns of `smart_link_kpi_runs` that
/// decide where traffic goes.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct SmartLinkKpiRunRow {
    pub smart_link_id: i64,
    pub ran_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub strategy: KpiStrategy,
    pub threshold_met: bool,
    /// Offer ids, best first.
    pub ranking: Vec<i64>,
    /// `shares[i]` is the traffic share of `ranking[i]`; explore runs only.
    #[serde(default)]
    pub shares: Option<Vec<f64>>,
}

/// What the rules need of an offer's latest scan: the columns of
/// `offer_url_scans` that `DOES_NOT_REACH_STORE` and `DOES_NOT_REACH_TRACKER` read.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct OfferScanRow {
    pub offer_id: i64,
    pub result: crate::scanner::ScanResult,
    #[serde(default)]
    pub reached_tracker: bool,
    /// With result `error`, its kind (`loop`, `timeout`, ...).
    #[serde(default)]
    pub error: Option<String>,
}

impl OfferScanRow {
    pub fn as_last_scan(&self) -> super::model::LastScan {
        super::model::LastScan {
            result: self.result,
            reached_tracker: self.reached_tracker,
            // An unknown kind (written by a newer version) counts as the
            // scanner not being able to tell.
            transient: self.error.as_deref().is_some_and(|e| {
                crate::scanner::ScanError::parse(e).is_none_or(|e| e.is_transient())
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct SmartLinkOfferRow {
    pub smart_link_id: i64,
    pub offer_id: i64,
    #[serde(default)]
    pub offer_url_id: Option<i64>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "one")]
    pub weight: i32,
    #[serde(default)]
    pub is_catch_all: bool,
    #[serde(default = "empty_object")]
    pub targeting: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct RuleRow {
    pub kind: String,
    #[serde(default)]
    pub scope: RuleScope,
    #[serde(default)]
    pub advertiser_id: Option<i64>,
    #[serde(default)]
    pub offer_id: Option<i64>,
    #[serde(default)]
    pub partner_id: Option<i64>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default = "empty_object")]
    pub params: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct TrafficControlRow {
    pub scope: RuleScope,
    #[serde(default)]
    pub advertiser_id: Option<i64>,
    #[serde(default)]
    pub offer_id: Option<i64>,
    #[serde(default)]
    pub partner_id: Option<i64>,
    pub list: TrafficControlList,
    pub field: String,
    pub pattern: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct TrafficTargetingRow {
    pub partner_tag: String,
    #[serde(default)]
    pub offer_id: Option<i64>,
    pub targeting: serde_json::Value,
    #[serde(default = "yes")]
    pub active: bool,
}
