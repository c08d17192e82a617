//! Counters behind caps, budgets, recency and rate limits.
//!
//! Routing first picks candidates without side effects, then asks
//! [`CounterStore::reserve`] for everything the chosen candidate needs (offer
//! cap, partner-on-offer cap, recency, rate limit). That call is
//! all-or-nothing: on [`Refused`] nothing was counted, so the router can move
//! on to the next candidate and a passed-over offer consumes nothing.
//!
//! Cap keys ([`cap_key`]) carry their period bucket in the offer's timezone
//! and expire at the period's end; visitor keys ([`recency_key`],
//! [`rate_key`]) hash the user agent instead of embedding it.
//!
//! # Redis and failing open
//!
//! With Redis configured, counters are shared by all instances and each
//! reserve is one atomic Lua script. Every Redis call is bounded by a timeout
//! (50 ms by default). If Redis errors or times out, the call is served by
//! the in-process [`LocalCounters`] instead: redirects never stop and never
//! hang because of Redis. Redis is then skipped for `retry_redis_after` (1 s
//! by default) so an outage costs at most one timeout per interval, not one
//! per hit. Each fallback increments `switchyard_counter_fallbacks_total`;
//! a warning is logged at most every 10 s; Redis round trips are timed in
//! `switchyard_counter_op_duration_seconds`.
//!
//! The price of failing open: local counters start from zero and only see
//! this instance's hits, so during an outage caps are enforced per instance
//! (N instances may admit up to N×K), and what was counted locally is not
//! copied back to Redis afterwards. A timed-out call may also have been
//! applied by Redis and is then counted twice (once in each store).

mod error;
mod fallback;
mod keys;
mod local;
mod redis_counters;
mod reservation;
pub mod restore;
mod slot;
mod store;
mod visitors;

pub use error::CounterError;
pub use keys::{
    CapMetric, CapPeriod, CounterKey, Fnv1a64, PeriodBucket, SpanMillis, VisitorKind, cap_key,
    fnv1a64, period_start, rate_key, rate_key_hashed, recency_key, recency_key_hashed, ua_hash,
};
pub use local::LocalCounters;
pub use redis_counters::RedisCounters;
pub use reservation::{Refused, Reservation};
pub use store::{CounterStore, CounterStoreConfig};
