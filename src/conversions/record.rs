//! Judging one postback and recording it: attribution, checks in a fixed order
//! (offer status, token, window, duplicates, caps), pricing, the event row and
//! the partner postback.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::catalog::money::Micros;
use crate::catalog::{Catalog, CatalogHandle, ClickTexts, Offer, Status};
use crate::counters::CounterStore;
use crate::events::{
    Attribution, ConversionRecord, ConversionStatus, Event, EventSender, HitRecord,
    PostbackAttemptRecord, new_event_id,
};
use crate::postbacks::PostbackQueue;

use super::caps::CapSpend;
use super::click_index::{ClickFacts, ClickIndex, NewClick};
use super::duplicates;
use super::lookup::ClickLookup;
use super::notify;
use super::params::PostbackParams;
use super::pricing::price;
use super::recent::{ClaimKey, RecentConversions};
use super::rows;
use super::verdict::{ConversionError, Judged, RecordKind, Recorded, RejectReason};

#[derive(Debug, Clone, Copy)]
pub struct ConversionSettings {
    /// Recent clicks kept in memory for attribution.
    pub click_index_entries: usize,
    pub click_index_max_age: Duration,
    /// Bound on each Postgres lookup a postback makes.
    pub lookup_timeout: Duration,
}

impl Default for ConversionSettings {
    fn default() -> Self {
        Self {
            click_index_entries: 2_000_000,
            click_index_max_age: Duration::from_secs(24 * 3600),
            lookup_timeout: Duration::from_millis(500),
        }
    }
}

#[derive(Debug)]
pub struct Conversions {
    catalog: Arc<CatalogHandle>,
    counters: Arc<CounterStore>,
    clicks: ClickIndex,
    recent: RecentConversions,
    /// `None` without Postgres (catalog-file mode): memory is all there is.
    lookup: Option<ClickLookup>,
    events: EventSender,
    postbacks: PostbackQueue,
}

impl Conversions {
    pub fn new(
        settings: ConversionSettings,
        catalog: Arc<CatalogHandle>,
        counters: Arc<CounterStore>,
        pool: Option<sqlx::PgPool>,
        events: EventSender,
        postbacks: PostbackQueue,
    ) -> Self {
        Self {
            catalog,
            counters,
            clicks: ClickIndex::new(settings.click_index_entries, settings.click_index_max_age),
            // As many and as long as the click index: see `recent`.
            recent: RecentConversions::new(
                settings.click_index_entries,
                settings.click_index_max_age,
            ),
            lookup: pool.map(|pool| ClickLookup::new(pool, settings.lookup_timeout)),
            events,
            postbacks,
        }
    }

    /// Called for every recorded hit; keeps the redirected clicks.
    pub fn remember_hit(&self, hit: &HitRecord, now: DateTime<Utc>) {
        let Some(click) = NewClick::from_hit(hit) else {
            return;
        };
        // Before the first snapshot (a spill replayed at start) the partner's
        // postback URL is unknown: keep every text.
        let keep = self.catalog.read(|catalog| {
            catalog
                .and_then(|c| c.partner(click.partner_id))
                .map_or(ClickTexts::ALL, |p| p.postback_texts)
        });
        self.clicks.remember(&click, keep, now);
    }

    /// For a conversion read back from a previous run's spill file.
    pub fn remember_conversion(&self, conversion: &ConversionRecord, now: DateTime<Utc>) {
        if conversion.status != ConversionStatus::Approved {
            return;
        }
        self.recent
            .claim(ClaimKey::Click(conversion.transaction_id), now);
        if let (Some(offer_id), Some(order_id)) =
            (conversion.attribution.offer_id, &conversion.order_id)
        {
            self.recent.claim(
                ClaimKey::Order {
                    offer_id,
                    order_id: order_id.clone(),
                },
                now,
            );
        }
    }

    pub fn clicks_in_memory(&self) -> usize {
        self.clicks.len()
    }

    /// Judges and records one postback (or pixel); the answer says what was
    /// recorded. Errors mean nothing was recorded and the caller should retry.
    pub async fn record(
        &self,
        params: PostbackParams,
        now: DateTime<Utc>,
    ) -> Result<Recorded, ConversionError> {
        let catalog = self.catalog.current().ok_or(ConversionError::NotReady)?;
        let click = self.find_click(&params, now).await?;
        let judged = match &click {
            None => Judged::rejected(RejectReason::UnknownClick, Attribution::default()),
            Some(click) => match catalog.offer(click.offer_id) {
                None => Judged::rejected(RejectReason::InactiveOffer, click.attribution()),
                Some(offer) => self.judge(offer, click, &params, now).await?,
            },
        };
        let id = new_event_id();
        let recorded = Recorded {
            status: match judged.status {
                Ok(()) => ConversionStatus::Approved,
                Err(_) => ConversionStatus::Rejected,
            },
            reason: judged.status.err(),
            conversion_id: id.clone(),
            kind: if params.adv_event_id.is_some() {
                RecordKind::Event
            } else {
                RecordKind::Conversion
            },
            transaction_id: params.transaction_id,
            offer_id: judged.attribution.offer_id,
            payout: judged.payout,
            revenue: judged.revenue,
        };
        metrics::counter!(
            "switchyard_conversions_total",
            "kind" => match recorded.kind { RecordKind::Conversion => "conversion", RecordKind::Event => "event" },
            "status" => recorded.status.as_str(),
            "reason" => recorded.reason.map_or("", RejectReason::as_str)
        )
        .increment(1);
        self.events
            .send(rows::event_of(&recorded, &params, &judged, now))
            .await;
        if judged.notify
            && let Some(click) = &click
        {
            let click = self.with_postback_texts(&catalog, click).await;
            self.notify_partner(&catalog, &click, &recorded, &params)
                .await;
        }
        Ok(recorded)
    }

