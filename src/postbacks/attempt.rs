//! Recording one attempt: a metric and a `partner_postback_attempts` row
//! through the event writer.

use chrono::Utc;

use crate::events::{Event, EventSender, PostbackAttemptRecord, new_event_id};

use super::client::CallOutcome;
use super::queue::PostbackJob;

pub(super) async fn record_attempt(
    events: &EventSender,
    job: &PostbackJob,
    attempt: u32,
    outcome: &CallOutcome,
) {
    metrics::counter!("switchyard_partner_postbacks_total", "outcome" => outcome.label())
        .increment(1);
    events
        .send(Event::PostbackAttempt(PostbackAttemptRecord {
            attempt_id: new_event_id(),
            conversion_id: job.conversion_id.clone(),
            partner_id: job.partner_id,
            attempt,
            attempted_at: Utc::now(),
            url: job.url.clone(),
            http_status: outcome.http_status,
            error: outcome.error.clone(),
        }))
        .await;
}
