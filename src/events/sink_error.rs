//! How a sink fails, and what it says about a row it refused: shared by the
//! sink's dispatch (`sink`) and the Postgres writer (`pg_sink`), which used to
//! import each other for it.

use super::record::Event;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("event file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("event encoding: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("write took longer than {0:?}")]
    Timeout(std::time::Duration),
    #[error("the write task failed: {0}")]
    WriteTask(String),
}

impl SinkError {
    /// Whether the sink refused the rows themselves, so that writing them again
    /// can never succeed: Postgres data exceptions (class 22: overflow, bad
    /// encoding, a NUL byte), integrity violations (23: a CHECK, NOT NULL) and
    /// program limits (54: an index row too large). Everything else (down,
    /// slow, shutting down, a missing table) may heal, and is retried.
    pub fn is_data_error(&self) -> bool {
        match self {
            SinkError::Postgres(_) => self
                .sqlstate()
                .is_some_and(|code| matches!(code.get(..2), Some("22" | "23" | "54"))),
            SinkError::Encode(_) => true,
            SinkError::File { .. } | SinkError::Timeout(_) | SinkError::WriteTask(_) => false,
        }
    }

    /// The SQLSTATE of a Postgres error.
    pub fn sqlstate(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            SinkError::Postgres(sqlx::Error::Database(db)) => db.code(),
            _ => None,
        }
    }
}

/// An event the sink refused for its data, and why.
#[derive(Debug)]
pub struct DeadLetter<'a> {
    pub event: &'a Event,
    pub sqlstate: Option<String>,
    pub error: String,
}
