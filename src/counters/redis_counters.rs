//! Counters shared by every instance, in Redis. Each reserve is ONE Lua
//! script call, so check, increment and expiry of all its keys happen as a
//! single atomic step: no interleaving can let a cap of K admit more than K.

use super::error::CounterError;
use super::keys::CounterKey;
use super::reservation::{Refused, Reservation};
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script, ScriptInvocation};
use std::future::Future;
use std::time::{Duration, Instant};

pub struct RedisCounters {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    reserve: Script,
    add: Script,
    restore: Script,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCounters {
    /// Connects lazily, so the server starts (on local counters) even while
    /// Redis is down. `prefix` is put before every key; `timeout` bounds
    /// every call, including connecting.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, CounterError> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Reconnecting in the background is cheap; hits never wait on it
            // because every call is also bounded by `timeout`.
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            timeout,
            reserve: Script::new(include_str!("reserve.lua")),
            add: Script::new(include_str!("add.lua")),
            restore: Script::new(include_str!("restore.lua")),
        })
    }

    /// `Ok(Err(_))` is a refusal; `Err(_)` means Redis could not decide.
    pub async fn reserve(
        &self,
        reservations: &[Reservation],
    ) -> Result<Result<(), Refused>, CounterError> {
        if reservations.is_empty() {
            return Ok(Ok(()));
        }
        let mut call = self.reserve.prepare_invoke();
        for reservation in reservations {
            call.key(self.full_key(reservation.key()));
            match reservation {
                Reservation::Cap {
                    amount,
                    limit,
                    expires_at,
                    ..
                } => {
                    call.arg("c")
                        .arg(*amount)
                        .arg(limit.map(|l| l.to_string()).unwrap_or_default())
                        .arg(expiry_arg(*expires_at));
                }
                Reservation::Recency { ttl, .. } => {
                    call.arg("r").arg(positive_millis(*ttl)).arg("").arg("");
                }
                Reservation::RateLimit { limit, window, .. } => {
                    call.arg("l")
                        .arg(*limit)
                        .arg(positive_millis(*window))
                        .arg("");
                }
            }
        }
        let reply: i64 = self.invoke("reserve", &call).await?;
        match reply {
            0 => Ok(Ok(())),
            n => match usize::try_from(n - 1) {
                Ok(index) if index < reservations.len() => Ok(Err(Refused { index })),
                _ => Err(CounterError::BadReply(n)),
            },
        }
    }

    pub async fn current(&self, key: &CounterKey) -> Result<i64, CounterError> {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("GET").arg(self.full_key(key)).to_owned();
        let value: Option<i64> = self
            .bounded("current", async move { cmd.query_async(&mut conn).await })
            .await?;
        Ok(value.unwrap_or(0))
    }

    pub async fn add(
        &self,
        key: &CounterKey,
        amount: i64,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), CounterError> {
        let mut call = self.add.prepare_invoke();
        call.key(self.full_key(key))
            .arg(amount)
            .arg(expiry_arg(expires_at));
        self.invoke::<i64>("add", &call).await.map(drop)
    }

    pub async fn restore(
        &self,
        key: &CounterKey,
        value: i64,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), CounterError> {
        let mut call = self.restore.prepare_invoke();
        call.key(self.full_key(key))
            .arg(value)
            .arg(expiry_arg(expires_at));
        self.invoke::<i64>("restore", &call).await.map(drop)
    }

    async fn invoke<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        call: &ScriptInvocation<'_>,
    ) -> Result<T, CounterError> {
        let mut conn = self.conn.clone();
        self.bounded(op, call.invoke_async(&mut conn)).await
    }

    /// Every round trip is bounded and timed: a slow Redis must cost a hit at
    /// most `timeout`, after which the store falls back.
    async fn bounded<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CounterError> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, fut).await;
        metrics::histogram!("switchyard_counter_op_duration_seconds", "op" => op)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(reply) => Ok(reply?),
            Err(_) => Err(CounterError::Timeout(self.timeout)),
        }
    }

    /// The only place a key is turned into text: in-process counters never
    /// pay for formatting.
    fn full_key(&self, key: &CounterKey) -> String {
        use std::fmt::Write as _;
        let mut full = String::with_capacity(self.prefix.len() + 48);
        full.push_str(&self.prefix);
        let _ = write!(full, "{key}");
        full
    }
}

fn expiry_arg(expires_at: Option<DateTime<Utc>>) -> String {
    expires_at
        .map(|t| t.timestamp_millis().to_string())
        .unwrap_or_default()
}

/// Redis rejects a zero PX/PEXPIRE, so the shortest window is 1 ms.
fn positive_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
