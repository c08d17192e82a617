//! What the decision benches share: a stream of hits shaped like a server's
//! steady state.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};

/// Distinct visitors in the population: a million, so counter tables far
/// outgrow the CPU caches, as they do in production.
pub const VISITORS: u32 = 1 << 20;

/// A visitor comes back after the whole population has passed, two simulated
/// seconds later, when the benches' one-second recency marks have expired:
/// every hit passes, and the tables hold the whole population without
/// growing, as a sweeping server's do.
const CYCLE: TimeDelta = TimeDelta::seconds(2);

/// Visitors cycled in order, each hit with its own instant.
pub struct Traffic {
    hits: u64,
    visitors: u32,
    tick: TimeDelta,
    start: DateTime<Utc>,
}

impl Traffic {
    /// A million visitors: see [`VISITORS`].
    pub fn new() -> Self {
        Self::of(VISITORS)
    }

    pub fn of(visitors: u32) -> Self {
        Traffic {
            hits: 0,
            visitors,
            tick: CYCLE / i32::try_from(visitors).unwrap_or(i32::MAX),
            start: Utc::now(),
        }
    }

    /// The next hit's client IP and clock.
    pub fn next_hit(&mut self) -> (IpAddr, DateTime<Utc>) {
        self.hits += 1;
        let visitor = (self.hits % u64::from(self.visitors)) as u32;
        // Spread over 10.x.y.z-like space but never the excluded 10/8 or
        // 192.168/16 of the benches' targeting.
        let ip = IpAddr::from((0x2000_0000 + visitor).to_be_bytes());
        let now = self.start + self.tick * i32::try_from(self.hits).unwrap_or(i32::MAX);
        (ip, now)
    }
}

/// The output of a future that never waits, as a decision with in-process
/// counters never does. The server awaits it inside a running task;
/// `Runtime::block_on` would add the cost of entering a runtime to every hit,
/// which the server never pays.
pub fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("an in-process decision waited"),
    }
}

/// Benches `hit` once the counters hold the whole population: the first time
/// criterion runs the bench (so a bench left out by a filter costs nothing),
/// `hit` runs once per visitor and `check` sees each result, to make sure the
/// figure measures the path it claims to.
pub fn steady_state<O>(
    c: &mut criterion::Criterion,
    name: &str,
    visitors: u32,
    mut hit: impl FnMut() -> O,
    mut check: impl FnMut(&O),
) {
    let mut filled = false;
    c.bench_function(name, |b| {
        if !filled {
            for _ in 0..visitors {
                check(&hit());
            }
            filled = true;
        }
        b.iter(|| std::hint::black_box(hit()))
    });
}
