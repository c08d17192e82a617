//! Loads the whole catalog from Postgres in one consistent read.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::Catalog;
use super::money::Micros;
use super::source::*;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("database error while loading the catalog: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{table} row {row}: column {column} holds `{value}`, not a money amount")]
    Money {
        table: &'static str,
        row: i64,
        column: &'static str,
        value: String,
    },
}

/// Reads every catalog table inside one REPEATABLE READ transaction, so the
/// snapshot never mixes states from before and after a concurrent admin edit.
/// With a `previous` snapshot, retargeting lists whose fingerprint is unchanged
/// are reused instead of re-read (they run to millions of rows).
pub async fn load(pool: &PgPool, previous: Option<&Catalog>) -> Result<CatalogSource, LoadError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;

    let advertisers =
        sqlx::query_as::<_, AdvertiserRow>("SELECT id, name, status FROM advertisers")
            .fetch_all(&mut *tx)
            .await?;
    let partners = sqlx::query_as::<_, PartnerRow>(
        "SELECT id, name, status, tags, api_key_sha256, postback_url FROM partners",
    )
    .fetch_all(&mut *tx)
    .await?;
    let advertiser_blocked_partners = sqlx::query_as::<_, BlockedPartnerRow>(
        "SELECT advertiser_id, partner_id FROM advertiser_blocked_partners",
    )
    .fetch_all(&mut *tx)
    .await?;
    let offer_rows = sqlx::query(
        "SELECT id, advertiser_id, name, status, offer_url, requires_approval,
                payout_model, payout::text AS payout, revenue_model, revenue::text AS revenue,
                currency::text AS currency, timezone, fail_offer_id, duplicate_filter,
                duplicate_window_seconds, duplicate_action, deep_link_enabled, deep_link_hosts,
                conversion_window_seconds, allow_duplicate_conversions, verification_token_sha256, targeting
         FROM offers",
    )
    .fetch_all(&mut *tx)
    .await?;
    let offers = offer_rows
        .iter()
        .map(offer_row)
        .collect::<Result<Vec<_>, _>>()?;
    let offer_urls =
        sqlx::query_as::<_, OfferUrlRow>("SELECT id, offer_id, name, url, status FROM offer_urls")
            .fetch_all(&mut *tx)
            .await?;
    let offer_approvals = sqlx::query_as::<_, ApprovalRow>(
        "SELECT offer_id, partner_id, status FROM offer_approvals",
    )
    .fetch_all(&mut *tx)
    .await?;
    let cap_rows = sqlx::query(
        "SELECT id, offer_id, partner_id, metric, period, cap_limit::text AS cap_limit, hard FROM offer_caps",
    )
    .fetch_all(&mut *tx)
    .await?;
    let offer_caps = cap_rows
        .iter()
        .map(cap_row)
        .collect::<Result<Vec<_>, _>>()?;
    let offer_blacklisted_subs = sqlx::query_as::<_, BlacklistedSubRow>(
        "SELECT offer_id, param, value FROM offer_blacklisted_subs",
    )
    .fetch_all(&mut *tx)
    .await?;
    let (offer_retargeting_ids, retargeting_reuse) = retargeting(&mut tx, previous).await?;
    let tracking_domains =
        sqlx::query_as::<_, TrackingDomainRow>("SELECT id, hostname, status FROM tracking_domains")
            .fetch_all(&mut *tx)
            .await?;
    let smart_links = sqlx::query_as::<_, SmartLinkRow>(
        "SELECT id, name, status, tracking_domain_id, mechanism, partner_visible, kpi_metric,
                kpi_min_clicks, kpi_lookback_hours, kpi_goal::float8 AS kpi_goal,
                kpi_frequency_hours, kpi_strategy, optimization_reset_at
         FROM smart_links",
    )
    .fetch_all(&mut *tx)
    .await?;
    let smart_link_offers = sqlx::query_as::<_, SmartLinkOfferRow>(
        "SELECT smart_link_id, offer_id, offer_url_id, priority, weight, is_catch_all, targeting
         FROM smart_link_offers",
    )
    .fetch_all(&mut *tx)
    .await?;
    // Only the latest run counts, and only if the link was not reset after it:
    // a reset throws away what the optimizer learned.
    let smart_link_kpi_runs = sqlx::query_as::<_, SmartLinkKpiRunRow>(
        "SELECT DISTINCT ON (r.smart_link_id)
                r.smart_link_id, r.ran_at, r.strategy, r.threshold_met, r.ranking, r.shares
         FROM smart_link_kpi_runs r
         JOIN smart_links l ON l.id = r.smart_link_id
         WHERE r.ran_at >= l.optimization_reset_at
         ORDER BY r.smart_link_id, r.ran_at DESC, r.id DESC",
    )
    .fetch_all(&mut *tx)
    .await?;
    // An offer's latest scan counts only while the offer keeps the URL it
    // scanned: an edited URL is unscanned (and passes) until its rescan.
    let offer_url_scans = sqlx::query_as::<_, OfferScanRow>(
        // One index probe an offer, however many scans the table keeps.
        "SELECT o.id AS offer_id, s.result, s.reached_tracker, s.error
         FROM offers o
         CROSS JOIN LATERAL (
             SELECT offer_url, result, reached_tracker, error FROM offer_url_scans
             WHERE offer_id = o.id ORDER BY scanned_at DESC, id DESC LIMIT 1
         ) s
         WHERE s.offer_url = o.offer_url",
    )
    .fetch_all(&mut *tx)
    .await?;
    let optimization_rules = sqlx::query_as::<_, RuleRow>(
        "SELECT kind, scope, advertiser_id, offer_id, partner_id, active, params FROM optimization_rules ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let traffic_control = sqlx::query_as::<_, TrafficControlRow>(
        "SELECT scope, advertiser_id, offer_id, partner_id, list, field, pattern FROM traffic_control ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let traffic_targeting = sqlx::query_as::<_, TrafficTargetingRow>(
        "SELECT partner_tag, offer_id, targeting, active FROM traffic_targeting ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    Ok(CatalogSource {
        advertisers,
        partners,
        advertiser_blocked_partners,
        offers,
        offer_urls,
        offer_approvals,
        offer_caps,
        offer_blacklisted_subs,
        offer_retargeting_ids,
        tracking_domains,
        smart_links,
        smart_link_offers,
        smart_link_kpi_runs,
        offer_url_scans,
        optimization_rules,
        traffic_control,
        traffic_targeting,
        retargeting_reuse,
        shared: Default::default(),
    })
}

