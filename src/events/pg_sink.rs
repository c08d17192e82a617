//! Writing a batch to Postgres: COPY into per-connection staging tables, then
//! `INSERT .. SELECT .. ON CONFLICT DO NOTHING` on each table's idempotency key.
//!
//! COPY alone would abort the whole batch on one duplicate, and a batch retried
//! after a lost acknowledgement, or replayed from the spill file, must be
//! written exactly once.

use sqlx::PgPool;

use super::copy_text::CopyRow;
use super::record::{
    ConversionEventRecord, ConversionRecord, Event, HitKind, HitRecord, PostbackAttemptRecord,
    PostbackDeliveryRecord,
};
use super::sink::SinkError;

struct Table {
    name: &'static str,
    columns: &'static str,
    /// The column(s) a replayed row collides on.
    key: &'static str,
}

const CLICKS: Table = Table {
    name: "clicks",
    columns: "transaction_id, created_at, outcome, discard_rule, discard_detail, \
        requested_offer_id, offer_id, advertiser_id, partner_id, smart_link_id, \
        sub1, sub2, sub3, sub4, sub5, source_id, idfa, gaid, ip, user_agent, country, is_unique",
    key: "transaction_id",
};
const IMPRESSIONS: Table = Table {
    name: "impressions",
    columns: "transaction_id, created_at, outcome, discard_rule, discard_detail, \
        offer_id, advertiser_id, partner_id, sub1, sub2, sub3, sub4, sub5, source_id, ip, user_agent, country",
    key: "transaction_id",
};
const CONVERSIONS: Table = Table {
    name: "conversions",
    columns: "conversion_id, created_at, transaction_id, status, reject_reason, offer_id, \
        advertiser_id, partner_id, smart_link_id, amount, payout, revenue, order_id, \
        adv1, adv2, adv3, adv4, adv5",
    key: "conversion_id",
};
const CONVERSION_EVENTS: Table = Table {
    name: "conversion_events",
    columns: "event_id, created_at, transaction_id, adv_event_id, status, reject_reason, \
        offer_id, partner_id, smart_link_id, amount, payout, revenue",
    key: "event_id",
};
const POSTBACK_ATTEMPTS: Table = Table {
    name: "partner_postback_attempts",
    columns: "attempt_id, conversion_id, partner_id, attempt, attempted_at, url, http_status, error",
    key: "attempt_id",
};
/// Only the columns a new delivery has; state and attempts start at their defaults.
const POSTBACK_QUEUE: Table = Table {
    name: "partner_postback_queue",
    columns: "delivery_id, conversion_id, partner_id, url, created_at, next_attempt_at",
    key: "delivery_id",
};

pub(super) async fn write_postgres(pool: &PgPool, batch: &[Event]) -> Result<(), SinkError> {
    let mut clicks = String::new();
    let mut impressions = String::new();
    let mut conversions = String::new();
    let mut conversion_events = String::new();
    let mut attempts = String::new();
    let mut deliveries = String::new();
    for event in batch {
        match event {
            Event::Hit(hit) if hit.kind == HitKind::Click => encode_click(hit, &mut clicks),
            Event::Hit(hit) => encode_impression(hit, &mut impressions),
            Event::Conversion(c) => encode_conversion(c, &mut conversions),
            Event::ConversionEvent(e) => encode_conversion_event(e, &mut conversion_events),
            Event::PostbackAttempt(a) => encode_attempt(a, &mut attempts),
            Event::PostbackDelivery(d) => encode_delivery(d, &mut deliveries),
        }
    }
    let mut tx = pool.begin().await?;
    // `CREATE TEMP TABLE IF NOT EXISTS` notices on every batch otherwise.
    sqlx::query("SET LOCAL client_min_messages = warning")
        .execute(&mut *tx)
        .await?;
    for (table, data) in [
        (&CLICKS, clicks),
        (&IMPRESSIONS, impressions),
        (&CONVERSIONS, conversions),
        (&CONVERSION_EVENTS, conversion_events),
        (&POSTBACK_ATTEMPTS, attempts),
        (&POSTBACK_QUEUE, deliveries),
    ] {
        if data.is_empty() {
            continue;
        }
        let Table { name, columns, key } = table;
        // Table and column names are the constants above, never request data.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TEMP TABLE IF NOT EXISTS {name}_staging (LIKE {name} INCLUDING DEFAULTS INCLUDING IDENTITY) ON COMMIT DELETE ROWS"
        )))
        .execute(&mut *tx)
        .await?;
        let mut copy = tx
            .copy_in_raw(&format!("COPY {name}_staging ({columns}) FROM STDIN"))
            .await?;
        copy.send(data.into_bytes()).await?;
        copy.finish().await?;
        // DISTINCT ON: a batch may carry the same row twice (spilled, then replayed
        // alongside its retry), and one INSERT may not touch a key twice.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {name} ({columns}) SELECT DISTINCT ON ({key}) {columns} FROM {name}_staging ON CONFLICT ({key}) DO NOTHING"
        )))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn outcome(hit: &HitRecord) -> &'static str {
    if hit.redirected {
        "redirected"
    } else {
        "discarded"
    }
}

