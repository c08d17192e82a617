//! Writing a batch to Postgres: COPY into per-connection staging tables, then
//! `INSERT .. SELECT .. ON CONFLICT DO NOTHING` on each table's idempotency key.
//!
//! COPY alone would abort the whole batch on one duplicate, and a batch retried
//! after a lost acknowledgement, or replayed from the spill file, must be
//! written exactly once. Clicks, conversions and conversion events are inserted
//! by one statement that also adds the rows it inserted to the hourly rollups
//! (`rollups::counted`), so they too count each row once.

use sqlx::PgPool;

use super::copy_text::CopyRow;
use super::record::{
    ConversionEventRecord, ConversionRecord, Event, HitKind, HitRecord, PostbackAttemptRecord,
    PostbackDeliveryRecord,
};
use super::sink_error::{DeadLetter, SinkError};
use super::yield_every_slice;
use crate::columns;
use crate::rollups::{self, Source};

/// Where a kind of event goes: its table in the one table of column limits,
/// whose column order the encoders below follow.
struct Target {
    table: &'static columns::Table,
    /// The column(s) a replayed row collides on.
    key: &'static str,
    /// Whether its inserted rows count in the hourly rollups.
    rollup: Option<Source>,
}

const CLICKS: Target = Target {
    table: &columns::CLICKS,
    key: "transaction_id",
    rollup: Some(Source::Clicks),
};
const IMPRESSIONS: Target = Target {
    table: &columns::IMPRESSIONS,
    key: "transaction_id",
    rollup: None,
};
const CONVERSIONS: Target = Target {
    table: &columns::CONVERSIONS,
    key: "conversion_id",
    rollup: Some(Source::Conversions),
};
const CONVERSION_EVENTS: Target = Target {
    table: &columns::CONVERSION_EVENTS,
    key: "event_id",
    rollup: Some(Source::ConversionEvents),
};
const POSTBACK_ATTEMPTS: Target = Target {
    table: &columns::POSTBACK_ATTEMPTS,
    key: "attempt_id",
    rollup: None,
};
/// Only the columns a new delivery has; state and attempts start at their defaults.
const POSTBACK_QUEUE: Target = Target {
    table: &columns::POSTBACK_QUEUE,
    key: "delivery_id",
    rollup: None,
};

