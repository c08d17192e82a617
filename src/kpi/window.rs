//! The clicks a run reads: the lookback window, cut at the link's last
//! reset. Apart from `run`, which uses it, because `carry` (which `run` also
//! uses) measures gaps between windows.

use chrono::{DateTime, Duration, Utc};

use crate::catalog::SmartLink;

/// The clicks a run reads: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The lookback window ending at `now`, cut at the link's last reset: data
/// from before a reset is never used.
pub fn window(link: &SmartLink, now: DateTime<Utc>) -> Window {
    let lookback = now - Duration::hours(i64::from(link.kpi.lookback_hours));
    let start = match link.optimization_reset_at {
        Some(reset) if reset > lookback => reset.min(now),
        _ => lookback,
    };
    Window { start, end: now }
}
