//! The one counter interface the router uses: Redis when configured and
//! healthy, in-process counters otherwise.

use super::error::CounterError;
use super::fallback::Fallback;
use super::keys::CounterKey;
use super::local::LocalCounters;
use super::redis_counters::RedisCounters;
use super::reservation::{Refused, Reservation};
use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct CounterStoreConfig {
    /// `None` runs on in-process counters only (one instance, or tests).
    pub redis_url: Option<String>,
    /// Put before every Redis key so environments and tests don't collide.
    pub key_prefix: String,
    /// Bound on every Redis call, connecting included.
    pub timeout: Duration,
    /// How long to stay on local counters after a Redis failure.
    pub retry_redis_after: Duration,
    /// Cap on in-process entries; `None` is unbounded (sweep still runs).
    pub max_local_entries: Option<usize>,
}

impl Default for CounterStoreConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            key_prefix: "sy:".to_owned(),
            timeout: Duration::from_millis(50),
            retry_redis_after: Duration::from_secs(1),
            max_local_entries: Some(5_000_000),
        }
    }
}

#[derive(Debug)]
pub struct CounterStore {
    local: LocalCounters,
    redis: Option<RedisCounters>,
    fallback: Fallback,
}

impl CounterStore {
    /// Fails only on a malformed Redis URL; an unreachable Redis is not an
    /// error here, the store simply starts on local counters.
    pub async fn connect(config: &CounterStoreConfig) -> Result<Self, CounterError> {
        let redis = match &config.redis_url {
            Some(url) => {
                Some(RedisCounters::connect(url, &config.key_prefix, config.timeout).await?)
            }
            None => None,
        };
        Ok(Self {
            local: LocalCounters::new(config.max_local_entries),
            redis,
            fallback: Fallback::new(config.retry_redis_after),
        })
    }

    pub fn local_only(max_local_entries: Option<usize>) -> Self {
        Self {
            local: LocalCounters::new(max_local_entries),
            redis: None,
            fallback: Fallback::new(Duration::ZERO),
        }
    }

    /// Reserve everything a candidate needs, all or nothing.
    pub async fn reserve(
        &self,
        reservations: &[Reservation],
        now: DateTime<Utc>,
    ) -> Result<(), Refused> {
        if let Some(redis) = self.healthy_redis() {
            match redis.reserve(reservations).await {
                Ok(decision) => return decision,
                Err(err) => self.fallback.failed("reserve", &err),
            }
        }
        self.local.reserve(reservations, now)
    }

    /// The counter's value, for reports and soft-cap alerts.
    pub async fn current(&self, key: &CounterKey, now: DateTime<Utc>) -> i64 {
        if let Some(redis) = self.healthy_redis() {
            match redis.current(key).await {
                Ok(value) => return value,
                Err(err) => self.fallback.failed("current", &err),
            }
        }
        self.local.current(key, now)
    }

    /// Count without a limit, e.g. conversions and payout on a postback.
    pub async fn add(
        &self,
        key: &CounterKey,
        amount: i64,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        if let Some(redis) = self.healthy_redis() {
            match redis.add(key, amount, expires_at).await {
                Ok(()) => return,
                Err(err) => self.fallback.failed("add", &err),
            }
        }
        self.local.add(key, amount, expires_at, now);
    }

    /// Raise a counter to at least `value` (never lowers it), for restoring
    /// the current periods' caps from Postgres after a restart.
    pub async fn restore(
        &self,
        key: &CounterKey,
        value: i64,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        if let Some(redis) = self.healthy_redis() {
            match redis.restore(key, value, expires_at).await {
                Ok(()) => return,
                Err(err) => self.fallback.failed("restore", &err),
            }
        }
        self.local.restore(key, value, expires_at, now);
    }

    /// Drop expired in-process entries; call periodically.
    pub fn sweep(&self, now: DateTime<Utc>) {
        self.local.sweep(now);
    }

    /// Operations served locally because Redis failed or was being skipped.
    pub fn fallback_count(&self) -> u64 {
        self.fallback.count_so_far()
    }

    /// The in-process counters (the fallback, or everything without Redis).
    pub fn local(&self) -> &LocalCounters {
        &self.local
    }

    fn healthy_redis(&self) -> Option<&RedisCounters> {
        self.redis
            .as_ref()
            .filter(|_| self.fallback.redis_allowed())
    }
}
