//! The conversion, payout and revenue caps a conversion spends.

use chrono::{DateTime, Utc};

use crate::catalog::Offer;
use crate::catalog::money::Micros;
use crate::counters::{CapMetric, CounterKey, CounterStore, Reservation};

/// What a conversion takes from the offer's caps that apply to its partner.
pub struct CapSpend {
    reservations: Vec<Reservation>,
    /// Soft caps' keys and limits: over them the conversion stands but the
    /// partner is not notified.
    soft: Vec<(CounterKey, i64)>,
}

impl CapSpend {
    pub fn for_conversion(
        offer: &Offer,
        partner_id: i64,
        payout: Micros,
        revenue: Micros,
        now: DateTime<Utc>,
    ) -> Self {
        let mut spend = Self {
            reservations: Vec::new(),
            soft: Vec::new(),
        };
        for cap in &offer.caps {
            if cap.partner_id.is_some_and(|p| p != partner_id) {
                continue;
            }
            // Counts are whole units, money micro-units, as the click path keeps them.
            let (amount, limit) = match cap.metric {
                CapMetric::Conversions => (1, cap.limit.0 / 1_000_000),
                CapMetric::Payout => (payout.0, cap.limit.0),
                CapMetric::Revenue => (revenue.0, cap.limit.0),
                CapMetric::Clicks | CapMetric::Impressions => continue,
            };
            let (key, expires_at) = offer.cap_key(cap, now);
            if !cap.hard {
                spend.soft.push((key.clone(), limit));
            }
            spend.reservations.push(Reservation::Cap {
                key,
                amount,
                limit: cap.hard.then_some(limit),
                expires_at,
            });
        }
        spend
    }

    /// Takes everything, all or nothing; `false` when a hard cap is full.
    pub async fn reserve(&self, counters: &CounterStore, now: DateTime<Utc>) -> bool {
        self.reservations.is_empty() || counters.reserve(&self.reservations, now).await.is_ok()
    }

    /// After `reserve`: whether a soft cap is now exceeded.
    pub async fn over_soft_cap(&self, counters: &CounterStore, now: DateTime<Utc>) -> bool {
        for (key, limit) in &self.soft {
            if counters.current(key, now).await > *limit {
                return true;
            }
        }
        false
    }
}
