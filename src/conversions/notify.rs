//! The partner postback an approved conversion or event triggers.

use crate::catalog::Catalog;
use crate::events::new_event_id;
use crate::postbacks::{self, PostbackJob, PostbackValues};

use super::click_index::ClickFacts;
use super::params::PostbackParams;
use super::verdict::Recorded;

/// The call to make, or `None` when the partner has no postback URL (or an
/// invalid one, which the catalog should have refused).
pub(super) fn partner_job(
    catalog: &Catalog,
    click: &ClickFacts,
    recorded: &Recorded,
    params: &PostbackParams,
) -> Option<PostbackJob> {
    let template = catalog
        .partner(click.partner_id)
        .and_then(|p| p.postback_url.as_deref())?;
    let delivery_id = new_event_id();
    let values = PostbackValues {
        transaction_id: click.transaction_id,
        offer_id: click.offer_id,
        partner_id: click.partner_id,
        advertiser_id: click.advertiser_id,
        smart_link_id: click.smart_link_id,
        subs: &click.subs,
        source_id: click.source_id.as_deref(),
        conversion_id: &recorded.conversion_id,
        adv_event_id: params.adv_event_id.as_deref(),
        payout: recorded.payout,
        amount: params.amount,
        order_id: params.order_id.as_deref(),
        idempotency_key: &delivery_id,
    };
    let url = match postbacks::expand(template, &values) {
        Ok(url) => url,
        Err(error) => {
            tracing::warn!(partner.id = click.partner_id, %error, "partner postback URL is not a valid template");
            return None;
        }
    };
    Some(PostbackJob {
        delivery_id,
        conversion_id: recorded.conversion_id.clone(),
        partner_id: click.partner_id,
        url,
    })
}
