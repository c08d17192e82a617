//! The dispatcher used with Postgres: deliveries live in `partner_postback_queue`,
//! so retries survive a restart and any instance can make them.
//!
//! The loop claims due rows (as many as it has call slots free), runs one task
//! per claimed row, and looks again every poll interval, shortly after this
//! instance queued a delivery, when a retry it scheduled falls due, or at once
//! when a full claim suggests more are waiting. A failing Postgres only delays
//! deliveries: claims back off, and unreported claims fall due again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::events::EventSender;

use super::attempt::record_attempt;
use super::client::{CallOutcome, HttpClient, call};
use super::settings::PostbackSettings;
use super::store::{Claimed, GiveUpReason, QueueError, QueueStore};

/// How often the queue gauges are refreshed: they count every pending row.
const STATS_INTERVAL: Duration = Duration::from_secs(10);
/// Longest pause between claims while Postgres fails.
const MAX_OUTAGE_DELAY: Duration = Duration::from_secs(30);
/// Reporting an outcome is retried this often, this far apart, before the row is
/// left to fall due again (and be delivered a second time).
const REPORT_TRIES: u32 = 3;
const REPORT_PAUSE: Duration = Duration::from_millis(500);
/// At shutdown, how long tasks told to stop may take to hand their claims back.
const RELEASE_BOUND: Duration = Duration::from_secs(5);

pub(super) struct DurableDispatcher {
    pub store: QueueStore,
    pub client: HttpClient,
    pub settings: PostbackSettings,
    pub events: EventSender,
    pub nudge: Arc<Notify>,
}

impl DurableDispatcher {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let slots = self.settings.concurrency.max(1);
        let (stop_calls, calls_stopped) = watch::channel(false);
        let mut inflight: JoinSet<Option<Instant>> = JoinSet::new();
        let mut outage = Outage::default();
        let mut wake = Instant::now();
        let mut next_stats = Instant::now();
        let mut more_due = false;
        loop {
            let now = Instant::now();
            if now >= next_stats {
                next_stats = now + STATS_INTERVAL;
                self.publish_stats().await;
            }
            if now >= wake {
                wake = now + self.settings.poll_interval;
                let room = slots.saturating_sub(inflight.len());
                more_due = room == 0;
                if room > 0 {
                    match self.store.claim(room, self.settings.claim_timeout()).await {
                        Ok(claimed) => {
                            outage.recovered();
                            more_due = claimed.len() == room;
                            for claimed in claimed {
                                let task = self.delivery(claimed);
                                inflight.spawn(task.run(calls_stopped.clone()));
                            }
                        }
                        Err(error) => {
                            wake = now + outage.failed(&error, self.settings.poll_interval)
                        }
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(wake.min(next_stats)) => {}
                // During an outage the backoff wins over an early look.
                _ = self.nudge.notified(), if !outage.failing() => {
                    wake = wake.min(Instant::now() + self.settings.enqueue_settle);
                }
                Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                    if let Ok(Some(retry_at)) = done {
                        wake = wake.min(retry_at);
                    }
                    if more_due && !outage.failing() {
                        wake = Instant::now();
                    }
                }
                _ = shutdown.wait_for(|stopping| *stopping) => break,
            }
        }
        drain(inflight, &stop_calls, self.settings.shutdown_grace).await;
    }

    fn delivery(&self, claimed: Claimed) -> Delivery {
        Delivery {
            store: self.store.clone(),
            client: self.client.clone(),
            settings: self.settings,
            events: self.events.clone(),
            claimed,
        }
    }

    async fn publish_stats(&self) {
        match self.store.stats().await {
            Ok(stats) => {
                metrics::gauge!("switchyard_partner_postbacks_pending").set(stats.pending as f64);
                metrics::gauge!("switchyard_partner_postbacks_overdue_seconds")
                    .set(stats.overdue_seconds);
            }
            Err(_) => {
                metrics::counter!("switchyard_partner_postback_queue_errors_total").increment(1);
            }
        }
    }
}

/// Calls in flight may finish within the grace period; the rest are stopped and
/// hand their claims back, so the next start (or another instance) takes them
/// at once instead of after the claim timeout.
async fn drain(
    mut inflight: JoinSet<Option<Instant>>,
    stop_calls: &watch::Sender<bool>,
    grace: Duration,
) {
    let finished = tokio::time::timeout(grace, async {
        while inflight.join_next().await.is_some() {}
    })
    .await;
    if finished.is_ok() {
        return;
    }
    tracing::warn!(
        deliveries = inflight.len(),
        "stopping with partner postback calls in flight; they stay queued"
    );
    let _ = stop_calls.send(true);
    let released = tokio::time::timeout(RELEASE_BOUND, async {
        while inflight.join_next().await.is_some() {}
    })
    .await;
    if released.is_err() {
        inflight.shutdown().await;
    }
}

/// Claims back off while Postgres fails; logged when it starts and ends.
#[derive(Debug, Default)]
struct Outage {
    since: Option<Instant>,
    delay: Duration,
}

impl Outage {
    fn failing(&self) -> bool {
        self.since.is_some()
    }

    fn failed(&mut self, error: &QueueError, poll: Duration) -> Duration {
        metrics::counter!("switchyard_partner_postback_queue_errors_total").increment(1);
        if self.since.is_none() {
            self.since = Some(Instant::now());
            tracing::warn!(%error, "partner postback queue unavailable: deliveries wait");
        }
        self.delay = (self.delay * 2).clamp(poll, MAX_OUTAGE_DELAY.max(poll));
        self.delay
    }

