//! Partner postbacks: telling a partner that a conversion it sent was approved,
//! by calling its `postback_url` with the conversion's macros.
//!
//! With Postgres, deliveries are rows of `partner_postback_queue` (queued through
//! the event writer, claimed by any instance's `durable` dispatcher), so pending
//! retries survive restarts. Without it, `dispatcher` holds them in memory.
//!
//! **Architecture invariant:** nothing here runs on the request path; the
//! postback handler only `PostbackQueue::enqueue`s, which does no I/O.

mod attempt;
pub(crate) mod client;
mod dispatcher;
mod durable;
pub mod macros;
mod queue;
mod settings;
mod store;

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::events::EventSender;

pub use macros::{PostbackValues, expand};
pub use queue::{PostbackJob, PostbackQueue};
pub use settings::PostbackSettings;

#[derive(Debug, thiserror::Error)]
pub enum PostbackError {
    #[error("TLS settings: {0}")]
    Tls(#[from] rustls::Error),
}

/// Starts the dispatcher: Postgres-backed when there is a pool, in memory
/// otherwise. It stops at shutdown; see docs/CONVERSIONS.md for what happens to
/// deliveries not finished by then.
pub fn spawn_dispatcher(
    settings: PostbackSettings,
    events: EventSender,
    pool: Option<PgPool>,
    shutdown: watch::Receiver<bool>,
) -> Result<(PostbackQueue, JoinHandle<()>), PostbackError> {
    let client = client::http_client()?;
    match pool {
        None => {
            let (tx, rx) = mpsc::channel(settings.queue_capacity.max(1));
            let task = tokio::spawn(dispatcher::dispatch(rx, client, settings, events, shutdown));
            Ok((PostbackQueue::memory(tx), task))
        }
        Some(pool) => {
            let nudge = Arc::new(Notify::new());
            let dispatcher = durable::DurableDispatcher {
                store: store::QueueStore::new(pool),
                client,
                settings,
                events: events.clone(),
                nudge: nudge.clone(),
            };
            let task = tokio::spawn(dispatcher.run(shutdown));
            Ok((PostbackQueue::durable(events, nudge), task))
        }
    }
}
