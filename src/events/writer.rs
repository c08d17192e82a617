//! The batch writer: drains the event channel, writes batches on size or interval,
//! and while the sink fails either spills to the spill file (when configured) or
//! holds events in memory and retries with backoff. Drains on shutdown.
//!
//! **Invariant:** with a spill file, an event leaves the writer's memory only
//! when it is in the sink or fsynced in the spill file; a failing sink never
//! makes the writer drop one, and a clean shutdown writes or spills everything.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::record::Event;
use super::sink::{Sink, SinkError};
use super::spill::SpillFile;

/// How long events may wait in the channel before the writer takes them: short
/// against the flush interval, long against the gap between two clicks.
const DRAIN_INTERVAL: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Events the channel holds before handlers wait (backpressure).
    pub queue_capacity: usize,
    /// Largest batch written at once; reaching it flushes immediately.
    pub batch_size: usize,
    /// A partial batch is written after at most this long.
    pub flush_interval: Duration,
    /// Events the writer holds while the sink (and the spill file, if any) fails,
    /// before it stops draining the channel (and handlers start waiting).
    pub max_pending: usize,
    /// How long a shutdown keeps retrying a failing sink (without a spill file,
    /// or when spilling fails too) before giving up, and how long it keeps
    /// replaying the spill file into a healthy sink (what is left is replayed at
    /// the next start).
    pub shutdown_deadline: Duration,
    /// A sink write taking longer counts as failed (and its events are spilled),
    /// so a hung connection cannot hold events in memory indefinitely.
    pub write_timeout: Duration,
}

impl Default for WriterSettings {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            batch_size: 5_000,
            flush_interval: Duration::from_millis(200),
            max_pending: 1_000_000,
            shutdown_deadline: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// The handlers' end of the event channel.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<Event>,
}

impl EventSender {
    pub async fn send(&self, event: Event) {
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                metrics::counter!("switchyard_events_backpressure_total").increment(1);
                if self.tx.send(event).await.is_err() {
                    closed_channel();
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => closed_channel(),
        }
    }

