//! The batch writer: drains the event channel, writes batches on size or
//! interval, spills to the spill file while the sink is down or slow, replays
//! the spill file when it recovers, and drains on shutdown.
//!
//! **Invariant:** with a spill file, an event leaves the writer's memory only
//! when it is in the sink, dead-lettered, or fsynced in the spill file; a
//! failing sink never makes the writer drop one, and a clean shutdown writes or
//! spills everything.
//!
//! **Invariant:** the writer never waits for the sink while events arrive. A
//! write runs in its own task (one at a time), and the writer keeps draining the
//! channel meanwhile; a write that fails opens a breaker, and while it is open
//! every batch goes straight to the spill file, at the rate events arrive, and
//! a background probe asks the sink whether it is back. So the channel does not
//! fill and handlers do not wait while Postgres is down or slow. A sink that
//! answers quickly but takes fewer events a second than arrive gets the same
//! treatment: beyond two batches waiting, the rest is spilled (watch
//! `switchyard_spill_bytes` and `switchyard_event_lag_seconds`). The replay
//! after recovery is paced (`replay_share`) and yields to live batches.
//!
//! **Invariant:** the writer shares runtime threads with the handlers, so it
//! never holds one for long: every loop over a batch (COPY encoding, spilling,
//! decoding a spilled chunk, freeing a written batch) yields every
//! `EVENTS_PER_SLICE` events, and a batch is handed over, never copied.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::EVENTS_PER_SLICE;
use super::breaker::Breaker;
use super::delivery::{Delivered, deliver};
use super::record::Event;
use super::sink::{Sink, SinkError};
use super::spill::{Replayed, SpillFile};

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
    /// A write still running after this long means the sink is slow: events
    /// arriving meanwhile are spilled instead of piling up in memory.
    pub stall_after: Duration,
    /// At most this share of the sink's time goes to replaying the spill file
    /// (each replayed chunk is followed by a pause), so that live traffic keeps
    /// its speed while a backlog drains.
    pub replay_share: f64,
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
            stall_after: Duration::from_millis(500),
            replay_share: 0.5,
        }
    }
}

/// The handlers' end of the event channel.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<Event>,
    /// Sends that found the channel full and waited: what the writer reports.
    waits: Arc<AtomicU64>,
}

impl EventSender {
    /// Queues the event, waiting while the channel is full. Once called, the
    /// event is queued even if the caller is dropped: hyper drops a handler whose
    /// client hung up, and a hit already counted (and answered) must still be
    /// recorded. A dropped waiter used to lose one event per closed connection.
    pub async fn send(&self, event: Event) {
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                metrics::counter!("switchyard_events_backpressure_total").increment(1);
                self.waits.fetch_add(1, Ordering::Relaxed);
                let tx = self.tx.clone();
                // The wait runs in its own task, which a dropped caller does not
                // cancel; the caller still waits for it (backpressure).
                let queued = tokio::spawn(async move {
                    if tx.send(event).await.is_err() {
                        closed_channel();
                    }
                });
                let _ = queued.await;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => closed_channel(),
        }
    }

    /// Events waiting in the channel; read at scrape time, not per hit.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// A reader of `queued` that does not keep the channel open: the admin
    /// listener holds one, and the writer must still drain when the handlers'
    /// senders are gone.
    pub fn depth(&self) -> QueueDepth {
        QueueDepth(self.tx.downgrade())
    }
}

/// See `EventSender::depth`.
#[derive(Debug, Clone)]
pub struct QueueDepth(mpsc::WeakSender<Event>);

impl QueueDepth {
    /// Events waiting in the channel; 0 once it is closed.
    pub fn queued(&self) -> usize {
        self.0
            .upgrade()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity())
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
    /// Events the sink refused for their data, kept in the dead-letter table.
    pub dead_lettered: u64,
    pub lost: u64,
    /// Times a handler found the channel full and waited for the writer.
    pub waited: u64,
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
    let waits = Arc::new(AtomicU64::new(0));
    let writer = Writer {
        waits: waits.clone(),
        sink,
        settings,
        spill,
        pending: VecDeque::with_capacity(settings.batch_size),
        breaker: Breaker::default(),
        flight: None,
        next_replay: Instant::now(),
        replay_turn: false,
        report: WriterReport::default(),
    };
    let task = tokio::spawn(writer.run(rx));
    (EventSender { tx, waits }, task)
}

