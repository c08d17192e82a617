//! Runs scans: the background task of `serve` (every `TICK`, and at once after
//! each snapshot swap, so an edited offer URL is rescanned within seconds of
//! its NOTIFY) and `switchyard scan`. Every instance runs one; each scan happens
//! in a transaction holding the offer's advisory lock, and due-ness is checked
//! again under it, so an offer is scanned once however many instances run.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hyper::header::HeaderValue;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::client::scan_client;
use super::hosts::HostLists;
use super::outcome::ScanResult;
use super::page::PageReader;
use super::store::{self, LastScanRow, ScanRecord, ScanTarget};
use super::test_values::ScanMacros;
use super::walk::{DEFAULT_USER_AGENT, Walk, WalkLimits, Walker};
use crate::catalog::url_template::UrlTemplate;
use crate::catalog::{Catalog, CatalogHandle};
use crate::config::ScanConfig;

/// How often the task looks for due offers besides snapshot swaps.
pub const TICK: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ScannerError {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("TLS settings: {0}")]
    Tls(#[from] rustls::Error),
    #[error("scanner patterns: {0}")]
    Pattern(#[from] regex::Error),
    #[error("SWITCHYARD_SCAN_USER_AGENT is not a valid header value")]
    UserAgent,
}

/// Whether a scan waits for the offer to be due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanMode {
    Due,
    /// `scan --offer` / `scan --all`: now, whatever the schedule.
    Force,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Scanned(Box<Walk>),
    /// Another instance holds the offer's lock: it is scanning it now.
    Locked,
    /// Under the lock the offer was no longer due.
    NotDue,
    /// The stored URL is not a valid offer URL (the loader refuses it too).
    BadUrl,
}

/// The walker and the schedule, built once from the configuration.
pub struct Scanner {
    walker: Walker,
    interval: Duration,
    retry: Duration,
    concurrency: usize,
}

