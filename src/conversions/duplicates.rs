//! Is this conversion the first of its click (and of its order id on the
//! offer)? Memory first, claimed atomically; then Postgres.

use chrono::{DateTime, Utc};

use crate::catalog::Offer;

use super::click_index::ClickFacts;
use super::lookup::ClickLookup;
use super::params::PostbackParams;
use super::recent::{ClaimKey, RecentConversions};
use super::verdict::ConversionError;

/// Claims the click (and order id) in memory, then checks Postgres.
/// `Ok(None)`: a duplicate. Memory alone decides when Postgres is down and
/// the click was redirected by this process (every conversion of it went
/// through here); otherwise an unreachable Postgres defers the postback.
pub(super) async fn claim_unique(
    recent: &RecentConversions,
    lookup: Option<&ClickLookup>,
    offer: &Offer,
    click: &ClickFacts,
    params: &PostbackParams,
    now: DateTime<Utc>,
) -> Result<Option<Vec<ClaimKey>>, ConversionError> {
    let mut claims = vec![ClaimKey::Click(params.transaction_id)];
    if let Some(order_id) = &params.order_id {
        claims.push(ClaimKey::Order {
            offer_id: offer.id,
            order_id: order_id.clone(),
        });
    }
    for (i, claim) in claims.iter().enumerate() {
        if !recent.claim(claim.clone(), now) {
            for earlier in &claims[..i] {
                recent.release(earlier);
            }
            return Ok(None);
        }
    }
    let Some(lookup) = lookup else {
        return Ok(Some(claims));
    };
    let in_postgres = async {
        if lookup
            .click_converted(params.transaction_id, click.created_at)
            .await?
        {
            return Ok(true);
        }
        match &params.order_id {
            Some(order_id) => lookup.order_converted(offer.id, order_id).await,
            None => Ok(false),
        }
    };
    match in_postgres.await {
        // The memory claims stay: the original conversion exists.
        Ok(true) => Ok(None),
        Ok(false) => Ok(Some(claims)),
        Err(_) if click.local => Ok(Some(claims)),
        Err(error) => {
            tracing::warn!(%error, "duplicate check failed for a click not in memory; postback deferred");
            for claim in &claims {
                recent.release(claim);
            }
            Err(ConversionError::AttributionUnavailable)
        }
    }
}