struct Writer {
    waits: Arc<AtomicU64>,
    sink: Sink,
    settings: WriterSettings,
    spill: Option<SpillFile>,
    /// Taken from the front a batch at a time: under a backlog it holds many
    /// batches, and a `Vec` shifted all of them (megabytes) at every launch.
    pending: VecDeque<Event>,
    breaker: Breaker,
    /// The write in progress, if any: at most one at a time.
    flight: Option<Flight>,
    /// The replay pacing: no replayed chunk starts before this.
    next_replay: Instant,
    /// Set when a live batch lands: the next turn is the replay's, if due.
    replay_turn: bool,
    report: WriterReport,
}

/// A write running in its own task.
struct Flight {
    what: Cargo,
    size: usize,
    started: Instant,
    task: JoinHandle<(Vec<Event>, Result<Delivered, SinkError>)>,
}

enum Cargo {
    /// Events from the channel: spilled if the write fails.
    Live,
    /// A chunk of the spill file: consumed if the write succeeds, else left there.
    Replay(Replayed),
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
            let wake = self.next_wake(closed_at.is_some());
            let mut ticked = false;
            tokio::select! {
                count = rx.recv_many(&mut received, self.settings.batch_size), if room && listening && closed_at.is_none() => {
                    if count == 0 {
                        closed_at = Some(Instant::now());
                    } else {
                        listening = count >= self.settings.batch_size;
                        self.pending.extend(received.drain(..));
                    }
                }
                _ = drain.tick(), if !listening => listening = true,
                _ = ticker.tick() => ticked = true,
                landed = land(&mut self.flight) => self.landed(landed).await,
                healthy = self.breaker.probed() => self.breaker.probe_answered(healthy),
                _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
            }

            let closing = closed_at.is_some();
            let replay_allowed =
                closed_at.is_none_or(|closed| closed.elapsed() < self.settings.shutdown_deadline);
            // Under load a live batch is always due: without turns, a backlog
            // would never drain. The pacing keeps the replay to its share.
            if self.replay_turn && replay_allowed && self.replay_due() {
                self.launch_replay().await;
            }
            let due = ticked || self.pending.len() >= self.settings.batch_size || closing;
            if due {
                self.flush_pending().await;
            }
            if replay_allowed && self.replay_due() && self.pending.is_empty() {
                self.launch_replay().await;
            }
            if self.breaker.probe_due() {
                self.breaker
                    .start_probe(&self.sink, self.settings.write_timeout);
            }
            self.publish_gauges();

