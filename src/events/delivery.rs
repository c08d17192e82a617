//! Writing one batch so that no row can block the others: when the sink refuses
//! the batch for its data, the batch is split until each refused row stands
//! alone, every other row is written, and the refused ones are dead-lettered.
//!
//! A failure that may heal (the sink down, slow or restarting) ends the
//! delivery at once and hands the whole batch back to the writer, which spills
//! it: rows already written in an earlier split are written again on replay,
//! and skipped there, because every write is idempotent on the events' ids.

use std::future::Future;
use std::ops::Range;
use std::time::Duration;

use super::record::Event;
use super::sink::{DeadLetter, Sink, SinkError};

/// What the writer needs of a sink; `Sink` is the real one.
pub(super) trait BatchSink: Send + Sync {
    fn write_batch(&self, batch: &[Event]) -> impl Future<Output = Result<(), SinkError>> + Send;
    fn dead_letter_rows(
        &self,
        rows: &[DeadLetter<'_>],
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

impl BatchSink for Sink {
    fn write_batch(&self, batch: &[Event]) -> impl Future<Output = Result<(), SinkError>> + Send {
        self.write(batch)
    }

    fn dead_letter_rows(
        &self,
        rows: &[DeadLetter<'_>],
    ) -> impl Future<Output = Result<(), SinkError>> + Send {
        self.dead_letter(rows)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Delivered {
    pub written: usize,
    pub dead_lettered: usize,
    /// Refused rows that the dead-letter table refused too: logged, then dropped.
    pub lost: usize,
}

/// Writes `events`, isolating rows refused for their data. `Err` only for a
/// failure that may heal; then nothing can be assumed written.
pub(super) async fn deliver<S: BatchSink>(
    sink: &S,
    events: &[Event],
    timeout: Duration,
) -> Result<Delivered, SinkError> {
    let mut delivered = Delivered::default();
    let mut refused: Vec<DeadLetter<'_>> = Vec::new();
    // A stack of ranges still to write; a refused range is split in two.
    let mut ranges: Vec<Range<usize>> = Vec::with_capacity(16);
    ranges.push(0..events.len());
    while let Some(range) = ranges.pop() {
        if range.is_empty() {
            continue;
        }
        match bounded(timeout, sink.write_batch(&events[range.clone()])).await {
            Ok(()) => delivered.written += range.len(),
            Err(error) if error.is_data_error() => {
                if range.len() == 1 {
                    refused.push(DeadLetter {
                        event: &events[range.start],
                        sqlstate: error.sqlstate().map(|code| code.into_owned()),
                        error: error.to_string(),
                    });
                } else {
                    let middle = range.start + range.len() / 2;
                    ranges.push(middle..range.end);
                    ranges.push(range.start..middle);
                }
            }
            Err(error) => return Err(error),
        }
    }
    if refused.is_empty() {
        return Ok(delivered);
    }
    match bounded(timeout, sink.dead_letter_rows(&refused)).await {
        Ok(()) => {
            delivered.dead_lettered = refused.len();
            for row in &refused {
                metrics::counter!("switchyard_events_dead_lettered_total", "kind" => row.event.kind_name())
                    .increment(1);
                tracing::error!(
                    event.kind = row.event.kind_name(),
                    event.key = %row.event.key(),
                    sqlstate = row.sqlstate.as_deref().unwrap_or(""),
                    error = %row.error,
                    "event refused for its data; moved to dead_letter_events"
                );
            }
        }
        Err(error) if error.is_data_error() => {
            delivered.lost = refused.len();
            metrics::counter!("switchyard_events_lost_total", "reason" => "dead_letter_refused")
                .increment(refused.len() as u64);
            for row in &refused {
                tracing::error!(
                    event.kind = row.event.kind_name(),
                    event.key = %row.event.key(),
                    error = %row.error,
                    dead_letter_error = %error,
                    "event refused for its data, and by the dead-letter table too: dropped"
                );
            }
        }
        Err(error) => return Err(error),
    }
    Ok(delivered)
}

async fn bounded(
    timeout: Duration,
    write: impl Future<Output = Result<(), SinkError>>,
) -> Result<(), SinkError> {
    tokio::time::timeout(timeout, write)
        .await
        .unwrap_or(Err(SinkError::Timeout(timeout)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use chrono::Utc;

    use super::*;
    use crate::events::record::PostbackAttemptRecord;

    /// Refuses any batch holding a poisoned event, as Postgres refuses a COPY
    /// with one bad row; or fails everything, as when it is down.
    #[derive(Default)]
    struct FakeSink {
        poisoned: HashSet<String>,
        down: bool,
        written: Mutex<Vec<String>>,
        dead: Mutex<Vec<String>>,
        writes: Mutex<usize>,
    }

    fn data_error() -> SinkError {
        SinkError::Encode(serde_json::from_str::<u8>("x").unwrap_err())
    }

    impl BatchSink for FakeSink {
        async fn write_batch(&self, batch: &[Event]) -> Result<(), SinkError> {
            *self.writes.lock().unwrap() += 1;
            if self.down {
                return Err(SinkError::Timeout(Duration::from_millis(1)));
            }
            if batch.iter().any(|e| self.poisoned.contains(&e.key())) {
                return Err(data_error());
            }
            self.written
                .lock()
                .unwrap()
                .extend(batch.iter().map(Event::key));
            Ok(())
        }

        async fn dead_letter_rows(&self, rows: &[DeadLetter<'_>]) -> Result<(), SinkError> {
            self.dead
                .lock()
                .unwrap()
                .extend(rows.iter().map(|r| r.event.key()));
            Ok(())
        }
    }

    fn attempt(n: u32) -> Event {
        Event::PostbackAttempt(PostbackAttemptRecord {
            attempt_id: format!("{n:032x}"),
            conversion_id: format!("{n:032x}"),
            partner_id: 1,
            attempt: 1,
            attempted_at: Utc::now(),
            url: "http://partner.example/pb".to_owned(),
            http_status: Some(200),
            error: None,
        })
    }

    #[tokio::test]
    async fn every_good_row_is_written_and_each_bad_one_dead_lettered() {
        let events: Vec<Event> = (0..1000).map(attempt).collect();
        let bad = [3u32, 4, 500, 999];
        let sink = FakeSink {
            poisoned: bad.iter().map(|n| format!("{n:032x}")).collect(),
            ..FakeSink::default()
        };
        let delivered = deliver(&sink, &events, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(delivered.written, 996);
        assert_eq!(delivered.dead_lettered, 4);
        let mut written = sink.written.lock().unwrap().clone();
        written.sort();
        written.dedup();
        assert_eq!(written.len(), 996, "each good row written once");
        let mut dead = sink.dead.lock().unwrap().clone();
        dead.sort();
        let expected: Vec<String> = bad.iter().map(|n| format!("{n:032x}")).collect();
        assert_eq!(dead, expected);
        // Bisection, not one write per row: about 2 * bad * log2(n) writes.
        assert!(*sink.writes.lock().unwrap() < 100);
    }

    #[tokio::test]
    async fn a_sink_that_is_down_hands_the_batch_back_untouched() {
        let events: Vec<Event> = (0..10).map(attempt).collect();
        let sink = FakeSink {
            down: true,
            ..FakeSink::default()
        };
        let error = deliver(&sink, &events, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(!error.is_data_error());
        assert_eq!(*sink.writes.lock().unwrap(), 1, "no retry, no split");
        assert!(sink.dead.lock().unwrap().is_empty());
    }
}
