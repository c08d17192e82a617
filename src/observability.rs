//! Logs and metrics set-up. The Prometheus recorder is the one process-wide global.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// Sub-millisecond buckets: a healthy hit takes microseconds, and the interesting
/// tail is between 100 µs and a few ms.
const HIT_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05,
    0.25, 1.0,
];

static PROMETHEUS: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the recorder once per process (tests start many servers, some at the
/// same time) and returns the handle `/metrics` renders from.
pub fn prometheus() -> anyhow::Result<PrometheusHandle> {
    let installed = PROMETHEUS.get_or_init(|| {
        let handle = prometheus_builder()
            .and_then(|builder| builder.install_recorder())
            .map_err(|e| e.to_string())?;
        let upkeep = handle.clone();
        // Histograms are drained into their buckets by upkeep, not on record.
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                upkeep.run_upkeep();
            }
        });
        Ok(handle)
    });
    installed
        .clone()
        .map_err(|e| anyhow::anyhow!("installing the Prometheus recorder: {e}"))
}

/// The exporter as the server configures it; the dashboard test renders
/// through the same settings, so its histograms have the same buckets.
pub fn prometheus_builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".to_owned()), HIT_BUCKETS)
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full("switchyard_check_latency_seconds".to_owned()),
                crate::checks::metrics::LATENCY_BUCKETS,
            )
        })
}

/// `json` here makes the logs JSON lines, for log shippers.
pub const LOG_FORMAT_ENV: &str = "SWITCHYARD_LOG_FORMAT";

/// The environment variables logging reads (levels, then format); the
/// docs test checks them against the docs.
pub const LOG_ENV_VARS: [&str; 2] = [tracing_subscriber::EnvFilter::DEFAULT_ENV, LOG_FORMAT_ENV];

/// `RUST_LOG` picks levels (default info); `SWITCHYARD_LOG_FORMAT=json` for log shippers.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if std::env::var(LOG_FORMAT_ENV).is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already initialised (tests): keep the first subscriber.
    let _ = result;
}