/// The retargeting rows to build from, and the lists to carry over.
async fn retargeting(
    tx: &mut sqlx::PgConnection,
    previous: Option<&Catalog>,
) -> Result<(Vec<RetargetingIdRow>, RetargetingReuse), LoadError> {
    let fingerprints: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT offer_id, count(*)::bigint, coalesce(sum(hashtext(device_id)), 0)::bigint
         FROM offer_retargeting_ids GROUP BY offer_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut reuse = RetargetingReuse::default();
    let mut changed = Vec::new();
    for (offer_id, count, hash_sum) in fingerprints {
        let fingerprint = RetargetingFingerprint { count, hash_sum };
        reuse.fingerprints.insert(offer_id, fingerprint);
        let unchanged = previous.and_then(|p| {
            let list = p.offer(offer_id)?.retargeting_ids.clone()?;
            (p.retargeting_fingerprint(offer_id) == Some(fingerprint)).then_some(list)
        });
        match unchanged {
            Some(list) => {
                reuse.reused.insert(offer_id, list);
            }
            None => changed.push(offer_id),
        }
    }
    if changed.is_empty() {
        return Ok((Vec::new(), reuse));
    }
    let rows = sqlx::query_as::<_, RetargetingIdRow>(
        "SELECT offer_id, device_id FROM offer_retargeting_ids WHERE offer_id = ANY($1)",
    )
    .bind(&changed)
    .fetch_all(&mut *tx)
    .await?;
    Ok((rows, reuse))
}

fn money(
    row: &PgRow,
    table: &'static str,
    id: i64,
    column: &'static str,
) -> Result<Micros, LoadError> {
    let text: String = row.try_get(column)?;
    Micros::parse(&text).map_err(|_| LoadError::Money {
        table,
        row: id,
        column,
        value: text,
    })
}

fn offer_row(row: &PgRow) -> Result<OfferRow, LoadError> {
    let id: i64 = row.try_get("id")?;
    Ok(OfferRow {
        id,
        advertiser_id: row.try_get("advertiser_id")?,
        name: row.try_get("name")?,
        status: row.try_get("status")?,
        offer_url: row.try_get("offer_url")?,
        requires_approval: row.try_get("requires_approval")?,
        payout_model: row.try_get("payout_model")?,
        payout: money(row, "offers", id, "payout")?,
        revenue_model: row.try_get("revenue_model")?,
        revenue: money(row, "offers", id, "revenue")?,
        currency: row.try_get("currency")?,
        timezone: row.try_get("timezone")?,
        fail_offer_id: row.try_get("fail_offer_id")?,
        duplicate_filter: row.try_get("duplicate_filter")?,
        duplicate_window_seconds: row.try_get("duplicate_window_seconds")?,
        duplicate_action: row.try_get("duplicate_action")?,
        deep_link_enabled: row.try_get("deep_link_enabled")?,
        deep_link_hosts: row.try_get("deep_link_hosts")?,
        conversion_window_seconds: row.try_get("conversion_window_seconds")?,
        allow_duplicate_conversions: row.try_get("allow_duplicate_conversions")?,
        verification_token_sha256: row.try_get("verification_token_sha256")?,
        targeting: row.try_get("targeting")?,
    })
}

fn cap_row(row: &PgRow) -> Result<CapRow, LoadError> {
    let id: i64 = row.try_get("id")?;
    Ok(CapRow {
        offer_id: row.try_get("offer_id")?,
        partner_id: row.try_get("partner_id")?,
        metric: row.try_get("metric")?,
        period: row.try_get("period")?,
        cap_limit: money(row, "offer_caps", id, "cap_limit")?,
        hard: row.try_get("hard")?,
    })
}