            if let Some(closed) = closed_at {
                if self.flight.is_some() {
                    continue;
                }
                if self.pending.is_empty() {
                    // Spill backlog: replayed while the sink is healthy and time
                    // allows; otherwise it waits, durable, for the next start.
                    if !(replay_allowed && self.replay_possible()) {
                        break;
                    }
                    continue;
                }
                // With a spill file this is reached only when spilling fails too
                // (disk full): shutdown must still end.
                if closed.elapsed() >= self.settings.shutdown_deadline {
                    self.report.lost += self.pending.len() as u64;
                    metrics::counter!("switchyard_events_lost_total", "reason" => "shutdown_deadline")
                        .increment(self.pending.len() as u64);
                    tracing::error!(
                        lost = self.pending.len(),
                        "shutdown deadline passed with unwritten events"
                    );
                    break;
                }
            }
        }
        metrics::gauge!("switchyard_events_pending").set(0.0);
        self.report.waited = self.waits.load(Ordering::Relaxed);
        if let Some(spill) = &self.spill
            && spill.backlog_bytes() > 0
        {
            tracing::warn!(spill.path = %spill.path().display(), spill.bytes = spill.backlog_bytes(), "stopping with events in the spill file; they are replayed at the next start");
        }
        self.report
    }

    /// When the loop must wake up without an event or a tick: for the next
    /// replayed chunk, or the next probe of a broken sink.
    fn next_wake(&self, closing: bool) -> Option<Instant> {
        if self.flight.is_none() && self.replay_possible() && self.pending.is_empty() {
            return Some(self.next_replay);
        }
        if closing && self.breaker.is_open() {
            return self.breaker.next_probe();
        }
        None
    }

    /// Starts writing the pending events, or spills them when the sink is known
    /// to be down, or slow with a write already running.
    async fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.breaker.is_open() {
            self.spill_pending().await;
            return;
        }
        match &self.flight {
            None => {
                // Moving a full batch (2 MB) out of `pending` cost milliseconds
                // of the runtime thread at every flush; handing it over is free.
                let batch: Vec<Event> = if self.pending.len() <= self.settings.batch_size {
                    // Room for the next batch up front: growing by doubling
                    // copied megabytes inside one receive.
                    let next = VecDeque::with_capacity(self.settings.batch_size);
                    std::mem::replace(&mut self.pending, next).into()
                } else {
                    self.pending.drain(..self.settings.batch_size).collect()
                };
                self.launch(Cargo::Live, batch);
            }
            Some(flight) if flight.started.elapsed() >= self.settings.stall_after => {
                self.spill_pending().await;
            }
            // Each write is quick but the sink takes fewer events a second than
            // arrive (after an outage, at the live rate plus the replay): past a
            // second batch, waiting here would grow to `max_pending` and then
            // make handlers wait, so the excess goes to the spill file and is
            // replayed when the sink has room.
            Some(_) if self.pending.len() > 2 * self.settings.batch_size => {
                self.spill_pending().await;
            }
            Some(_) => {}
        }
    }

    fn launch(&mut self, what: Cargo, events: Vec<Event>) {
        let sink = self.sink.clone();
        let timeout = self.settings.write_timeout;
        let events_len = events.len();
        let task = tokio::spawn(async move {
            let result = deliver(&sink, &events, timeout).await;
            let events = match result {
                // Written: only the spill path needs them back.
                Ok(_) => {
                    drop_in_slices(events).await;
                    Vec::new()
                }
                Err(_) => events,
            };
            (events, result)
        });
        self.flight = Some(Flight {
            what,
            size: events_len,
            started: Instant::now(),
            task,
        });
    }

    async fn landed(&mut self, landed: Landed) {
        let Landed {
            what,
            size,
            took,
            events,
            result,
        } = landed;
        let count = size as u64;
        self.replay_turn = matches!(what, Cargo::Live);
        match result {
            Ok(delivered) => {
                metrics::histogram!("switchyard_event_batch_duration_seconds")
                    .record(took.as_secs_f64());
                metrics::counter!("switchyard_events_written_total")
                    .increment(delivered.written as u64);
                self.report.written += delivered.written as u64;
                self.report.dead_lettered += delivered.dead_lettered as u64;
                self.report.lost += delivered.lost as u64;
                self.breaker.succeeded();
                if let Cargo::Replay(replayed) = what {
                    metrics::counter!("switchyard_events_replayed_total").increment(count);
                    self.replay_consumed(replayed, took).await;
                }
            }
            Err(error) => {
                metrics::counter!("switchyard_event_write_errors_total").increment(1);
                let probe_in = self.breaker.failed();
                tracing::warn!(%error, events = count, probe_in_ms = probe_in.as_millis() as u64, "event batch write failed; spilling until the sink answers again");
                match what {
                    Cargo::Live => {
                        // Back in front, in arrival order, then to the spill file.
                        for event in events.into_iter().rev() {
                            self.pending.push_front(event);
                        }
                        self.spill_pending().await;
                    }
                    // Still in the spill file: nothing to do.
                    Cargo::Replay(_) => {}
                }
            }
        }
    }

    async fn replay_consumed(&mut self, replayed: Replayed, took: Duration) {
        // The pause leaves the sink to live traffic; with none waiting, the
        // backlog drains at full speed.
        let share = self.settings.replay_share.clamp(0.01, 1.0);
        let pause = if self.pending.is_empty() {
            Duration::ZERO
        } else {
            took.mul_f64((1.0 - share) / share)
        };
        self.next_replay = Instant::now() + pause;
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        if let Err(error) = spill.consumed(replayed).await {
            tracing::error!(%error, "could not advance the spill file; its events may be written again (idempotently)");
        }
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
        match spill.append(self.pending.make_contiguous()).await {
            Ok(()) => {
                self.report.spilled += self.pending.len() as u64;
                tracing::debug!(
                    events = self.pending.len(),
                    spill.bytes = spill.backlog_bytes(),
                    "events spilled"
                );
                self.pending.clear();
            }
            Err(error) => {
                metrics::counter!("switchyard_spill_errors_total").increment(1);
                tracing::error!(%error, pending = self.pending.len(), "could not spill events; keeping them in memory");
            }
        }
    }

    /// A backlog, a healthy sink and nothing else to write.
    fn replay_possible(&self) -> bool {
        !self.breaker.is_open() && self.spill.as_ref().is_some_and(|s| s.backlog_bytes() > 0)
    }

    fn replay_due(&self) -> bool {
        self.flight.is_none() && self.replay_possible() && Instant::now() >= self.next_replay
    }

    async fn launch_replay(&mut self) {
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        let (events, replayed) = match spill.read_chunk(self.settings.batch_size).await {
            Ok(chunk) => chunk.into_parts(),
            Err(error) => {
                // Not fatal: the file stays, and the breaker paces retries.
                self.breaker.failed();
                tracing::error!(%error, "could not read the spill file");
                return;
            }
        };
        if events.is_empty() {
            // Only unreadable lines: nothing to write, move past them.
            if let Err(error) = spill.consumed(replayed).await {
                tracing::error!(%error, "could not advance the spill file");
            }
            return;
        }
        self.launch(Cargo::Replay(replayed), events);
    }

    fn publish_gauges(&self) {
        metrics::gauge!("switchyard_events_pending").set(self.pending.len() as f64);
        // Events arrive roughly in time order; the first is the oldest near enough.
        let oldest_pending = self.pending.front().map(Event::occurred_at);
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

/// Frees a written batch a slice at a time: thousands of events with their
/// strings took the runtime thread 2-4 ms to free in one go.
async fn drop_in_slices(mut events: Vec<Event>) {
    while !events.is_empty() {
        let keep = events.len().saturating_sub(EVENTS_PER_SLICE);
        events.truncate(keep);
        tokio::task::yield_now().await;
    }
}

/// A finished flight.
struct Landed {
    what: Cargo,
    /// Events in the flight.
    size: usize,
    took: Duration,
    /// Back only when the write failed (to spill them); freed once written.
    events: Vec<Event>,
    result: Result<Delivered, SinkError>,
}

/// Waits for the flight in progress; never ready without one.
async fn land(flight: &mut Option<Flight>) -> Landed {
    let Some(running) = flight.as_mut() else {
        return std::future::pending().await;
    };
    let joined = (&mut running.task).await;
    let took = running.started.elapsed();
    // Taken only once finished: dropping a JoinHandle would not stop the task,
    // but it would lose its events.
    let Some(Flight { what, size, .. }) = flight.take() else {
        return std::future::pending().await;
    };
    match joined {
        Ok((events, result)) => Landed {
            what,
            size,
            took,
            events,
            result,
        },
        Err(error) => {
            // A panic inside the sink. A live batch is gone with the task; a
            // replayed one is still in the spill file, and is retried.
            if matches!(what, Cargo::Live) {
                metrics::counter!("switchyard_events_lost_total", "reason" => "writer_panic")
                    .increment(size as u64);
            }
            tracing::error!(%error, events = size, "an event write task failed");
            Landed {
                what,
                size,
                took,
                events: Vec::new(),
                result: Err(SinkError::WriteTask(error.to_string())),
            }
        }
    }
}