pub(super) async fn write_postgres(pool: &PgPool, batch: &[Event]) -> Result<(), SinkError> {
    let mut clicks = String::new();
    let mut impressions = String::new();
    let mut conversions = String::new();
    let mut conversion_events = String::new();
    let mut attempts = String::new();
    let mut deliveries = String::new();
    for (n, event) in batch.iter().enumerate() {
        yield_every_slice(n + 1).await;
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
    let mut counted: Vec<(Source, String)> = Vec::new();
    for (target, data) in [
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
        let Target { table, key, rollup } = target;
        let name = table.name;
        let columns = column_list(table);
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
        let insert = format!(
            "INSERT INTO {name} ({columns}) SELECT DISTINCT ON ({key}) {columns} FROM {name}_staging ON CONFLICT ({key}) DO NOTHING"
        );
        match rollup {
            Some(source) => counted.push((*source, insert)),
            None => {
                sqlx::query(sqlx::AssertSqlSafe(insert))
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    let upserted = if counted.is_empty() {
        None
    } else {
        let statement = rollups::counted::statement(&counted);
        Some(
            sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(statement))
                .fetch_one(&mut *tx)
                .await?,
        )
    };
    tx.commit().await?;
    // Counted only once committed: a failed batch added nothing.
    if let Some((link_rows, partner_rows)) = upserted {
        rollups::counted::record_upserted(link_rows, partner_rows);
    }
    Ok(())
}

fn column_list(table: &columns::Table) -> String {
    let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    names.join(", ")
}

/// One statement for all of them, in their own transaction: dead letters are
/// rare, and each is inserted once however often its batch is replayed.
pub(super) async fn dead_letter_postgres(
    pool: &PgPool,
    rows: &[DeadLetter<'_>],
) -> Result<(), SinkError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(rows.len());
    let mut kinds = Vec::with_capacity(rows.len());
    let mut occurred = Vec::with_capacity(rows.len());
    let mut sqlstates = Vec::with_capacity(rows.len());
    let mut errors = Vec::with_capacity(rows.len());
    let mut payloads = Vec::with_capacity(rows.len());
    for row in rows {
        keys.push(row.event.key());
        kinds.push(row.event.kind_name());
        occurred.push(row.event.occurred_at());
        sqlstates.push(row.sqlstate.clone());
        // `text` cannot hold a NUL; an error message quoting one must still fit.
        errors.push(row.error.replace('\0', "\\0"));
        payloads.push(serde_json::to_string(row.event)?);
    }
    sqlx::query(
        "INSERT INTO dead_letter_events (event_key, kind, occurred_at, sqlstate, error, payload) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[]) \
         ON CONFLICT (event_key) DO NOTHING",
    )
    .bind(keys)
    .bind(kinds)
    .bind(occurred)
    .bind(sqlstates)
    .bind(errors)
    .bind(payloads)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn probe_postgres(pool: &PgPool) -> Result<(), SinkError> {
    sqlx::query("SELECT 1").execute(pool).await?;
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
    row.id(hit.transaction_id)
        .timestamp(hit.created_at)
        .text(Some(outcome(hit)))
        .text(hit.discard_rule.as_deref())
        .text(hit.discard_detail.as_deref())
        .number(hit.requested_offer_id)
        .number(hit.offer_id)
        .number(hit.advertiser_id)
        .number(hit.partner_id)
        .number(hit.smart_link_id);
    for sub in &hit.subs {
        row.text(sub.as_deref());
    }
    row.text(hit.source_id.as_deref())
        .text(hit.idfa.as_deref())
        .text(hit.gaid.as_deref())
        .ip(hit.ip)
        .text(Some(&hit.user_agent))
        .text(hit.country.as_deref())
        .flag(hit.is_unique)
        .checks(&hit.checks)
        .end();
}

fn encode_impression(hit: &HitRecord, out: &mut String) {
    let mut row = CopyRow::new(out);
    row.id(hit.transaction_id)
        .timestamp(hit.created_at)
        .text(Some(outcome(hit)))
        .text(hit.discard_rule.as_deref())
        .text(hit.discard_detail.as_deref())
        // No fail chain for impressions: a discarded one still names its offer.
        .number(hit.offer_id.or(hit.requested_offer_id))
        .number(hit.advertiser_id)
        .number(hit.partner_id);
    for sub in &hit.subs {
        row.text(sub.as_deref());
    }
    row.text(hit.source_id.as_deref())
        .ip(hit.ip)
        .text(Some(&hit.user_agent))
        .text(hit.country.as_deref())
        .checks(&hit.checks)
        .end();
}

fn encode_conversion(c: &ConversionRecord, out: &mut String) {
    let mut row = CopyRow::new(out);
    row.text(Some(&c.conversion_id))
        .timestamp(c.created_at)
        .id(c.transaction_id)
        .text(Some(c.status.as_str()))
        .text(c.reject_reason.as_deref())
        .number(c.attribution.offer_id)
        .number(c.attribution.advertiser_id)
        .number(c.attribution.partner_id)
        .number(c.attribution.smart_link_id)
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
        .timestamp(e.created_at)
        .id(e.transaction_id)
        .text(Some(&e.adv_event_id))
        .text(Some(e.status.as_str()))
        .text(e.reject_reason.as_deref())
        .number(e.attribution.offer_id)
        .number(e.attribution.partner_id)
        .number(e.attribution.smart_link_id)
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
        .timestamp(a.attempted_at)
        .text(Some(&a.url))
        .plain(a.http_status)
        .text(a.error.as_deref())
        .end();
}

fn encode_delivery(d: &PostbackDeliveryRecord, out: &mut String) {
    CopyRow::new(out)
        .text(Some(&d.delivery_id))
        .text(Some(&d.conversion_id))
        .plain(Some(d.partner_id))
        .text(Some(&d.url))
        .timestamp(d.created_at)
        // Due at once: a replayed spill is late already.
        .timestamp(d.created_at)
        .end();
}
