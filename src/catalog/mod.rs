//! The catalog: offers, partners, smart links and rules, as one immutable snapshot.
//!
//! **Architecture invariant:** the redirect path reads a snapshot through
//! `CatalogHandle::current` and never waits on a loader. Loaders (`file`,
//! `postgres`) produce a `CatalogSource`; `Catalog::build` validates it; `reload`
//! swaps the handle only when a new snapshot is complete and valid.

mod build;
pub mod click_texts;
mod compact;
pub mod file;
mod kpi_order;
pub mod model;
pub mod money;
pub mod postgres;
pub mod reload;
pub mod secret;
pub mod shared;
pub mod source;
pub mod url_template;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use crate::rules::settings::RuleTable;
use crate::rules::traffic_control::TrafficControl;
pub use build::{CatalogErrors, CatalogProblem};
pub use click_texts::ClickTexts;
pub use model::*;
pub use secret::SecretHash;
pub use source::{ApprovalStatus, CatalogSource, Status};

/// Where a snapshot came from, for logs and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(String),
    Postgres,
    Test,
}

/// One consistent, validated, indexed view of the catalog.
#[derive(Debug)]
pub struct Catalog {
    pub version: u64,
    pub loaded_at: DateTime<Utc>,
    pub origin: Origin,
    advertisers: FxHashMap<i64, Advertiser>,
    partners: FxHashMap<i64, Partner>,
    /// Partners by the SHA-256 of their API key.
    partners_by_key: FxHashMap<SecretHash, i64>,
    /// Behind an `Arc` each, so the map holds 16 bytes an offer and a
    /// snapshot can share an unchanged offer with the next.
    offers: FxHashMap<i64, Arc<Offer>>,
    tracking_domains: FxHashMap<i64, TrackingDomain>,
    smart_links: FxHashMap<i64, SmartLink>,
    pub rule_table: RuleTable,
    pub traffic_control: TrafficControl,
    partner_targeting: FxHashMap<i64, Vec<PartnerTargeting>>,
    retargeting_fingerprints: FxHashMap<i64, source::RetargetingFingerprint>,
    /// The compiled targeting and rules the offers share, handed to the next build.
    shared: shared::Shared,
}

impl Catalog {
    /// Validates and indexes a source. `version` orders snapshots within a process.
    pub fn build(
        source: CatalogSource,
        origin: Origin,
        version: u64,
    ) -> Result<Self, CatalogErrors> {
        let mut indexed = build::build(source)?;
        indexed.offers = compact::offers(&indexed.offers);
        Ok(Self {
            version,
            loaded_at: Utc::now(),
            origin,
            advertisers: indexed.advertisers,
            partners: indexed.partners,
            partners_by_key: indexed.partners_by_key,
            offers: indexed.offers,
            tracking_domains: indexed.tracking_domains,
            smart_links: indexed.smart_links,
            rule_table: indexed.rule_table,
            traffic_control: indexed.traffic_control,
            partner_targeting: indexed.partner_targeting,
            retargeting_fingerprints: indexed.retargeting_fingerprints,
            shared: indexed.shared,
        })
    }

    pub fn offer(&self, id: i64) -> Option<&Offer> {
        self.offers.get(&id).map(|offer| &**offer)
    }

    pub fn advertiser(&self, id: i64) -> Option<&Advertiser> {
        self.advertisers.get(&id)
    }

    pub fn partner(&self, id: i64) -> Option<&Partner> {
        self.partners.get(&id)
    }

    pub fn smart_link(&self, id: i64) -> Option<&SmartLink> {
        self.smart_links.get(&id)
    }

    pub fn tracking_domain(&self, id: i64) -> Option<&TrackingDomain> {
        self.tracking_domains.get(&id)
    }

    /// The partner's approval on an offer; `None` when no row exists.
    pub fn approval(&self, offer_id: i64, partner_id: i64) -> Option<ApprovalStatus> {
        self.offer(offer_id)?.approval(partner_id)
    }

