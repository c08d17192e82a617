//! Validates a `CatalogSource` and indexes it into a `Catalog`.
//!
//! Everything SQL constraints cannot express is checked here, all problems are
//! collected (not just the first) so `check-catalog` can list them, and one problem
//! rejects the whole snapshot: the server keeps serving the last good one.

use std::fmt;
use std::time::Duration;

use chrono_tz::Tz;
use rustc_hash::{FxHashMap, FxHashSet};

use super::click_texts::ClickTexts;
use super::model::*;
use super::secret::SecretHash;
use super::shared::Shared;
use super::source::{ApprovalStatus, CatalogSource, RetargetingFingerprint, Status};
use super::url_template::{UrlTemplate, UrlTemplateError};
use crate::kpi::KpiSettings;
use crate::rules::retargeting::RetargetingList;
use crate::rules::settings::RuleTable;
use crate::rules::traffic_control::TrafficControl;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogProblem {
    #[error("{table} id {id} appears more than once")]
    DuplicateId { table: &'static str, id: i64 },
    #[error("{table} row {row} refers to unknown {target} {id}")]
    UnknownReference {
        table: &'static str,
        row: String,
        target: &'static str,
        id: i64,
    },
    #[error("offer {offer}: timezone `{timezone}` is not an IANA timezone")]
    BadTimezone { offer: i64, timezone: String },
    #[error("offer {offer}: URL `{url}` {reason}")]
    BadUrl {
        offer: i64,
        url: String,
        reason: UrlTemplateError,
    },
    #[error("{table} row {row}: {reason}")]
    Invalid {
        table: &'static str,
        row: String,
        reason: String,
    },
}

/// Every problem found in a catalog source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogErrors(pub Vec<CatalogProblem>);

impl fmt::Display for CatalogErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the catalog", self.0.len())?;
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CatalogErrors {}

#[derive(Debug, Default)]
pub(super) struct Indexed {
    pub advertisers: FxHashMap<i64, Advertiser>,
    pub partners: FxHashMap<i64, Partner>,
    pub partners_by_key: FxHashMap<SecretHash, i64>,
    pub offers: FxHashMap<i64, Arc<Offer>>,
    pub tracking_domains: FxHashMap<i64, TrackingDomain>,
    pub smart_links: FxHashMap<i64, SmartLink>,
    pub rule_table: RuleTable,
    pub traffic_control: TrafficControl,
    pub partner_targeting: FxHashMap<i64, Vec<PartnerTargeting>>,
    pub retargeting_fingerprints: FxHashMap<i64, RetargetingFingerprint>,
    pub shared: Shared,
}

pub(super) fn build(mut source: CatalogSource) -> Result<Indexed, CatalogErrors> {
    let mut problems = Vec::new();
    let mut shared = std::mem::take(&mut source.shared);
    // Built in place, then frozen behind an `Arc` each at the end.
    let mut offers: FxHashMap<i64, Offer> = FxHashMap::default();
    let rule_table = match RuleTable::compile(&source.optimization_rules) {
        Ok(table) => table,
        Err(errors) => {
            for error in errors {
                problems.push(invalid("optimization_rules", "", &error.to_string()));
            }
            RuleTable::default()
        }
    };
    let mut out = Indexed {
        rule_table,
        traffic_control: TrafficControl::compile(&source.traffic_control),
        ..Indexed::default()
    };

    for row in source.advertisers {
        let advertiser = Advertiser {
            id: row.id,
            name: row.name,
            status: row.status,
            blocked_partners: FxHashSet::default(),
        };
        if out.advertisers.insert(row.id, advertiser).is_some() {
            problems.push(CatalogProblem::DuplicateId {
                table: "advertisers",
                id: row.id,
            });
        }
    }
    for row in source.partners {
        let partner = Partner {
            id: row.id,
            name: row.name,
            status: row.status,
            tags: row.tags.into_iter().map(|t| t.to_lowercase()).collect(),
            api_key_sha256: row.api_key_sha256,
            postback_texts: ClickTexts::of_postback_url(row.postback_url.as_deref()),
            postback_url: row.postback_url,
        };
        if let Some(key) = partner.api_key_sha256
            && let Some(other) = out.partners_by_key.insert(key, row.id)
            && other != row.id
        {
            // Postgres has a unique index; a catalog file does not. The
            // problem names the partners, never the digest.
            problems.push(invalid(
                "partners",
                &row.id.to_string(),
                &format!("api_key_sha256 is also partner {other}'s"),
            ));
        }
        if out.partners.insert(row.id, partner).is_some() {
            problems.push(CatalogProblem::DuplicateId {
                table: "partners",
                id: row.id,
            });
        }
    }
    for row in source.advertiser_blocked_partners {
        let label = format!("({}, {})", row.advertiser_id, row.partner_id);
        if !out.partners.contains_key(&row.partner_id) {
            problems.push(unknown(
                "advertiser_blocked_partners",
                &label,
                "partner",
                row.partner_id,
            ));
        }
        match out.advertisers.get_mut(&row.advertiser_id) {
            Some(advertiser) => {
                advertiser.blocked_partners.insert(row.partner_id);
            }
            None => problems.push(unknown(
                "advertiser_blocked_partners",
                &label,
                "advertiser",
                row.advertiser_id,
            )),
        }
    }

    for row in source.offers {
        let id = row.id;
        let label = id.to_string();
        if !out.advertisers.contains_key(&row.advertiser_id) {
            problems.push(unknown("offers", &label, "advertiser", row.advertiser_id));
        }
        let timezone = match row.timezone.parse::<Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                problems.push(CatalogProblem::BadTimezone {
                    offer: id,
                    timezone: row.timezone.clone(),
                });
                Tz::UTC
            }
        };
        let url = match UrlTemplate::parse(&row.offer_url) {
            Ok(url) => url,
            Err(reason) => {
                problems.push(CatalogProblem::BadUrl {
                    offer: id,
                    url: row.offer_url.clone(),
                    reason,
                });
                continue;
            }
        };
        let targeting = shared
            .targeting(&row.targeting, timezone)
            .unwrap_or_else(|reason| {
                problems.push(invalid("offers", &label, &reason));
                Arc::default()
            });
        let duplicate_filter = row.duplicate_filter.map(|identifier| DuplicateFilter {
            identifier,
            window: seconds(row.duplicate_window_seconds),
            action: row.duplicate_action,
        });
        let offer = Offer {
            id,
            advertiser_id: row.advertiser_id,
            name: row.name.into_boxed_str(),
            status: row.status,
            url,
            landing_pages: Box::default(),
            requires_approval: row.requires_approval,
            payout_model: row.payout_model,
            payout: row.payout,
            revenue_model: row.revenue_model,
            revenue: row.revenue,
            currency: shared.currency(&row.currency),
            timezone,
            fail_offer_id: row.fail_offer_id,
            duplicate_filter,
            deep_link: DeepLinkPolicy {
                enabled: row.deep_link_enabled,
                hosts: row
                    .deep_link_hosts
                    .iter()
                    .map(|h| h.to_ascii_lowercase().into_boxed_str())
                    .collect(),
            },
            conversion_window: seconds(row.conversion_window_seconds),
            allow_duplicate_conversions: row.allow_duplicate_conversions,
            verification_token_sha256: row.verification_token_sha256.map(Box::new),
            targeting,
            rules: shared.rules(out.rule_table.for_offer(id, row.advertiser_id)),
            caps: Box::default(),
            blacklisted_subs: FxHashMap::default(),
            retargeting_ids: None,
            last_scan: None,
            approvals: Box::default(),
        };
        if offers.insert(id, offer).is_some() {
            problems.push(CatalogProblem::DuplicateId {
                table: "offers",
                id,
            });
        }
    }
    // Fail offers are checked once every offer is known: they may point forward.
    for offer in offers.values() {
        if let Some(fail) = offer.fail_offer_id
            && !offers.contains_key(&fail)
        {
            problems.push(unknown("offers", &offer.id.to_string(), "fail offer", fail));
        }
    }

    let mut landing_pages: FxHashMap<i64, Vec<(i64, UrlTemplate)>> = FxHashMap::default();
    for row in source.offer_urls {
        let label = row.id.to_string();
        let template = match UrlTemplate::parse(&row.url) {
            Ok(t) => t,
            Err(reason) => {
                problems.push(CatalogProblem::BadUrl {
                    offer: row.offer_id,
                    url: row.url,
                    reason,
                });
                continue;
            }
        };
        match offers.get(&row.offer_id) {
            Some(_) if row.status == Status::Active => landing_pages
                .entry(row.offer_id)
                .or_default()
                .push((row.id, template)),
            Some(_) => {}
            None => problems.push(unknown("offer_urls", &label, "offer", row.offer_id)),
        }
    }
    for (offer_id, pages) in landing_pages {
        if let Some(offer) = offers.get_mut(&offer_id) {
            offer.landing_pages = sorted_by_id(pages);
        }
    }
    let mut approvals: FxHashMap<i64, Vec<(i64, ApprovalStatus)>> = FxHashMap::default();
    for row in source.offer_approvals {
        if !offers.contains_key(&row.offer_id) || !out.partners.contains_key(&row.partner_id) {
            let label = format!("({}, {})", row.offer_id, row.partner_id);
            if !offers.contains_key(&row.offer_id) {
                problems.push(unknown("offer_approvals", &label, "offer", row.offer_id));
            }
            if !out.partners.contains_key(&row.partner_id) {
                problems.push(unknown(
                    "offer_approvals",
                    &label,
                    "partner",
                    row.partner_id,
                ));
            }
            continue;
        }
        approvals
            .entry(row.offer_id)
            .or_default()
            .push((row.partner_id, row.status));
    }
    for (offer_id, rows) in approvals {
        if let Some(offer) = offers.get_mut(&offer_id) {
            offer.approvals = sorted_by_id(rows);
        }
    }
    let mut caps: FxHashMap<i64, Vec<Cap>> = FxHashMap::default();
    for row in source.offer_caps {
        let label = format!("offer {}", row.offer_id);
        if let Some(partner) = row.partner_id
            && !out.partners.contains_key(&partner)
        {
            problems.push(unknown("offer_caps", &label, "partner", partner));
        }
        let cap = Cap {
            partner_id: row.partner_id,
            metric: row.metric,
            period: row.period,
            limit: row.cap_limit,
            hard: row.hard,
        };
        match offers.get(&row.offer_id) {
            Some(_) => caps.entry(row.offer_id).or_default().push(cap),
            None => problems.push(unknown("offer_caps", &label, "offer", row.offer_id)),
        }
    }
    for (offer_id, caps) in caps {
        if let Some(offer) = offers.get_mut(&offer_id) {
            offer.caps = caps.into_boxed_slice();
        }
    }
    for row in source.offer_blacklisted_subs {
        match offers.get_mut(&row.offer_id) {
            Some(offer) => {
                offer
                    .blacklisted_subs
                    .entry(row.param)
                    .or_default()
                    .insert(row.value);
            }
            None => problems.push(unknown(
                "offer_blacklisted_subs",
                &row.value,
                "offer",
                row.offer_id,
            )),
        }
    }
    let mut fresh_lists: FxHashMap<i64, RetargetingList> = FxHashMap::default();
    for row in source.offer_retargeting_ids {
        match offers.get(&row.offer_id) {
            Some(_) => fresh_lists
                .entry(row.offer_id)
                .or_default()
                .insert(&row.device_id),
            None => problems.push(unknown(
                "offer_retargeting_ids",
                &row.device_id,
                "offer",
                row.offer_id,
            )),
        }
    }

    for (offer_id, list) in fresh_lists {
        if let Some(offer) = offers.get_mut(&offer_id) {
            offer.retargeting_ids = Some(Arc::new(list));
        }
    }
    for (offer_id, list) in source.retargeting_reuse.reused {
        match offers.get_mut(&offer_id) {
            Some(offer) => offer.retargeting_ids = Some(list),
            None => problems.push(unknown(
                "offer_retargeting_ids",
                "(reused list)",
                "offer",
                offer_id,
            )),
        }
    }
    out.retargeting_fingerprints = source.retargeting_reuse.fingerprints;

    for row in source.tracking_domains {
        let domain = TrackingDomain {
            id: row.id,
            hostname: row.hostname.to_ascii_lowercase(),
            status: row.status,
        };
        if out.tracking_domains.insert(row.id, domain).is_some() {
            problems.push(CatalogProblem::DuplicateId {
                table: "tracking_domains",
                id: row.id,
            });
        }
    }
    for row in source.smart_links {
        let label = row.id.to_string();
        let tracking_domain = match row.tracking_domain_id {
            Some(domain_id) => match out.tracking_domains.get(&domain_id) {
                Some(domain) => Some(domain.hostname.clone()),
                None => {
                    problems.push(unknown("smart_links", &label, "tracking domain", domain_id));
                    None
                }
            },
            None => None,
        };
        let link = SmartLink {
            id: row.id,
            name: row.name,
            status: row.status,
            tracking_domain,
            mechanism: row.mechanism,
            partner_visible: row.partner_visible,
            kpi: KpiSettings {
                metric: row.kpi_metric,
                goal: row.kpi_goal,
                min_clicks: u64::try_from(row.kpi_min_clicks).unwrap_or(0),
                frequency_hours: u32::try_from(row.kpi_frequency_hours).unwrap_or(6),
                lookback_hours: row
                    .kpi_lookback_hours
                    .and_then(|h| u32::try_from(h).ok())
                    .unwrap_or(24),
                strategy: row.kpi_strategy,
            },
            optimization_reset_at: row.optimization_reset_at,
            offers: Vec::new(),
            catch_all: None,
            kpi_order: None,
        };
        if out.smart_links.insert(row.id, link).is_some() {
            problems.push(CatalogProblem::DuplicateId {
                table: "smart_links",
                id: row.id,
            });
        }
    }
    for row in source.smart_link_offers {
        let label = format!("({}, {})", row.smart_link_id, row.offer_id);
        let mut timezone = Tz::UTC;
        match offers.get(&row.offer_id) {
            None => problems.push(unknown("smart_link_offers", &label, "offer", row.offer_id)),
            Some(offer) => {
                timezone = offer.timezone;
                if let Some(url_id) = row.offer_url_id
                    && offer.landing_page(url_id).is_none()
                {
                    problems.push(invalid(
                        "smart_link_offers",
                        &label,
                        &format!(
                            "offer_url_id {url_id} is not an active landing page of the offer"
                        ),
                    ));
                }
            }
        }
        let targeting = shared
            .targeting(&row.targeting, timezone)
            .unwrap_or_else(|reason| {
                problems.push(invalid("smart_link_offers", &label, &reason));
                Arc::default()
            });
        let entry = SmartLinkOffer {
            offer_id: row.offer_id,
            offer_url_id: row.offer_url_id,
            priority: row.priority,
            weight: u32::try_from(row.weight).unwrap_or(0),
            targeting,
        };
        match out.smart_links.get_mut(&row.smart_link_id) {
            Some(link) if row.is_catch_all => {
                if link.catch_all.replace(entry).is_some() {
                    problems.push(invalid(
                        "smart_link_offers",
                        &label,
                        "a smart link has one Catch All at most",
                    ));
                }
            }
            Some(link) => link.offers.push(entry),
            None => problems.push(unknown(
                "smart_link_offers",
                &label,
                "smart link",
                row.smart_link_id,
            )),
        }
    }
    for link in out.smart_links.values_mut() {
        link.offers.sort_by_key(|o| (o.priority, o.offer_id));
    }
    // Runs are the optimizer's output, not admin input: one naming a deleted
    // link or offer must never reject the snapshot, so it is resolved leniently.
    // Scans too are the scanner's output: one of an unknown offer is skipped.
    for scan in &source.offer_url_scans {
        if let Some(offer) = offers.get_mut(&scan.offer_id) {
            offer.last_scan = Some(scan.as_last_scan());
        }
    }
    for run in &source.smart_link_kpi_runs {
        if let Some(link) = out.smart_links.get_mut(&run.smart_link_id) {
            link.kpi_order = super::kpi_order::resolve(link, run);
        }
    }

    for row in source.traffic_targeting.iter().filter(|r| r.active) {
        let label = format!("tag {}", row.partner_tag);
        if let Some(offer_id) = row.offer_id
            && !offers.contains_key(&offer_id)
        {
            problems.push(unknown("traffic_targeting", &label, "offer", offer_id));
        }
        // Day parting here has no single offer timezone to follow: it is in UTC.
        let targeting = match shared.targeting(&row.targeting, Tz::UTC) {
            Ok(t) => t,
            Err(reason) => {
                problems.push(invalid("traffic_targeting", &label, &reason));
                continue;
            }
        };
        let tag = row.partner_tag.trim_start_matches('#').to_lowercase();
        for partner in out
            .partners
            .values()
            .filter(|p| p.tags.iter().any(|t| t.trim_start_matches('#') == tag))
        {
            out.partner_targeting
                .entry(partner.id)
                .or_default()
                .push(PartnerTargeting {
                    offer_id: row.offer_id,
                    targeting: targeting.clone(),
                });
        }
    }

    if problems.is_empty() {
        out.offers = offers
            .into_iter()
            .map(|(id, offer)| (id, Arc::new(offer)))
            .collect();
        shared.retain_used();
        out.shared = shared;
        Ok(out)
    } else {
        Err(CatalogErrors(problems))
    }
}

fn seconds(value: i32) -> Duration {
    Duration::from_secs(u64::try_from(value).unwrap_or(0))
}

fn unknown(table: &'static str, row: &str, target: &'static str, id: i64) -> CatalogProblem {
    CatalogProblem::UnknownReference {
        table,
        row: row.to_owned(),
        target,
        id,
    }
}

fn invalid(table: &'static str, row: &str, reason: &str) -> CatalogProblem {
    CatalogProblem::Invalid {
        table,
        row: row.to_owned(),
        reason: reason.to_owned(),
    }
}
