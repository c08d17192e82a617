//! Why a Redis counter operation did not happen (the store then falls back).

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("reserve script answered {0}, which is no reservation index")]
    BadReply(i64),
}
