//! The request path's end of partner postbacks: hands a job over without I/O.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{Notify, mpsc};

use crate::events::{Event, EventSender, PostbackDeliveryRecord};

/// One partner notification to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostbackJob {
    /// Drawn once per delivery; the partner's idempotency key
    /// (`{idempotency_key}`), the same on every attempt.
    pub delivery_id: String,
    pub conversion_id: String,
    pub partner_id: i64,
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct PostbackQueue(Inner);

#[derive(Debug, Clone)]
enum Inner {
    /// Without Postgres: a bounded channel to the in-memory dispatcher.
    Memory(mpsc::Sender<PostbackJob>),
    /// With Postgres: the job becomes a `partner_postback_queue` row through the
    /// event writer, and this instance's dispatcher is nudged to look soon.
    Durable {
        events: EventSender,
        nudge: Arc<Notify>,
    },
}

impl PostbackQueue {
    pub(super) fn memory(tx: mpsc::Sender<PostbackJob>) -> Self {
        Self(Inner::Memory(tx))
    }

    pub(super) fn durable(events: EventSender, nudge: Arc<Notify>) -> Self {
        Self(Inner::Durable { events, nudge })
    }

    /// Never does I/O. The in-memory queue never waits either: when full it
    /// hands the job back so the caller can record it. The durable queue waits
    /// only when the event channel is full, like every event.
    pub async fn enqueue(&self, job: PostbackJob) -> Result<(), PostbackJob> {
        match &self.0 {
            Inner::Memory(tx) => tx.try_send(job).map_err(|e| {
                metrics::counter!("switchyard_partner_postbacks_dropped_total").increment(1);
                match e {
                    mpsc::error::TrySendError::Full(job)
                    | mpsc::error::TrySendError::Closed(job) => job,
                }
            }),
            Inner::Durable { events, nudge } => {
                events
                    .send(Event::PostbackDelivery(PostbackDeliveryRecord {
                        delivery_id: job.delivery_id,
                        conversion_id: job.conversion_id,
                        partner_id: job.partner_id,
                        url: job.url,
                        created_at: Utc::now(),
                    }))
                    .await;
                nudge.notify_one();
                Ok(())
            }
        }
    }
}
