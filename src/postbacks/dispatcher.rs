//! The in-memory dispatcher, used without Postgres (catalog-file and demo mode):
//! a bounded queue, one delivery task per conversion retrying with exponential
//! backoff, and a limit on concurrent HTTP calls. Retries not yet due at
//! shutdown are abandoned; with Postgres, `durable` keeps them instead.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::events::EventSender;

use super::attempt::record_attempt;
use super::client::{HttpClient, call};
use super::queue::PostbackJob;
use super::settings::PostbackSettings;

pub(super) async fn dispatch(
    mut rx: mpsc::Receiver<PostbackJob>,
    client: HttpClient,
    settings: PostbackSettings,
    events: EventSender,
    mut shutdown: watch::Receiver<bool>,
) {
    let calls = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut deliveries = JoinSet::new();
    loop {
        let room = deliveries.len() < settings.max_in_flight;
        tokio::select! {
            job = rx.recv(), if room => match job {
                Some(job) => {
                    let delivery = Delivery {
                        client: client.clone(),
                        settings,
                        events: events.clone(),
                        calls: calls.clone(),
                    };
                    deliveries.spawn(delivery.run(job));
                }
                None => break,
            },
            Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
            _ = shutdown.wait_for(|stopping| *stopping) => break,
        }
    }
    if !deliveries.is_empty() {
        tracing::warn!(
            deliveries = deliveries.len(),
            "stopping with partner postbacks not yet delivered"
        );
    }
    deliveries.shutdown().await;
}

struct Delivery {
    client: HttpClient,
    settings: PostbackSettings,
    events: EventSender,
    calls: Arc<Semaphore>,
}

impl Delivery {
    async fn run(self, job: PostbackJob) {
        let attempts = self.settings.max_attempts.max(1);
        for attempt in 1..=attempts {
            let outcome = {
                let Ok(_permit) = self.calls.acquire().await else {
                    return;
                };
                call(&self.client, &job.url, self.settings.timeout).await
            };
            record_attempt(&self.events, &job, attempt, &outcome).await;
            if outcome.delivered() || !outcome.retry {
                return;
            }
            if attempt < attempts {
                tokio::time::sleep(self.settings.retry_delay(attempt)).await;
            }
        }
        tracing::warn!(conversion.id = %job.conversion_id, partner.id = job.partner_id, attempts, "partner postback failed on every attempt");
    }
}
