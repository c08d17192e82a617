//! Events (clicks, impressions, conversions, post-conversion events, partner
//! postback attempts) and how they leave the request path: a bounded channel to
//! a batch writer, which spills to a local file while the sink is down.
//!
//! **Architecture invariant:** handlers only `EventSender::send`; the writer owns
//! all I/O. A full queue slows the handler down (backpressure) rather than drop an
//! event: the event log is the system of record for what happened.

mod breaker;
mod conversion_record;
mod copy_text;
mod delivery;
mod pg_sink;
pub mod record;
mod serde_ids;
pub mod sink;
mod sink_error;
pub mod spill;
pub mod writer;

#[cfg(test)]
mod spill_tests;

pub use conversion_record::Attribution;
pub use record::{
    ConversionEventRecord, ConversionRecord, ConversionStatus, Event, HitKind, HitRecord,
    PostbackAttemptRecord, PostbackDeliveryRecord,
};
pub use sink::Sink;
pub use spill::SpillFile;
pub use writer::{EventSender, QueueDepth, WriterSettings, spawn_writer};

/// Events encoded or decoded between two yields to the runtime (a few tenths
/// of a millisecond of work). The writer's loops over a batch of thousands run
/// on a runtime thread that also serves redirects; in one go, encoding a batch
/// for COPY, spilling it or decoding a spilled chunk held that thread for 5-12
/// ms, and every request on it waited that long.
pub(crate) const EVENTS_PER_SLICE: usize = 256;

/// Lets the runtime serve other tasks after every `EVENTS_PER_SLICE` events.
async fn yield_every_slice(done: usize) {
    if done.is_multiple_of(EVENTS_PER_SLICE) {
        tokio::task::yield_now().await;
    }
}

/// A new 128-bit id as 32 lowercase hex characters: the idempotency key of a
/// conversion, event or postback attempt, drawn before it is queued. Time
/// ordered like a transaction id, so that a day's keys append at the right
/// edge of their index instead of landing all over it.
pub fn new_event_id() -> String {
    crate::routing::TransactionId::new(chrono::Utc::now(), &mut rand::rng()).to_string()
}