    /// What Postgres said this offer's retargeting list was when it was loaded.
    pub fn retargeting_fingerprint(&self, offer_id: i64) -> Option<source::RetargetingFingerprint> {
        self.retargeting_fingerprints.get(&offer_id).copied()
    }

    /// Traffic Targeting that applies to a partner through its tags.
    pub fn partner_targeting(&self, partner_id: i64) -> &[PartnerTargeting] {
        self.partner_targeting
            .get(&partner_id)
            .map_or(&[], Vec::as_slice)
    }

    pub fn offers(&self) -> impl Iterator<Item = &Offer> {
        self.offers.values().map(|offer| &**offer)
    }

    /// The compiled parts the offers share, for the next snapshot's build.
    pub fn shared(&self) -> &shared::Shared {
        &self.shared
    }

    /// The partner holding this API key: one hash and one map lookup, with
    /// digests compared in constant time (`SecretHash`'s `Eq`).
    pub fn partner_by_api_key(&self, key: &[u8]) -> Option<&Partner> {
        self.partners_by_key
            .get(&SecretHash::of(key))
            .and_then(|id| self.partners.get(id))
    }

    pub fn partners(&self) -> impl Iterator<Item = &Partner> {
        self.partners.values()
    }

    pub fn smart_links(&self) -> impl Iterator<Item = &SmartLink> {
        self.smart_links.values()
    }

    pub fn counts(&self) -> CatalogCounts {
        CatalogCounts {
            advertisers: self.advertisers.len(),
            partners: self.partners.len(),
            offers: self.offers.len(),
            smart_links: self.smart_links.len(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CatalogCounts {
    pub advertisers: usize,
    pub partners: usize,
    pub offers: usize,
    pub smart_links: usize,
}

/// The live snapshot, shared by every request; empty until the first load.
#[derive(Debug)]
pub struct CatalogHandle {
    current: ArcSwapOption<Catalog>,
    next_version: AtomicU64,
    /// The version of each snapshot swapped in, for whoever must act on a
    /// change (e.g. restoring the counters of a cap added while running).
    swapped: tokio::sync::watch::Sender<u64>,
}

impl Default for CatalogHandle {
    fn default() -> Self {
        CatalogHandle {
            current: ArcSwapOption::empty(),
            next_version: AtomicU64::new(0),
            swapped: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl CatalogHandle {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Notified after every swap.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.swapped.subscribe()
    }

    /// The snapshot to answer one request with; `None` before the first load.
    pub fn current(&self) -> Option<Arc<Catalog>> {
        self.current.load_full()
    }

    /// Reads the current snapshot without taking a reference count: for
    /// per-hit work off the decision path, where a shared counter's cache line
    /// bouncing between cores costs more than the read itself.
    pub fn read<T>(&self, f: impl FnOnce(Option<&Catalog>) -> T) -> T {
        let guard = self.current.load();
        f(guard.as_deref())
    }

    /// Version numbers increase with every build attempt, so logs can tell a
    /// rejected candidate from the snapshot being served.
    pub fn next_version(&self) -> u64 {
        self.next_version.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The last version handed out: it moves past the served one when a reload is
    /// attempted and rejected.
    pub fn last_version_issued(&self) -> u64 {
        self.next_version.load(Ordering::Relaxed)
    }

    pub fn swap(&self, catalog: Catalog) {
        let counts = catalog.counts();
        metrics::gauge!("switchyard_snapshot_version").set(catalog.version as f64);
        metrics::gauge!("switchyard_snapshot_loaded_timestamp_seconds")
            .set(catalog.loaded_at.timestamp() as f64);
        metrics::gauge!("switchyard_catalog_offers").set(counts.offers as f64);
        tracing::info!(
            snapshot.version = catalog.version,
            snapshot.origin = ?catalog.origin,
            catalog.offers = counts.offers,
            catalog.partners = counts.partners,
            catalog.smart_links = counts.smart_links,
            "catalog snapshot swapped in"
        );
        let version = catalog.version;
        self.current.store(Some(Arc::new(catalog)));
        self.swapped.send_replace(version);
    }
}
