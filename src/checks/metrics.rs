//! Per-provider Prometheus metrics of the checks.

use std::time::Duration;

use crate::rules::RuleCode;

/// Buckets for `switchyard_check_latency_seconds`: checks take milliseconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// One verdict: `switchyard_check_calls_total{check,verdict}`, and for a call
/// that went out, its latency and whether it timed out.
pub fn record(check: RuleCode, verdict: &'static str, waited: Option<Duration>) {
    let check = check.as_str();
    metrics::counter!("switchyard_check_calls_total", "check" => check, "verdict" => verdict)
        .increment(1);
    if let Some(waited) = waited {
        metrics::histogram!("switchyard_check_latency_seconds", "check" => check)
            .record(waited.as_secs_f64());
    }
    if verdict == super::CheckFailure::Timeout.as_str() {
        metrics::counter!("switchyard_check_timeouts_total", "check" => check).increment(1);
    }
}
