//! The spill file: where events go while the sink is failing, and where they are
//! read back from when it recovers (in this run or the next).
//!
//! One append-only JSON-lines file per spill directory, fsynced after every
//! append, so an event in it survives a crash. Replay reads it from the last
//! replayed offset and the file is removed once everything in it is written.
//! Replaying twice (a crash between a written batch and the removal) is harmless:
//! every sink write is idempotent on the events' own ids.
//!
//! **Invariant:** only the writer task touches the file; one directory per
//! running process. `open` holds an exclusive lock on `events.spill.lock` in the
//! directory for as long as the writer lives, so a second instance pointed at
//! the same directory (a shared volume, the same working directory) refuses to
//! start instead of removing the file under the first one's appends. The
//! kernel drops the lock with the process, SIGKILL included.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};

use super::record::Event;
use super::yield_every_slice;

const FILE_NAME: &str = "events.spill.jsonl";
const LOCK_NAME: &str = "events.spill.lock";

#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error("spill file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("event encoding: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(
        "spill directory {dir} is in use by another running process: give each instance its own SWITCHYARD_SPILL_DIR"
    )]
    InUse { dir: String },
}

#[derive(Debug)]
pub struct SpillFile {
    path: PathBuf,
    /// Bytes of the file already written to the sink.
    replayed: u64,
    len: u64,
    /// A previous run died mid-append: the next append starts a fresh line so the
    /// torn one stays a single unreadable line instead of spoiling the next event.
    torn_tail: bool,
    /// When the oldest event still waiting in the file happened (approximately,
    /// after partial replays): for the lag metric.
    oldest: Option<DateTime<Utc>>,
    /// The directory's lock, held until the writer drops the file; `None` for
    /// a read-only look (`for_each_event`).
    _lock: Option<std::fs::File>,
}

/// Events read back from the file, and how far they reach.
#[derive(Debug, Default)]
pub struct Chunk {
    pub events: Vec<Event>,
    /// File offset just past the last line read.
    end: u64,
}

/// How far a chunk reached: what `SpillFile::consumed` moves past once its
/// events are written.
#[derive(Debug, Clone, Copy)]
pub struct Replayed {
    end: u64,
    last_occurred: Option<DateTime<Utc>>,
}

impl Chunk {
    /// The events, to write, and the mark to consume once they are written.
    pub fn into_parts(self) -> (Vec<Event>, Replayed) {
        let replayed = self.replayed();
        (self.events, replayed)
    }

    pub fn replayed(&self) -> Replayed {
        Replayed {
            end: self.end,
            last_occurred: self.events.last().map(Event::occurred_at),
        }
    }
}

impl SpillFile {
    /// Locks `dir` for this process (creating it) and opens (without creating)
    /// the spill file in it; a file left by a previous run becomes this run's
    /// backlog. Fails with `InUse` while another process holds the directory.
    pub async fn open(dir: &Path) -> Result<Self, SpillError> {
        let lock = lock_dir(dir).await?;
        let mut spill = Self::unlocked(dir).await?;
        spill._lock = Some(lock);
        Ok(spill)
    }