    async fn find_click(
        &self,
        params: &PostbackParams,
        now: DateTime<Utc>,
    ) -> Result<Option<ClickFacts>, ConversionError> {
        if let Some(click) = self.clicks.get(params.transaction_id, now) {
            return Ok(Some(click));
        }
        let Some(lookup) = &self.lookup else {
            return Ok(None);
        };
        lookup.click(params.transaction_id).await.map_err(|error| {
            tracing::warn!(%error, transaction_id = %params.transaction_id, "click lookup failed; postback deferred");
            ConversionError::AttributionUnavailable
        })
    }

    async fn judge(
        &self,
        offer: &Offer,
        click: &ClickFacts,
        params: &PostbackParams,
        now: DateTime<Utc>,
    ) -> Result<Judged, ConversionError> {
        let attribution = click.attribution();
        let reject = |reason| Ok(Judged::rejected(reason, attribution.clone()));
        if offer.status != Status::Active {
            return reject(RejectReason::InactiveOffer);
        }
        // The catalog holds the token's SHA-256: the given token is hashed and
        // the digests compared in constant time.
        if let Some(expected) = &offer.verification_token_sha256
            && !params
                .verification_token
                .as_deref()
                .is_some_and(|given| expected.matches(given.as_bytes()))
        {
            return reject(RejectReason::BadToken);
        }
        let age = (now - click.created_at).to_std().unwrap_or_default();
        if age > offer.conversion_window {
            return reject(RejectReason::OutsideWindow);
        }
        if params.adv_event_id.is_some() {
            // Events have no prices or caps of their own in the catalog, and may
            // repeat (several purchases): they are counted, not priced.
            return Ok(Judged {
                status: Ok(()),
                attribution,
                payout: Micros::ZERO,
                revenue: Micros::ZERO,
                notify: true,
            });
        }
        let claims = if offer.allow_duplicate_conversions {
            Vec::new()
        } else {
            match duplicates::claim_unique(
                &self.recent,
                self.lookup.as_ref(),
                offer,
                click,
                params,
                now,
            )
            .await?
            {
                Some(claims) => claims,
                None => return reject(RejectReason::Duplicate),
            }
        };
        let payout = price(offer.payout_model, offer.payout, params.amount);
        let revenue = price(offer.revenue_model, offer.revenue, params.amount);
        let spend = CapSpend::for_conversion(offer, click.partner_id, payout, revenue, now);
        if !spend.reserve(&self.counters, now).await {
            for claim in &claims {
                self.recent.release(claim);
            }
            return reject(RejectReason::CapReached);
        }
        let over_soft_cap = spend.over_soft_cap(&self.counters, now).await;
        Ok(Judged {
            status: Ok(()),
            attribution,
            payout,
            revenue,
            notify: !over_soft_cap,
        })
    }

    /// The click with every text its partner's postback URL mentions. The index
    /// keeps only those the URL mentioned when the click came; for a URL changed
    /// since, the others are read from the click row, and expand empty only if
    /// that row cannot be read (Postgres down, or the row not written yet).
    async fn with_postback_texts<'c>(
        &self,
        catalog: &Catalog,
        click: &'c ClickFacts,
    ) -> Cow<'c, ClickFacts> {
        let wanted = catalog
            .partner(click.partner_id)
            .map_or(ClickTexts::NONE, |p| p.postback_texts);
        if click.kept.covers(wanted) {
            return Cow::Borrowed(click);
        }
        let Some(lookup) = &self.lookup else {
            return Cow::Borrowed(click);
        };
        match lookup.click(click.transaction_id).await {
            Ok(Some(row)) => Cow::Owned(ClickFacts {
                subs: row.subs,
                source_id: row.source_id,
                kept: row.kept,
                ..click.clone()
            }),
            Ok(None) | Err(_) => {
                tracing::warn!(
                    transaction_id = %click.transaction_id,
                    partner.id = click.partner_id,
                    "postback URL mentions click texts not kept in memory and the click row is unreadable; they expand empty"
                );
                Cow::Borrowed(click)
            }
        }
    }

    async fn notify_partner(
        &self,
        catalog: &Catalog,
        click: &ClickFacts,
        recorded: &Recorded,
        params: &PostbackParams,
    ) {
        let Some(job) = notify::partner_job(catalog, click, recorded, params) else {
            return;
        };
        if let Err(job) = self.postbacks.enqueue(job).await {
            // Recorded as a failed attempt so the loss shows in the attempts table.
            self.events
                .send(Event::PostbackAttempt(PostbackAttemptRecord {
                    attempt_id: new_event_id(),
                    conversion_id: job.conversion_id,
                    partner_id: job.partner_id,
                    attempt: 1,
                    attempted_at: Utc::now(),
                    url: job.url,
                    http_status: None,
                    error: Some("not sent: postback queue full or stopped".to_owned()),
                }))
                .await;
        }
    }
}
