//! Settings, from flags or environment, parsed and validated once at start-up.
//! Every setting is listed in `docs/CONFIGURATION.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;

use crate::catalog::reload::ReloadSettings;
use crate::conversions::ConversionSettings;
use crate::counters::CounterStoreConfig;
use crate::events::WriterSettings;
use crate::http::CookiePolicy;
use crate::partitions::task::MaintenanceSettings;
use crate::postbacks::PostbackSettings;

mod checks;
mod enrichment;
mod interstitial;
mod scan;

pub use checks::CheckConfig;
pub use enrichment::EnrichmentConfig;
pub use interstitial::{InterstitialConfig, SecretText};
pub use scan::ScanConfig;

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address of the admin listener (`/admin/...`), or `off`. Never the
    /// tracking port: partners must not reach it.
    #[arg(
        long,
        env = "SWITCHYARD_ADMIN_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    pub admin_listen: AdminListen,

    /// Bearer token every admin request must carry; required when the admin
    /// listener is not on loopback.
    #[arg(long, env = "SWITCHYARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<AdminToken>,

    /// Postgres URL. Without it the server runs on a catalog file and writes
    /// events to a JSON-lines file.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Run pending migrations before serving (with DATABASE_URL).
    #[arg(long, env = "SWITCHYARD_MIGRATE", default_value_t = false)]
    pub migrate: bool,

    /// Catalog file used without DATABASE_URL; default: the embedded demo network.
    #[arg(long, env = "SWITCHYARD_CATALOG_FILE")]
    pub catalog_file: Option<PathBuf>,

    /// Where events go without DATABASE_URL (JSON lines, appended).
    #[arg(
        long,
        env = "SWITCHYARD_EVENTS_FILE",
        default_value = "switchyard-events.jsonl"
    )]
    pub events_file: PathBuf,

    /// Comma-separated CIDRs of proxies whose X-Forwarded-For is believed.
    #[arg(long, env = "SWITCHYARD_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,

    /// Where discarded hits are sent; without it they get a blank 404.
    #[arg(long, env = "SWITCHYARD_FALLBACK_URL")]
    pub fallback_url: Option<String>,

    /// Events buffered between handlers and the batch writer.
    #[arg(long, env = "SWITCHYARD_EVENT_QUEUE", default_value_t = 65_536)]
    pub event_queue: usize,

    /// Largest batch the writer sends at once.
    #[arg(long, env = "SWITCHYARD_EVENT_BATCH", default_value_t = 5_000)]
    pub event_batch: usize,

    /// Longest a partial batch waits, in milliseconds.
    #[arg(long, env = "SWITCHYARD_EVENT_FLUSH_MS", default_value_t = 200)]
    pub event_flush_ms: u64,

    /// Directory of the spill file, where events wait while Postgres is down
    /// (fsynced JSON lines, replayed when it returns and at the next start).
    /// One directory per running instance.
    #[arg(long, env = "SWITCHYARD_SPILL_DIR", default_value = "switchyard-spill")]
    pub spill_dir: Option<PathBuf>,

    /// A batch write slower than this counts as failed and is spilled, in
    /// milliseconds.
    #[arg(
        long,
        env = "SWITCHYARD_EVENT_WRITE_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub event_write_timeout_ms: u64,

    /// Recent clicks kept in memory for attribution (count).
    #[arg(
        long,
        env = "SWITCHYARD_CLICK_INDEX_ENTRIES",
        default_value_t = 2_000_000
    )]
    pub click_index_entries: usize,

    /// Recent clicks kept in memory for attribution (age, in seconds).
    #[arg(long, env = "SWITCHYARD_CLICK_INDEX_SECS", default_value_t = 86_400)]
    pub click_index_secs: u64,

    /// Bound on each Postgres lookup a postback makes, in milliseconds.
    #[arg(long, env = "SWITCHYARD_CONVERSION_LOOKUP_MS", default_value_t = 500)]
    pub conversion_lookup_ms: u64,

    /// Attempts per partner postback, the first included.
    #[arg(long, env = "SWITCHYARD_POSTBACK_ATTEMPTS", default_value_t = 5)]
    pub postback_attempts: u32,

    /// Delay before the second partner postback attempt, doubled for each further
    /// one, in milliseconds.
    #[arg(long, env = "SWITCHYARD_POSTBACK_RETRY_MS", default_value_t = 2_000)]
    pub postback_retry_ms: u64,

    /// Bound on one partner postback call, in milliseconds.
    #[arg(long, env = "SWITCHYARD_POSTBACK_TIMEOUT_MS", default_value_t = 10_000)]
    pub postback_timeout_ms: u64,

    /// Partner postbacks waiting for their first attempt.
    #[arg(long, env = "SWITCHYARD_POSTBACK_QUEUE", default_value_t = 10_000)]
    pub postback_queue: usize,

    /// Full catalog reload period, in seconds (changes are also pushed by NOTIFY).
    #[arg(long, env = "SWITCHYARD_RELOAD_SECS", default_value_t = 60)]
    pub reload_secs: u64,

    /// Postgres connections in the pool.
    #[arg(long, env = "SWITCHYARD_DB_POOL", default_value_t = 8)]
    pub db_pool: u32,

    /// Days after today whose event partitions the server creates ahead
    /// (docs/OPERATIONS.md "Partitions and retention").
    #[arg(long, env = "SWITCHYARD_PARTITION_DAYS_AHEAD", default_value_t = 7)]
    pub partition_days_ahead: u32,

    /// Days before today whose raw events are kept; older days' partitions are
    /// dropped every hour. Unset: raw events are kept forever.
    #[arg(long, env = "SWITCHYARD_EVENT_RETENTION_DAYS")]
    pub event_retention_days: Option<u32>,

    /// Redis URL for counters shared between instances (caps, recency, rate
    /// limits); without it counters are in-process.
    #[arg(long, env = "SWITCHYARD_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Longest a Redis counter call may take before failing open, in milliseconds.
    #[arg(long, env = "SWITCHYARD_REDIS_TIMEOUT_MS", default_value_t = 50)]
    pub redis_timeout_ms: u64,

    /// GeoIP databases and user-agent regexes.
    #[command(flatten)]
    pub enrichment: EnrichmentConfig,

    /// Third-party checks: Anura's credentials, the per-hit budget, breakers.
    #[command(flatten)]
    pub checks: CheckConfig,

    /// Hostname partners' tracking links use when a smart link has no tracking
    /// domain of its own; without it, the Host the partner asked on.
    #[arg(long, env = "SWITCHYARD_PUBLIC_HOST")]
    pub public_host: Option<String>,

    /// Parent domains for the click cookies, comma-separated (e.g. `adv.example`):
    /// a click on such a domain or a subdomain sets them there, so a pixel on
    /// any subdomain of that site reads them.
    #[arg(long, env = "SWITCHYARD_COOKIE_DOMAIN", value_delimiter = ',')]
    pub cookie_domain: Vec<String>,

    /// Every tracking domain is reached over HTTPS: click cookies become
    /// `SameSite=None; Secure`, for pixels on other sites in browsers that
    /// still allow third-party cookies.
    #[arg(long, env = "SWITCHYARD_TRACKING_HTTPS", default_value_t = false)]
    pub tracking_https: bool,

    /// Scan offer URLs in the background (with DATABASE_URL). Only offers
    /// that DOES_NOT_REACH_STORE or DOES_NOT_REACH_TRACKER is active for are
    /// scanned.
    #[arg(long = "scan", env = "SWITCHYARD_SCAN", default_value_t = true, action = clap::ArgAction::Set)]
    pub scan_enabled: bool,

    /// The offer URL scanner.
    #[command(flatten)]
    pub scan: ScanConfig,

    /// The page browser-side rules answer before the redirect.
    #[command(flatten)]
    pub interstitial: InterstitialConfig,
}

