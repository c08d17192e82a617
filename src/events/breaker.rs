//! The writer's circuit breaker: after a failed write, stop sending batches to
//! the sink (they go to the spill file) and ask it, in the background and with
//! backoff, whether it answers again. The writer itself never waits for a
//! probe.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::sink::Sink;

const FIRST_PROBE: Duration = Duration::from_millis(100);
/// Short enough that a recovered database is found within about a second.
const LAST_PROBE: Duration = Duration::from_secs(2);
/// A probe is one `SELECT 1`: longer than this, and the sink is not back.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(super) struct Breaker {
    open: bool,
    /// Grows with each failure in a row, so a sink that answers probes but
    /// fails writes (a missing table) is not hammered.
    delay: Duration,
    next_probe: Instant,
    probe: Option<JoinHandle<bool>>,
}

impl Default for Breaker {
    fn default() -> Self {
        metrics::gauge!("switchyard_event_sink_up").set(1.0);
        Self {
            open: false,
            delay: Duration::ZERO,
            next_probe: Instant::now(),
            probe: None,
        }
    }
}

impl Breaker {
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// A write failed: open, and probe after a delay that grows with each
    /// failure in a row. Returns that delay.
    pub fn failed(&mut self) -> Duration {
        self.back_off();
        if !self.open {
            self.open = true;
            metrics::gauge!("switchyard_event_sink_up").set(0.0);
            metrics::counter!("switchyard_event_breaker_opened_total").increment(1);
        }
        self.delay
    }

    fn back_off(&mut self) {
        self.delay = (self.delay * 2).clamp(FIRST_PROBE, LAST_PROBE);
        self.next_probe = Instant::now() + self.delay;
    }

    /// A write succeeded: the sink is back for good.
    pub fn succeeded(&mut self) {
        self.delay = Duration::ZERO;
        self.close();
    }

    fn close(&mut self) {
        if self.open {
            self.open = false;
            metrics::gauge!("switchyard_event_sink_up").set(1.0);
            tracing::info!("event sink answers again: writing and replaying the spill file");
        }
    }

    pub fn probe_due(&self) -> bool {
        self.open && self.probe.is_none() && Instant::now() >= self.next_probe
    }

    /// When the next probe may start, while open and none is running.
    pub fn next_probe(&self) -> Option<Instant> {
        (self.open && self.probe.is_none()).then_some(self.next_probe)
    }

    pub fn start_probe(&mut self, sink: &Sink, write_timeout: Duration) {
        let sink = sink.clone();
        let timeout = write_timeout.min(PROBE_TIMEOUT);
        self.probe = Some(tokio::spawn(async move {
            matches!(
                tokio::time::timeout(timeout, sink.probe()).await,
                Ok(Ok(()))
            )
        }));
    }

    /// The running probe's answer; never ready without one.
    pub async fn probed(&mut self) -> bool {
        let Some(probe) = self.probe.as_mut() else {
            return std::future::pending().await;
        };
        let healthy = probe.await.unwrap_or(false);
        self.probe = None;
        healthy
    }

    /// Healthy: close, and let the next write confirm it (a failure opens the
    /// breaker again with a longer delay). Not: probe again later.
    pub fn probe_answered(&mut self, healthy: bool) {
        metrics::counter!("switchyard_event_sink_probes_total", "healthy" => if healthy { "true" } else { "false" })
            .increment(1);
        if healthy {
            self.close();
        } else {
            self.back_off();
        }
    }
}