impl Scanner {
    pub fn new(config: &ScanConfig) -> Result<Self, ScannerError> {
        let limits = WalkLimits {
            max_hops: config.scan_max_hops,
            hop_timeout: Duration::from_millis(config.scan_hop_timeout_ms.max(1)),
            chain_timeout: Duration::from_millis(config.scan_chain_timeout_ms.max(1)),
            ..WalkLimits::default()
        };
        let user_agent = config
            .scan_user_agent
            .as_deref()
            .unwrap_or(DEFAULT_USER_AGENT);
        let user_agent = HeaderValue::from_str(user_agent).map_err(|_| ScannerError::UserAgent)?;
        Ok(Self {
            walker: Walker {
                client: scan_client(&config.scan_resolve, limits.hop_timeout)?,
                hosts: HostLists::new(&config.scan_store_hosts, &config.scan_tracker_hosts),
                page: PageReader::new()?,
                limits,
                user_agent,
            },
            interval: Duration::from_secs(config.scan_interval_secs.max(1)),
            retry: Duration::from_secs(config.scan_retry_secs.max(1)),
            concurrency: config.scan_concurrency.max(1),
        })
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Follows a URL without recording anything.
    pub async fn walk(&self, url: &str) -> Walk {
        self.walker.walk(url).await
    }

    /// When to scan again after `failures` failing scans in a row (0: it
    /// reached a store): the retry delay doubled per failure, up to the interval.
    pub fn next_delay(&self, failures: i32) -> Duration {
        if failures <= 0 {
            return self.interval;
        }
        let doublings = u32::try_from(failures - 1).unwrap_or(0).min(20);
        self.retry.saturating_mul(1 << doublings).min(self.interval)
    }

    /// Scans one offer under its lock and records the scan.
    pub async fn scan_offer(
        &self,
        pool: &PgPool,
        target: &ScanTarget,
        mode: ScanMode,
    ) -> Result<Outcome, ScannerError> {
        let Ok(template) = UrlTemplate::parse(&target.offer_url) else {
            return Ok(Outcome::BadUrl);
        };
        let scanned_url = template.expand(&ScanMacros {
            offer_id: target.id,
            advertiser_id: target.advertiser_id,
            user_agent: self.walker.user_agent.to_str().unwrap_or_default(),
        });
        let mut tx = pool.begin().await?;
        if !store::lock(&mut tx, target.id).await? {
            return Ok(Outcome::Locked);
        }
        if mode == ScanMode::Due && !store::still_due(&mut tx, target.id, Utc::now()).await? {
            return Ok(Outcome::NotDue);
        }
        let previous = store::last(&mut tx, target.id).await?;
        let span = tracing::info_span!("offer_url_scan", offer.id = target.id);
        let walk = tracing::Instrument::instrument(self.walker.walk(&scanned_url), span).await;
        let failures = failures(previous.as_ref(), &target.offer_url, &walk);
        let scanned_at = micros(Utc::now());
        let next_scan_at = scanned_at
            + chrono::Duration::from_std(self.next_delay(failures))
                .unwrap_or(chrono::Duration::MAX);
        store::insert(
            &mut tx,
            &ScanRecord {
                target,
                scanned_url: &scanned_url,
                walk: &walk,
                failures,
                scanned_at,
                next_scan_at,
            },
        )
        .await?;
        let changed = changes_snapshot(previous.as_ref(), &target.offer_url, &walk);
        if changed {
            store::notify_catalog(&mut tx).await?;
        }
        tx.commit().await?;

        metrics::counter!("switchyard_offer_scans_total", "result" => walk.result.as_str())
            .increment(1);
        metrics::histogram!("switchyard_offer_scan_duration_seconds")
            .record(walk.duration.as_secs_f64());
        if changed {
            tracing::info!(
                offer.id = target.id,
                scan.previous = previous.as_ref().map(|p| p.result.as_str()),
                scan.result = walk.result.as_str(),
                scan.reached_tracker = walk.reached_tracker,
                scan.error = walk.error.map(|e| e.as_str()),
                scan.final_url = walk.final_url.as_deref(),
                scan.hops = walk.hops,
                "offer URL scan result changed"
            );
        } else {
            tracing::debug!(
                offer.id = target.id,
                scan.result = walk.result.as_str(),
                "offer URL scanned"
            );
        }
        Ok(Outcome::Scanned(Box::new(walk)))
    }
}

/// Failing scans of this URL in a row, this one included; a URL that reached
/// a store resets it, and a new URL starts over.
fn failures(previous: Option<&LastScanRow>, offer_url: &str, walk: &Walk) -> i32 {
    if walk.result == ScanResult::Store {
        return 0;
    }
    match previous {
        Some(p) if p.offer_url == offer_url => p.failures.saturating_add(1),
        _ => 1,
    }
}

/// Whether the rules would read this scan differently from the last one.
fn changes_snapshot(previous: Option<&LastScanRow>, offer_url: &str, walk: &Walk) -> bool {
    let Some(p) = previous else {
        return true;
    };
    p.offer_url != offer_url
        || p.result != walk.result
        || p.reached_tracker != walk.reached_tracker
        || p.error.as_deref() != walk.error.map(|e| e.as_str())
}

/// Postgres keeps microseconds: a scan uses the instant it will be stored as.
fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// An offer needs scanning when one of the two rules is active for it, or
/// for some partner (a partner-scoped row may switch it on for that partner).
pub fn needs_scan(catalog: &Catalog, offer_id: i64) -> bool {
    let Some(offer) = catalog.offer(offer_id) else {
        // Not in this snapshot yet (just added): the next swap brings it.
        return false;
    };
    crate::rules::reach::RULES
        .into_iter()
        .any(|code| offer.rules.is_active(code) || catalog.rule_table.any_partner_activates(code))
}

/// Scans every due offer that needs it, a few at a time; returns how many it
/// scanned. Stops early when `shutdown` turns true (an open scan rolls back).
pub async fn run_due(
    pool: &PgPool,
    scanner: &Arc<Scanner>,
    catalog: &Catalog,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<usize, ScannerError> {
    // Most networks use neither rule: they cost the scanner no query.
    let rules = crate::rules::reach::RULES;
    let wanted = rules
        .iter()
        .any(|code| catalog.rule_table.any_partner_activates(*code))
        || catalog
            .offers()
            .any(|offer| rules.iter().any(|code| offer.rules.is_active(*code)));
    if !wanted {
        return Ok(0);
    }
    let due: Vec<ScanTarget> = store::due(pool, Utc::now(), None)
        .await?
        .into_iter()
        .filter(|t| needs_scan(catalog, t.id))
        .collect();
    let mut scanned = 0;
    let mut running = JoinSet::new();
    let mut queue = due.into_iter();
    loop {
        while running.len() < scanner.concurrency() {
            let Some(target) = queue.next() else { break };
            let (pool, scanner) = (pool.clone(), scanner.clone());
            running.spawn(async move {
                let outcome = scanner.scan_offer(&pool, &target, ScanMode::Due).await;
                (target.id, outcome)
            });
        }
        let finished = tokio::select! {
            finished = running.join_next() => finished,
            _ = shutdown.wait_for(|stop| *stop) => {
                running.abort_all();
                return Ok(scanned);
            }
        };
        match finished {
            None => return Ok(scanned),
            Some(Ok((_, Ok(Outcome::Scanned(_))))) => scanned += 1,
            Some(Ok((_, Ok(_)))) => {}
            Some(Ok((offer_id, Err(error)))) => {
                metrics::counter!("switchyard_offer_scan_errors_total").increment(1);
                tracing::warn!(offer.id = offer_id, %error, "offer URL scan failed to record");
            }
            Some(Err(error)) => {
                metrics::counter!("switchyard_offer_scan_errors_total").increment(1);
                tracing::warn!(%error, "offer URL scan task failed");
            }
        }
    }
}

/// `switchyard_offers_by_scan_result{result}`: active offers in the snapshot
/// by their latest scan, as the rules read it.
pub fn set_gauges(catalog: &Catalog) {
    let mut counts = [0_u32; ScanResult::ALL.len() + 1];
    for offer in catalog
        .offers()
        .filter(|o| o.status == crate::catalog::Status::Active)
    {
        let slot = match offer.last_scan {
            Some(scan) => ScanResult::ALL
                .iter()
                .position(|r| *r == scan.result)
                .unwrap_or(0),
            None => ScanResult::ALL.len(),
        };
        counts[slot] += 1;
    }
    let labels = ScanResult::ALL
        .iter()
        .map(|r| r.as_str())
        .chain(["unscanned"]);
    for (label, count) in labels.zip(counts) {
        metrics::gauge!("switchyard_offers_by_scan_result", "result" => label)
            .set(f64::from(count));
    }
}

/// The background task of `serve`.
pub fn spawn(
    pool: PgPool,
    catalog: Arc<CatalogHandle>,
    scanner: Arc<Scanner>,
    tick: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut swapped = catalog.subscribe();
        let mut every = tokio::time::interval(tick);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                changed = swapped.changed() => if changed.is_err() { return },
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let Some(snapshot) = catalog.current() else {
                continue;
            };
            set_gauges(&snapshot);
            match run_due(&pool, &scanner, &snapshot, &mut shutdown).await {
                Ok(0) => {}
                Ok(scanned) => tracing::debug!(scanned, "offer URL scans done"),
                Err(error) => {
                    metrics::counter!("switchyard_offer_scan_errors_total").increment(1);
                    tracing::warn!(%error, "offer URL scanner could not read due offers");
                }
            }
            if *shutdown.borrow() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_urls_back_off_up_to_the_interval() {
        let scanner = Scanner::new(&ScanConfig {
            scan_interval_secs: 3_600,
            scan_retry_secs: 300,
            ..ScanConfig::default()
        })
        .unwrap();
        let delays: Vec<u64> = (0..6).map(|f| scanner.next_delay(f).as_secs()).collect();
        assert_eq!(delays, [3_600, 300, 600, 1_200, 2_400, 3_600]);
        assert_eq!(scanner.next_delay(i32::MAX).as_secs(), 3_600);
    }
}