/// Where the admin listener binds, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminListen {
    Off,
    On(SocketAddr),
}

impl std::str::FromStr for AdminListen {
    type Err = std::net::AddrParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("off") {
            Ok(AdminListen::Off)
        } else {
            text.parse().map(AdminListen::On)
        }
    }
}

/// The admin bearer token; its `Debug` never prints it, so a logged config
/// does not leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(pub String);

impl std::str::FromStr for AdminToken {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(AdminToken(text.to_owned()))
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "the admin listener {0} is not on loopback: set SWITCHYARD_ADMIN_TOKEN (or listen on 127.0.0.1, or `off`)"
    )]
    AdminWithoutToken(SocketAddr),
    #[error("SWITCHYARD_ADMIN_TOKEN is empty")]
    EmptyAdminToken,
    #[error("the admin listener cannot share the tracking address {0}")]
    AdminOnTrackingAddress(SocketAddr),
    #[error("fallback URL must be an absolute http(s) URL, got `{0}`")]
    FallbackUrl(String),
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    #[error(
        "SWITCHYARD_ADSCORE_RESPONSE_KEY is not base64 (copy it from the zone's encryption page)"
    )]
    AdscoreResponseKey,
    #[error("cookie domain `{0}` is not a lowercase DNS name with a dot (such as adv.example)")]
    CookieDomain(String),
}

