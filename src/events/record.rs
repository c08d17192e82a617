//! What is recorded per hit.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::checks::CheckVerdict;
use crate::routing::{Decision, Outcome, TransactionId};
use crate::visit::Visit;

pub use crate::hit_kind::HitKind;

pub use super::conversion_record::{
    ConversionEventRecord, ConversionRecord, ConversionStatus, PostbackAttemptRecord,
    PostbackDeliveryRecord,
};

/// One row of `clicks` or `impressions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitRecord {
    pub kind: HitKind,
    #[serde(with = "super::serde_ids::transaction_id")]
    pub transaction_id: TransactionId,
    pub created_at: DateTime<Utc>,
    pub redirected: bool,
    /// Borrowed from the rule table on the hot path, owned when read back from
    /// the spill file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discard_rule: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discard_detail: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_offer_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertiser_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart_link_id: Option<i64>,
    pub subs: [Option<String>; 5],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idfa: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gaid: Option<String>,
    pub ip: IpAddr,
    #[serde(with = "super::serde_ids::shared_str")]
    pub user_agent: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub is_unique: bool,
    /// The third-party checks' verdicts (`clicks.checks`); empty: NULL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckVerdict>,
}

impl HitRecord {
    /// The record of a decided hit. Takes the visit by value: its strings move into
    /// the record instead of being copied.
    pub fn from_decision(
        kind: HitKind,
        decision: &Decision,
        visit: Visit,
        now: DateTime<Utc>,
    ) -> Self {
        let (redirected, rule, detail, offer_id, advertiser_id, unique) = match &decision.outcome {
            Outcome::Redirect {
                offer_id,
                advertiser_id,
                unique,
                ..
            } => (
                true,
                None,
                None,
                Some(*offer_id),
                Some(*advertiser_id),
                *unique,
            ),
            Outcome::Discard {
                rule,
                detail,
                offer_id,
                advertiser_id,
            } => (
                false,
                Some(rule.as_str()),
                *detail,
                *offer_id,
                *advertiser_id,
                true,
            ),
        };
        let params = visit.params;
        Self {
            kind,
            transaction_id: decision.transaction_id,
            created_at: now,
            redirected,
            discard_rule: rule.map(Cow::Borrowed),
            discard_detail: detail.map(|d| Cow::Borrowed(d.as_str())),
            requested_offer_id: decision.requested_offer_id,
            offer_id: if redirected { offer_id } else { None },
            advertiser_id,
            partner_id: params.partner_id,
            smart_link_id: decision.smart_link_id,
            subs: params.subs,
            source_id: params.source_id,
            idfa: params.idfa,
            gaid: params.gaid,
            ip: visit.ip,
            user_agent: visit.user_agent,
            country: visit.geo.country,
            is_unique: unique,
            // Empty (and free to clone) unless a check ran.
            checks: decision.checks.clone(),
        }
    }
}

/// Everything the writer stores. Serialized as JSON lines in the event file and
/// the spill file, so variants and fields may be added but never renamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Hit(HitRecord),
    Conversion(ConversionRecord),
    ConversionEvent(ConversionEventRecord),
    PostbackAttempt(PostbackAttemptRecord),
    PostbackDelivery(PostbackDeliveryRecord),
}

impl Event {
    /// When it happened: the writer reports the age of the oldest unwritten one.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Event::Hit(hit) => hit.created_at,
            Event::Conversion(c) => c.created_at,
            Event::ConversionEvent(e) => e.created_at,
            Event::PostbackAttempt(a) => a.attempted_at,
            Event::PostbackDelivery(d) => d.created_at,
        }
    }

    /// Its own id: the row's idempotency key.
    pub fn key(&self) -> String {
        match self {
            Event::Hit(hit) => hit.transaction_id.to_string(),
            Event::Conversion(c) => c.conversion_id.clone(),
            Event::ConversionEvent(e) => e.event_id.clone(),
            Event::PostbackAttempt(a) => a.attempt_id.clone(),
            Event::PostbackDelivery(d) => d.delivery_id.clone(),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Event::Hit(hit) if hit.kind == HitKind::Click => "click",
            Event::Hit(_) => "impression",
            Event::Conversion(_) => "conversion",
            Event::ConversionEvent(_) => "conversion_event",
            Event::PostbackAttempt(_) => "postback_attempt",
            Event::PostbackDelivery(_) => "postback_delivery",
        }
    }
}
