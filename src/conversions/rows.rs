//! The row a judged postback becomes: a conversion, or a post-conversion event.

use chrono::{DateTime, Utc};

use crate::events::{ConversionEventRecord, ConversionRecord, Event};

use super::params::PostbackParams;
use super::verdict::{Judged, Recorded};

pub(super) fn event_of(
    recorded: &Recorded,
    params: &PostbackParams,
    judged: &Judged,
    now: DateTime<Utc>,
) -> Event {
    let reject_reason = recorded.reason.map(|r| r.as_str().to_owned());
    match &params.adv_event_id {
        Some(adv_event_id) => Event::ConversionEvent(ConversionEventRecord {
            event_id: recorded.conversion_id.clone(),
            created_at: now,
            transaction_id: params.transaction_id,
            adv_event_id: adv_event_id.clone(),
            status: recorded.status,
            reject_reason,
            attribution: judged.attribution.clone(),
            amount: params.amount,
            payout: judged.payout,
            revenue: judged.revenue,
        }),
        None => Event::Conversion(ConversionRecord {
            conversion_id: recorded.conversion_id.clone(),
            created_at: now,
            transaction_id: params.transaction_id,
            status: recorded.status,
            reject_reason,
            attribution: judged.attribution.clone(),
            amount: params.amount,
            payout: judged.payout,
            revenue: judged.revenue,
            order_id: params.order_id.clone(),
            adv: params.adv.clone(),
        }),
    }
}