impl ServeConfig {
    /// A config for tests and embedding: demo catalog, ephemeral port.
    pub fn for_tests() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: AdminListen::On(SocketAddr::from(([127, 0, 0, 1], 0))),
            admin_token: None,
            database_url: None,
            migrate: false,
            catalog_file: None,
            events_file: PathBuf::from("switchyard-events.jsonl"),
            trusted_proxies: Vec::new(),
            fallback_url: None,
            event_queue: 65_536,
            event_batch: 5_000,
            event_flush_ms: 50,
            // Tests run in parallel: a shared spill directory would mix them up.
            spill_dir: None,
            event_write_timeout_ms: 2_000,
            click_index_entries: 100_000,
            click_index_secs: 86_400,
            conversion_lookup_ms: 500,
            postback_attempts: 5,
            postback_retry_ms: 2_000,
            postback_timeout_ms: 5_000,
            postback_queue: 1_000,
            reload_secs: 60,
            db_pool: 4,
            partition_days_ahead: 7,
            event_retention_days: None,
            redis_url: None,
            redis_timeout_ms: 50,
            enrichment: EnrichmentConfig::default(),
            checks: CheckConfig::default(),
            public_host: None,
            cookie_domain: Vec::new(),
            tracking_https: false,
            scan_enabled: true,
            scan: ScanConfig::default(),
            interstitial: InterstitialConfig::default(),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.admin_token
            && token.0.is_empty()
        {
            return Err(ConfigError::EmptyAdminToken);
        }
        if let AdminListen::On(addr) = self.admin_listen {
            if !addr.ip().is_loopback() && self.admin_token.is_none() {
                return Err(ConfigError::AdminWithoutToken(addr));
            }
            if addr == self.listen && addr.port() != 0 {
                return Err(ConfigError::AdminOnTrackingAddress(addr));
            }
        }
        if let Some(url) = &self.fallback_url
            && crate::catalog::url_template::UrlTemplate::parse(url).is_err()
        {
            return Err(ConfigError::FallbackUrl(url.clone()));
        }
        if let Some(bad) = self.cookie_domain.iter().find(|d| !is_cookie_domain(d)) {
            return Err(ConfigError::CookieDomain(bad.clone()));
        }
        if self.event_queue == 0 {
            return Err(ConfigError::Zero("event queue"));
        }
        if self.event_batch == 0 {
            return Err(ConfigError::Zero("event batch"));
        }
        if self.event_flush_ms == 0 {
            return Err(ConfigError::Zero("event flush interval"));
        }
        if self.interstitial.ttl_secs == 0 {
            return Err(ConfigError::Zero("interstitial TTL"));
        }
        if self.interstitial.max_held == 0 {
            return Err(ConfigError::Zero("interstitial max held"));
        }
        if let Some(key) = &self.interstitial.adscore_response_key
            && crate::interstitial::adscore::ResponseKey::from_base64(&key.0).is_none()
        {
            return Err(ConfigError::AdscoreResponseKey);
        }
        if self.click_index_entries == 0 {
            return Err(ConfigError::Zero("click index entries"));
        }
        if self.click_index_secs == 0 {
            return Err(ConfigError::Zero("click index age"));
        }
        if self.postback_attempts == 0 {
            return Err(ConfigError::Zero("postback attempts"));
        }
        if self.postback_queue == 0 {
            return Err(ConfigError::Zero("postback queue"));
        }
        if self.event_retention_days == Some(0) {
            return Err(ConfigError::Zero("event retention days"));
        }
        Ok(())
    }

    pub fn cookie_policy(&self) -> CookiePolicy {
        CookiePolicy {
            domains: self.cookie_domain.clone(),
            cross_site: self.tracking_https,
        }
    }

    pub fn writer_settings(&self) -> WriterSettings {
        WriterSettings {
            queue_capacity: self.event_queue,
            batch_size: self.event_batch,
            flush_interval: Duration::from_millis(self.event_flush_ms),
            write_timeout: Duration::from_millis(self.event_write_timeout_ms.max(1)),
            ..WriterSettings::default()
        }
    }

    pub fn conversion_settings(&self) -> ConversionSettings {
        ConversionSettings {
            click_index_entries: self.click_index_entries,
            click_index_max_age: Duration::from_secs(self.click_index_secs),
            lookup_timeout: Duration::from_millis(self.conversion_lookup_ms.max(1)),
        }
    }

    pub fn postback_settings(&self) -> PostbackSettings {
        PostbackSettings {
            queue_capacity: self.postback_queue,
            max_attempts: self.postback_attempts,
            first_retry: Duration::from_millis(self.postback_retry_ms),
            timeout: Duration::from_millis(self.postback_timeout_ms.max(1)),
            // A delivery queued through the event writer is in Postgres after
            // about one flush.
            enqueue_settle: Duration::from_millis(self.event_flush_ms.saturating_add(50)),
            ..PostbackSettings::default()
        }
    }

    pub fn counter_settings(&self) -> CounterStoreConfig {
        CounterStoreConfig {
            redis_url: self.redis_url.clone(),
            timeout: Duration::from_millis(self.redis_timeout_ms.max(1)),
            ..CounterStoreConfig::default()
        }
    }

    pub fn partition_settings(&self) -> MaintenanceSettings {
        MaintenanceSettings {
            days_ahead: self.partition_days_ahead,
            retention_days: self.event_retention_days,
            tick: crate::partitions::task::TICK,
        }
    }

    pub fn reload_settings(&self) -> ReloadSettings {
        ReloadSettings {
            period: Duration::from_secs(self.reload_secs.max(1)),
            ..ReloadSettings::default()
        }
    }
}

