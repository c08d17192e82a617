//! The offer URL scanner's settings: `serve` runs it in the background (unless
//! `SWITCHYARD_SCAN=false`), and `switchyard scan` must scan the same way, so
//! both share this.

use clap::Args;

use crate::scanner::client::PinnedHost;

#[derive(Debug, Clone, Args)]
pub struct ScanConfig {
    /// Seconds between scans of an offer whose last scan reached a store.
    #[arg(long, env = "SWITCHYARD_SCAN_INTERVAL_SECS", default_value_t = 21_600)]
    pub scan_interval_secs: u64,

    /// Seconds before rescanning a failing offer URL, doubled for each
    /// further failure, up to the interval.
    #[arg(long, env = "SWITCHYARD_SCAN_RETRY_SECS", default_value_t = 300)]
    pub scan_retry_secs: u64,

    /// Hops followed after the first request.
    #[arg(long, env = "SWITCHYARD_SCAN_MAX_HOPS", default_value_t = 10)]
    pub scan_max_hops: u32,

    /// Bound on each hop, in milliseconds.
    #[arg(long, env = "SWITCHYARD_SCAN_HOP_TIMEOUT_MS", default_value_t = 5_000)]
    pub scan_hop_timeout_ms: u64,

    /// Bound on a whole chain, in milliseconds.
    #[arg(
        long,
        env = "SWITCHYARD_SCAN_CHAIN_TIMEOUT_MS",
        default_value_t = 20_000
    )]
    pub scan_chain_timeout_ms: u64,

    /// Offers scanned at once (each holds a database connection while it runs).
    #[arg(long, env = "SWITCHYARD_SCAN_CONCURRENCY", default_value_t = 2)]
    pub scan_concurrency: usize,

    /// User agent the scanner sends; default: an Android phone's Chrome.
    #[arg(long, env = "SWITCHYARD_SCAN_USER_AGENT")]
    pub scan_user_agent: Option<String>,

    /// App store hosts added to the built-in list, comma-separated.
    #[arg(long, env = "SWITCHYARD_SCAN_STORE_HOSTS", value_delimiter = ',')]
    pub scan_store_hosts: Vec<String>,

    /// Tracker hosts added to the built-in list, comma-separated.
    #[arg(long, env = "SWITCHYARD_SCAN_TRACKER_HOSTS", value_delimiter = ',')]
    pub scan_tracker_hosts: Vec<String>,

    /// Hosts pinned to addresses, `host=ip:port`, comma-separated (like
    /// curl's --resolve): for staging, where offer URLs name real hosts.
    #[arg(long, env = "SWITCHYARD_SCAN_RESOLVE", value_delimiter = ',')]
    pub scan_resolve: Vec<PinnedHost>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            scan_interval_secs: 21_600,
            scan_retry_secs: 300,
            scan_max_hops: 10,
            scan_hop_timeout_ms: 5_000,
            scan_chain_timeout_ms: 20_000,
            scan_concurrency: 2,
            scan_user_agent: None,
            scan_store_hosts: Vec::new(),
            scan_tracker_hosts: Vec::new(),
            scan_resolve: Vec::new(),
        }
    }
}