fn encode_click(hit: &HitRecord, out: &mut String) {
    let mut row = CopyRow::new(out);
    row.plain(Some(hit.transaction_id))
        .plain(Some(hit.created_at.to_rfc3339()))
        .text(Some(outcome(hit)))
        .text(hit.discard_rule.as_deref())
        .text(hit.discard_detail.as_deref())
        .plain(hit.requested_offer_id)
        .plain(hit.offer_id)
        .plain(hit.advertiser_id)
        .plain(hit.partner_id)
        .plain(hit.smart_link_id);
    for sub in &hit.subs {
        row.text(sub.as_deref());
    }
    row.text(hit.source_id.as_deref())
        .text(hit.idfa.as_deref())
        .text(hit.gaid.as_deref())
        .plain(Some(hit.ip))
        .text(Some(&hit.user_agent))
        .text(hit.country.as_deref())
        .plain(Some(hit.is_unique))
        .end();
}

fn encode_impression(hit: &HitRecord, out: &mut String) {
    let mut row = CopyRow::new(out);
    row.plain(Some(hit.transaction_id))
        .plain(Some(hit.created_at.to_rfc3339()))
        .text(Some(outcome(hit)))
        .text(hit.discard_rule.as_deref())
        .text(hit.discard_detail.as_deref())
        // No fail chain for impressions: a discarded one still names its offer.
        .plain(hit.offer_id.or(hit.requested_offer_id))
        .plain(hit.advertiser_id)
        .plain(hit.partner_id);
    for sub in &hit.subs {
        row.text(sub.as_deref());
    }
    row.text(hit.source_id.as_deref())
        .plain(Some(hit.ip))
        .text(Some(&hit.user_agent))
        .text(hit.country.as_deref())
        .end();
}

fn encode_conversion(c: &ConversionRecord, out: &mut String) {
    let mut row = CopyRow::new(out);
    row.text(Some(&c.conversion_id))
        .plain(Some(c.created_at.to_rfc3339()))
        .plain(Some(c.transaction_id))
        .text(Some(c.status.as_str()))
        .text(c.reject_reason.as_deref())
        .plain(c.attribution.offer_id)
        .plain(c.attribution.advertiser_id)
        .plain(c.attribution.partner_id)
        .plain(c.attribution.smart_link_id)
        .plain(c.amount)
        .plain(Some(c.payout))
        .plain(Some(c.revenue))
        .text(c.order_id.as_deref());
    for adv in &c.adv {
        row.text(adv.as_deref());
    }
    row.end();
}

fn encode_conversion_event(e: &ConversionEventRecord, out: &mut String) {
    CopyRow::new(out)
        .text(Some(&e.event_id))
        .plain(Some(e.created_at.to_rfc3339()))
        .plain(Some(e.transaction_id))
        .text(Some(&e.adv_event_id))
        .text(Some(e.status.as_str()))
        .text(e.reject_reason.as_deref())
        .plain(e.attribution.offer_id)
        .plain(e.attribution.partner_id)
        .plain(e.attribution.smart_link_id)
        .plain(e.amount)
        .plain(Some(e.payout))
        .plain(Some(e.revenue))
        .end();
}

fn encode_attempt(a: &PostbackAttemptRecord, out: &mut String) {
    CopyRow::new(out)
        .text(Some(&a.attempt_id))
        .text(Some(&a.conversion_id))
        .plain(Some(a.partner_id))
        .plain(Some(a.attempt))
        .plain(Some(a.attempted_at.to_rfc3339()))
        .text(Some(&a.url))
        .plain(a.http_status)
        .text(a.error.as_deref())
        .end();
}

fn encode_delivery(d: &PostbackDeliveryRecord, out: &mut String) {
    let created_at = d.created_at.to_rfc3339();
    CopyRow::new(out)
        .text(Some(&d.delivery_id))
        .text(Some(&d.conversion_id))
        .plain(Some(d.partner_id))
        .text(Some(&d.url))
        .plain(Some(&created_at))
        // Due at once: a replayed spill is late already.
        .plain(Some(&created_at))
        .end();
}