    /// Events waiting in the channel; read at scrape time, not per hit.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

fn closed_channel() {
    metrics::counter!("switchyard_events_lost_total", "reason" => "channel_closed").increment(1);
    tracing::error!("event channel closed: an event was lost");
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterReport {
    /// Events written to the sink, replayed ones included.
    pub written: u64,
    /// Events appended to the spill file.
    pub spilled: u64,
    pub lost: u64,
}

/// Starts the writer. It ends when every `EventSender` is dropped and the pending
/// events are written or spilled (or, without a spill file, the shutdown deadline
/// passes).
pub fn spawn_writer(
    sink: Sink,
    settings: WriterSettings,
    spill: Option<SpillFile>,
) -> (EventSender, JoinHandle<WriterReport>) {
    let (tx, rx) = mpsc::channel(settings.queue_capacity.max(1));
    let writer = Writer {
        sink,
        settings,
        spill,
        pending: Vec::with_capacity(settings.batch_size),
        backoff: Backoff::default(),
        report: WriterReport::default(),
    };
    let task = tokio::spawn(writer.run(rx));
    (EventSender { tx }, task)
}

struct Writer {
    sink: Sink,
    settings: WriterSettings,
    spill: Option<SpillFile>,
    pending: Vec<Event>,
    backoff: Backoff,
    report: WriterReport,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Event>) -> WriterReport {
        let mut received: Vec<Event> = Vec::with_capacity(self.settings.batch_size);
        let mut ticker = tokio::time::interval(self.settings.flush_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut closed_at: Option<Instant> = None;
        // After a partial receive the writer stops listening until the next drain
        // tick: otherwise every click wakes it for a one-event loop, and on a busy
        // core those wake-ups cost more than writing the batch.
        let mut drain = tokio::time::interval(DRAIN_INTERVAL);
        drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut listening = true;

        loop {
            // Bounded even with a spill file: a spill that fails (disk full) must
            // not turn into unbounded memory; handlers wait instead.
            let room = self.pending.len() < self.settings.max_pending;
            let replay_now = self.replay_ready() && self.pending.is_empty();
            let mut ticked = false;
            tokio::select! {
                count = rx.recv_many(&mut received, self.settings.batch_size), if room && listening && closed_at.is_none() => {
                    if count == 0 {
                        closed_at = Some(Instant::now());
                    } else {
                        listening = count >= self.settings.batch_size;
                        self.pending.append(&mut received);
                    }
                }
                _ = drain.tick(), if !listening => listening = true,
                _ = ticker.tick() => ticked = true,
                // A backlog in the spill file is replayed without waiting for a tick.
                _ = std::future::ready(()), if replay_now => {}
            }

            let closing = closed_at.is_some();
            let due = ticked || self.pending.len() >= self.settings.batch_size || closing;
            if due {
                self.flush_pending(closing).await;
            }
            if self.replay_ready() && self.pending.len() < self.settings.batch_size {
                self.replay_one_chunk().await;
            }
            self.publish_gauges();

            if let Some(closed) = closed_at {
                if self.pending.is_empty() {
                    // Spill backlog: replayed while the sink is healthy and time
                    // allows; otherwise it waits, durable, for the next start.
                    let replaying =
                        self.replay_ready() && closed.elapsed() < self.settings.shutdown_deadline;
                    if !replaying {
                        break;
                    }
                    continue;
                }
                // With a spill file this is reached only when spilling fails too
                // (disk full): shutdown must still end.
                if closed.elapsed() >= self.settings.shutdown_deadline {
                    self.report.lost = self.pending.len() as u64;
                    metrics::counter!("switchyard_events_lost_total", "reason" => "shutdown_deadline")
                        .increment(self.report.lost);
                    tracing::error!(
                        lost = self.report.lost,
                        "shutdown deadline passed with unwritten events"
                    );
                    break;
                }
                if !self.backoff.ready() && self.spill.is_none() {
                    tokio::time::sleep_until(self.backoff.until).await;
                }
            }
        }
        metrics::gauge!("switchyard_events_pending").set(0.0);
        if let Some(spill) = &self.spill
            && spill.backlog_bytes() > 0
        {
            tracing::warn!(spill.path = %spill.path().display(), spill.bytes = spill.backlog_bytes(), "stopping with events in the spill file; they are replayed at the next start");
        }
        self.report
    }

    /// Writes the pending events in batches; when the sink fails (or is in its
    /// backoff), spills them instead, if there is a spill file.
    async fn flush_pending(&mut self, closing: bool) {
        while !self.pending.is_empty() {
            if !self.backoff.ready() {
                self.spill_pending().await;
                return;
            }
            let take = self.pending.len().min(self.settings.batch_size);
            match self.write(take).await {
                Ok(()) => {
                    self.pending.drain(..take);
                }
                Err(error) => {
                    let delay = self.backoff.fail();
                    tracing::warn!(%error, pending = self.pending.len(), retry_in_ms = delay.as_millis() as u64, "event batch write failed");
                    self.spill_pending().await;
                    return;
                }
            }
            if !closing && self.pending.len() < self.settings.batch_size {
                return;
            }
        }
    }

    async fn write(&mut self, take: usize) -> Result<(), SinkError> {
        let started = std::time::Instant::now();
        let batch = &self.pending[..take];
        let result =
            match tokio::time::timeout(self.settings.write_timeout, self.sink.write(batch)).await {
                Ok(result) => result,
                Err(_) => Err(SinkError::Timeout(self.settings.write_timeout)),
            };
        match &result {
            Ok(()) => {
                metrics::histogram!("switchyard_event_batch_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("switchyard_events_written_total").increment(take as u64);
                self.report.written += take as u64;
                self.backoff.reset();
            }
            Err(_) => {
                metrics::counter!("switchyard_event_write_errors_total").increment(1);
            }
        }
        result
    }

    /// Moves every pending event to the spill file. A spill that fails keeps them
    /// in memory: they are retried at the next flush.
    async fn spill_pending(&mut self) {
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        match spill.append(&self.pending).await {
            Ok(()) => {
                self.report.spilled += self.pending.len() as u64;
                tracing::info!(
                    events = self.pending.len(),
                    spill.bytes = spill.backlog_bytes(),
                    "sink unavailable: events spilled"
                );
                self.pending.clear();
            }
            Err(error) => {
                metrics::counter!("switchyard_spill_errors_total").increment(1);
                tracing::error!(%error, pending = self.pending.len(), "could not spill events; keeping them in memory");
            }
        }
    }

    fn replay_ready(&self) -> bool {
        self.backoff.ready() && self.spill.as_ref().is_some_and(|s| s.backlog_bytes() > 0)
    }

    async fn replay_one_chunk(&mut self) {
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        let chunk = match spill.read_chunk(self.settings.batch_size).await {
            Ok(chunk) => chunk,
            Err(error) => {
                // Not fatal: the file stays, and the sink's backoff paces retries.
                self.backoff.fail();
                tracing::error!(%error, "could not read the spill file");
                return;
            }
        };
        if chunk.events.is_empty() {
            // Only unreadable lines: nothing to write, move past them.
            if let Err(error) = spill.consumed(&chunk).await {
                tracing::error!(%error, "could not advance the spill file");
            }
            return;
        }
        let started = std::time::Instant::now();
        let result =
            match tokio::time::timeout(self.settings.write_timeout, self.sink.write(&chunk.events))
                .await
            {
                Ok(result) => result,
                Err(_) => Err(SinkError::Timeout(self.settings.write_timeout)),
            };
        match result {
            Ok(()) => {
                metrics::histogram!("switchyard_event_batch_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("switchyard_events_written_total")
                    .increment(chunk.events.len() as u64);
                metrics::counter!("switchyard_events_replayed_total")
                    .increment(chunk.events.len() as u64);
                self.report.written += chunk.events.len() as u64;
                self.backoff.reset();
                if let Err(error) = spill.consumed(&chunk).await {
                    tracing::error!(%error, "could not advance the spill file; its events may be written again (idempotently)");
                }
            }
            Err(error) => {
                metrics::counter!("switchyard_event_write_errors_total").increment(1);
                let delay = self.backoff.fail();
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "replaying the spill file failed; will retry");
            }
        }
    }

    fn publish_gauges(&self) {
        metrics::gauge!("switchyard_events_pending").set(self.pending.len() as f64);
        // Events arrive roughly in time order; the first is the oldest near enough.
        let oldest_pending = self.pending.first().map(Event::occurred_at);
        let oldest_spilled = self.spill.as_ref().and_then(SpillFile::oldest);
        let oldest = match (oldest_pending, oldest_spilled) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let lag = oldest.map_or(0.0, |t| {
            (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
        });
        metrics::gauge!("switchyard_event_lag_seconds").set(lag);
    }
}

#[derive(Debug)]
struct Backoff {
    until: Instant,
    delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            until: Instant::now(),
            delay: Duration::ZERO,
        }
    }
}

impl Backoff {
    fn ready(&self) -> bool {
        Instant::now() >= self.until
    }

    fn reset(&mut self) {
        self.delay = Duration::ZERO;
    }

    fn fail(&mut self) -> Duration {
        self.delay = (self.delay * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
        self.until = Instant::now() + self.delay;
        self.delay
    }
}