    fn recovered(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                down_ms = since.elapsed().as_millis() as u64,
                "partner postback queue available again"
            );
        }
        self.delay = Duration::ZERO;
    }
}

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Delivered,
    Retry(Duration),
    GiveUp(GiveUpReason),
}

fn next_step(outcome: &CallOutcome, attempt: u32, settings: &PostbackSettings) -> Step {
    if outcome.delivered() {
        Step::Delivered
    } else if !outcome.retry {
        Step::GiveUp(GiveUpReason::Refused)
    } else if attempt >= settings.max_attempts.max(1) {
        Step::GiveUp(GiveUpReason::AttemptsExhausted)
    } else {
        Step::Retry(settings.retry_delay(attempt))
    }
}

struct Delivery {
    store: QueueStore,
    client: HttpClient,
    settings: PostbackSettings,
    events: EventSender,
    claimed: Claimed,
}

impl Delivery {
    /// Returns when a retry it scheduled falls due, so the loop can look then.
    async fn run(self, mut stop: watch::Receiver<bool>) -> Option<Instant> {
        let max = self.settings.max_attempts.max(1);
        if self.claimed.attempt > max {
            // Claimed before by an instance that vanished during the last attempt.
            let reason = GiveUpReason::ClaimLost;
            self.report(|store, c| store.give_up(c, None, None, reason, Some(max)))
                .await;
            self.gave_up(reason, None);
            return None;
        }
        let job = &self.claimed.job;
        // A dropped sender is no stop signal; the guard must not live across awaits.
        let stopped = async { stop.wait_for(|stop| *stop).await.is_ok() };
        let outcome = tokio::select! {
            outcome = call(&self.client, &job.url, self.settings.timeout) => outcome,
            true = stopped => {
                self.report(|store, c| store.release(c)).await;
                return None;
            }
        };
        record_attempt(&self.events, job, self.claimed.attempt, &outcome).await;
        let status = outcome.http_status;
        let error = outcome.error.as_deref();
        match next_step(&outcome, self.claimed.attempt, &self.settings) {
            Step::Delivered => {
                self.report(|store, c| store.delivered(c, status)).await;
                None
            }
            Step::Retry(delay) => {
                self.report(|store, c| store.retry_later(c, status, error, delay))
                    .await;
                Some(Instant::now() + delay)
            }
            Step::GiveUp(reason) => {
                self.report(|store, c| store.give_up(c, status, error, reason, None))
                    .await;
                self.gave_up(reason, error);
                None
            }
        }
    }

    /// Retried a little: an unreported outcome makes the row fall due again
    /// after the claim timeout, and a delivered postback would be sent twice.
    async fn report<'a, F, Fut>(&'a self, update: F)
    where
        F: Fn(&'a QueueStore, &'a Claimed) -> Fut,
        Fut: Future<Output = Result<bool, QueueError>>,
    {
        for tried in 1..=REPORT_TRIES {
            match update(&self.store, &self.claimed).await {
                Ok(_) => return,
                Err(error) if tried == REPORT_TRIES => {
                    metrics::counter!("switchyard_partner_postback_queue_errors_total")
                        .increment(1);
                    tracing::warn!(%error, delivery.id = %self.claimed.job.delivery_id, "could not record a partner postback's outcome; it falls due again after the claim timeout");
                }
                Err(_) => tokio::time::sleep(REPORT_PAUSE).await,
            }
        }
    }

    fn gave_up(&self, reason: GiveUpReason, error: Option<&str>) {
        metrics::counter!("switchyard_partner_postbacks_given_up_total", "reason" => reason.as_str())
            .increment(1);
        let job = &self.claimed.job;
        tracing::warn!(
            delivery.id = %job.delivery_id,
            conversion.id = %job.conversion_id,
            partner.id = job.partner_id,
            reason = reason.as_str(),
            error,
            "partner postback given up"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: Option<u16>, error: Option<&str>, retry: bool) -> CallOutcome {
        CallOutcome {
            http_status: status,
            error: error.map(str::to_owned),
            retry,
        }
    }

    #[test]
    fn retryable_failures_back_off_until_the_last_attempt() {
        let settings = PostbackSettings {
            max_attempts: 3,
            first_retry: Duration::from_secs(1),
            ..PostbackSettings::default()
        };
        let failed = outcome(Some(500), Some("HTTP 500"), true);
        assert_eq!(
            next_step(&failed, 1, &settings),
            Step::Retry(Duration::from_secs(1))
        );
        assert_eq!(
            next_step(&failed, 2, &settings),
            Step::Retry(Duration::from_secs(2))
        );
        assert_eq!(
            next_step(&failed, 3, &settings),
            Step::GiveUp(GiveUpReason::AttemptsExhausted)
        );
    }

    #[test]
    fn a_final_refusal_gives_up_at_once_and_success_is_delivered() {
        let settings = PostbackSettings::default();
        let refused = outcome(Some(404), Some("HTTP 404"), false);
        assert_eq!(
            next_step(&refused, 1, &settings),
            Step::GiveUp(GiveUpReason::Refused)
        );
        let ok = outcome(Some(204), None, false);
        assert_eq!(next_step(&ok, 5, &settings), Step::Delivered);
    }
}
