//! Where batches of events are written.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use tokio::io::AsyncWriteExt;

use super::pg_sink::{dead_letter_postgres, probe_postgres, write_postgres};
use super::record::Event;

pub use super::sink_error::{DeadLetter, SinkError};

#[derive(Debug, Clone)]
pub enum Sink {
    /// Production: COPY into the event tables.
    Postgres(PgPool),
    /// The embedded default: one JSON object per line, appended.
    JsonLines(PathBuf),
    /// Tests and benchmarks.
    Memory(Arc<Mutex<Vec<Event>>>),
}

impl Sink {
    pub fn memory() -> (Self, Arc<Mutex<Vec<Event>>>) {
        let store = Arc::new(Mutex::new(Vec::new()));
        (Sink::Memory(store.clone()), store)
    }

    /// Keeps events the sink refused for their data where an operator can see
    /// them. Only Postgres refuses rows; the other sinks take every event.
    pub async fn dead_letter(&self, rows: &[DeadLetter<'_>]) -> Result<(), SinkError> {
        match self {
            Sink::Postgres(pool) => dead_letter_postgres(pool, rows).await,
            Sink::JsonLines(_) | Sink::Memory(_) => Ok(()),
        }
    }

    /// Whether the sink answers again, after a failure: cheap, and bounded by
    /// the caller.
    pub async fn probe(&self) -> Result<(), SinkError> {
        match self {
            Sink::Postgres(pool) => probe_postgres(pool).await,
            Sink::JsonLines(path) => write_json_lines(path, &[]).await,
            Sink::Memory(_) => Ok(()),
        }
    }

    pub async fn write(&self, batch: &[Event]) -> Result<(), SinkError> {
        match self {
            Sink::Postgres(pool) => write_postgres(pool, batch).await,
            Sink::JsonLines(path) => write_json_lines(path, batch).await,
            Sink::Memory(store) => {
                // A poisoned lock only means a test thread panicked; keep recording.
                let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
                guard.extend_from_slice(batch);
                Ok(())
            }
        }
    }
}

async fn write_json_lines(path: &PathBuf, batch: &[Event]) -> Result<(), SinkError> {
    let mut text = Vec::with_capacity(batch.len() * 256);
    for event in batch {
        serde_json::to_writer(&mut text, event)?;
        text.push(b'\n');
    }
    let file_error = |source| SinkError::File {
        path: path.display().to_string(),
        source,
    };
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(file_error)?;
    file.write_all(&text).await.map_err(file_error)?;
    file.flush().await.map_err(file_error)?;
    Ok(())
}