    async fn unlocked(dir: &Path) -> Result<Self, SpillError> {
        let path = dir.join(FILE_NAME);
        let mut spill = Self {
            path,
            replayed: 0,
            len: 0,
            torn_tail: false,
            oldest: None,
            _lock: None,
        };
        match tokio::fs::metadata(&spill.path).await {
            Ok(meta) => spill.len = meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(spill),
            Err(e) => return Err(spill.io(e)),
        }
        if spill.len > 0 {
            let mut file = tokio::fs::File::open(&spill.path)
                .await
                .map_err(|e| spill.io(e))?;
            file.seek(SeekFrom::End(-1))
                .await
                .map_err(|e| spill.io(e))?;
            let mut last = [0u8; 1];
            tokio::io::AsyncReadExt::read_exact(&mut file, &mut last)
                .await
                .map_err(|e| spill.io(e))?;
            spill.torn_tail = last[0] != b'\n';
            spill.oldest = spill
                .read_chunk(1)
                .await?
                .events
                .first()
                .map(Event::occurred_at);
            tracing::warn!(spill.path = %spill.path.display(), spill.bytes = spill.len, "spill file from a previous run found; it will be replayed");
        }
        metrics::gauge!("switchyard_spill_bytes").set(spill.backlog_bytes() as f64);
        Ok(spill)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes spilled and not yet written to the sink.
    pub fn backlog_bytes(&self) -> u64 {
        self.len - self.replayed
    }

    pub fn oldest(&self) -> Option<DateTime<Utc>> {
        self.oldest
    }

    /// Appends the events and fsyncs: once this returns they survive a crash.
    pub async fn append(&mut self, events: &[Event]) -> Result<(), SpillError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut text = Vec::with_capacity(events.len() * 320 + 1);
        if self.torn_tail {
            text.push(b'\n');
        }
        for (n, event) in events.iter().enumerate() {
            serde_json::to_writer(&mut text, event)?;
            text.push(b'\n');
            yield_every_slice(n + 1).await;
        }
        if let Some(dir) = self.path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| self.io(e))?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| self.io(e))?;
        file.write_all(&text).await.map_err(|e| self.io(e))?;
        file.sync_data().await.map_err(|e| self.io(e))?;
        self.torn_tail = false;
        self.len += text.len() as u64;
        let first = events.iter().map(Event::occurred_at).min();
        self.oldest = match (self.oldest, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        metrics::counter!("switchyard_events_spilled_total").increment(events.len() as u64);
        metrics::gauge!("switchyard_spill_bytes").set(self.backlog_bytes() as f64);
        Ok(())
    }

    /// Reads up to `max_events` events from the replay offset. Unreadable lines
    /// (a torn last line after a crash) are skipped and counted.
    pub async fn read_chunk(&self, max_events: usize) -> Result<Chunk, SpillError> {
        let mut chunk = Chunk {
            events: Vec::new(),
            end: self.replayed,
        };
        if self.backlog_bytes() == 0 {
            return Ok(chunk);
        }
        let mut file = tokio::fs::File::open(&self.path)
            .await
            .map_err(|e| self.io(e))?;
        file.seek(SeekFrom::Start(self.replayed))
            .await
            .map_err(|e| self.io(e))?;
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        while chunk.events.len() < max_events && chunk.end < self.len {
            line.clear();
            let read = reader.read_line(&mut line).await.map_err(|e| self.io(e))?;
            if read == 0 {
                break;
            }
            chunk.end += read as u64;
            let text = line.trim_end();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_str::<Event>(text) {
                Ok(event) => {
                    chunk.events.push(event);
                    yield_every_slice(chunk.events.len()).await;
                }
                Err(error) => {
                    metrics::counter!("switchyard_spill_unreadable_lines_total").increment(1);
                    tracing::warn!(%error, spill.path = %self.path.display(), "unreadable line in the spill file skipped");
                }
            }
        }
        Ok(chunk)
    }

    /// The chunk's events are in the sink: move past them, and remove the file
    /// once all of it is written so it never grows without bound.
    pub async fn consumed(&mut self, chunk: Replayed) -> Result<(), SpillError> {
        self.replayed = chunk.end.max(self.replayed);
        if self.replayed >= self.len {
            match tokio::fs::remove_file(&self.path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io(e)),
            }
            self.replayed = 0;
            self.len = 0;
            self.torn_tail = false;
            self.oldest = None;
            tracing::info!(spill.path = %self.path.display(), "spill file replayed completely and removed");
        } else if let Some(last) = chunk.last_occurred {
            self.oldest = Some(last);
        }
        metrics::gauge!("switchyard_spill_bytes").set(self.backlog_bytes() as f64);
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> SpillError {
        SpillError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

/// Takes the directory's exclusive lock without waiting: a held lock means
/// another live process writes there.
async fn lock_dir(dir: &Path) -> Result<std::fs::File, SpillError> {
    let io = |source| SpillError::Io {
        path: dir.display().to_string(),
        source,
    };
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_NAME))
        .await
        .map_err(io)?
        .into_std()
        .await;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SpillError::InUse {
            dir: dir.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(io(source)),
    }
}

/// Calls `visit` with every event in a spill directory, without consuming the
/// file and without holding it all in memory: lets the conversion indexes learn
/// about clicks and conversions spilled by a previous run. It takes no lock:
/// the caller holds the directory through its own `SpillFile::open`.
pub async fn for_each_event(dir: &Path, mut visit: impl FnMut(&Event)) -> Result<(), SpillError> {
    let mut spill = SpillFile::unlocked(dir).await?;
    while spill.backlog_bytes() > 0 {
        let chunk = spill.read_chunk(10_000).await?;
        chunk.events.iter().for_each(&mut visit);
        // Only this local copy's offset moves; the file is not touched.
        spill.replayed = chunk.end.max(spill.replayed + 1);
    }
    Ok(())
}