/// A name a browser accepts as a cookie's `Domain` and that goes into a
/// header verbatim: lowercase labels of `[a-z0-9-]`, at least two of them
/// (a bare TLD is a public suffix, which browsers refuse).
fn is_cookie_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_listener_parses_an_address_or_off() {
        assert_eq!("off".parse::<AdminListen>().unwrap(), AdminListen::Off);
        assert_eq!(
            "127.0.0.1:8081".parse::<AdminListen>().unwrap(),
            AdminListen::On(SocketAddr::from(([127, 0, 0, 1], 8081)))
        );
        assert!("localhost".parse::<AdminListen>().is_err());
    }

    #[test]
    fn an_admin_listener_off_loopback_needs_a_token() {
        let mut config = ServeConfig::for_tests();
        config.admin_listen = "0.0.0.0:8081".parse().unwrap();
        assert!(matches!(
            config.validate(),
            Err(ConfigError::AdminWithoutToken(_))
        ));
        config.admin_token = Some(AdminToken("s3cret".to_owned()));
        assert!(config.validate().is_ok());
        config.admin_token = Some(AdminToken(String::new()));
        assert!(matches!(
            config.validate(),
            Err(ConfigError::EmptyAdminToken)
        ));
        config.admin_token = None;
        config.admin_listen = "[::1]:8081".parse().unwrap();
        assert!(config.validate().is_ok(), "IPv6 loopback needs no token");
    }

    #[test]
    fn cookie_domains_must_be_lowercase_dns_names() {
        let mut config = ServeConfig::for_tests();
        config.cookie_domain = vec!["adv.example".to_owned()];
        assert!(config.validate().is_ok());
        for bad in [
            "com",
            ".adv.example",
            "Adv.example",
            "adv.example; Secure",
            "a..b",
        ] {
            config.cookie_domain = vec![bad.to_owned()];
            assert!(
                matches!(config.validate(), Err(ConfigError::CookieDomain(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let mut config = ServeConfig::for_tests();
        config.admin_token = Some(AdminToken("s3cret".to_owned()));
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
