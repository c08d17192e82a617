//! Keeps the snapshot fresh: LISTEN for catalog changes, debounce, rebuild, swap;
//! plus a periodic full reload in case a notification was missed.
//!
//! **Architecture invariant:** a reload that fails (database down, invalid data)
//! never touches the snapshot being served; it is logged and counted instead.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::{Catalog, CatalogHandle, Origin, postgres};

pub const CHANNEL: &str = "switchyard_catalog";

#[derive(Debug, Clone, Copy)]
pub struct ReloadSettings {
    /// Quiet time after a notification before reloading, so a burst of edits
    /// costs one reload.
    pub debounce: Duration,
    /// Full reload regardless of notifications.
    pub period: Duration,
}

impl Default for ReloadSettings {
    fn default() -> Self {
        Self {
            debounce: Duration::from_millis(100),
            period: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Load(#[from] postgres::LoadError),
    #[error(transparent)]
    Invalid(#[from] super::CatalogErrors),
}

/// How much of the served snapshot a reload may carry over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Re-read everything: start-up, reconnects and the periodic reload, which
    /// also covers the (2^-32) chance of a list edit keeping its fingerprint.
    Full,
    /// After a change notification: retargeting lists whose fingerprint did not
    /// change are reused, so a large list does not slow down every edit.
    ReuseUnchangedLists,
}

/// Loads, validates and swaps in one snapshot from Postgres.
pub async fn reload_once(
    pool: &PgPool,
    handle: &CatalogHandle,
    kind: Reload,
) -> Result<u64, ReloadError> {
    let started = std::time::Instant::now();
    let outcome = candidate(pool, handle, kind).await;
    metrics::histogram!("switchyard_catalog_reload_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    match outcome {
        Ok(catalog) => {
            let version = catalog.version;
            handle.swap(catalog);
            metrics::counter!("switchyard_catalog_reloads_total", "result" => "ok").increment(1);
            metrics::gauge!("switchyard_catalog_last_reload_ok").set(1.0);
            release_freed_memory();
            Ok(version)
        }
        Err(error) => {
            let result = match error {
                ReloadError::Load(_) => "load_error",
                ReloadError::Invalid(_) => "invalid",
            };
            metrics::counter!("switchyard_catalog_reloads_total", "result" => result).increment(1);
            metrics::gauge!("switchyard_catalog_last_reload_ok").set(0.0);
            tracing::warn!(%error, "catalog reload failed; still serving the last good snapshot");
            Err(error)
        }
    }
}

/// Loads and builds a candidate snapshot, sharing what it can with the one
/// being served.
async fn candidate(
    pool: &PgPool,
    handle: &CatalogHandle,
    kind: Reload,
) -> Result<Catalog, ReloadError> {
    let current = handle.current();
    let previous = match kind {
        Reload::Full => None,
        Reload::ReuseUnchangedLists => current.as_deref(),
    };
    let started = std::time::Instant::now();
    let mut source = postgres::load(pool, previous).await?;
    metrics::histogram!("switchyard_catalog_load_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    // Compiled targeting and rules are found by their whole spec, so sharing
    // them is sound on a full reload too.
    if let Some(current) = &current {
        source.shared = current.shared().clone();
    }
    drop(current);
    let version = handle.next_version();
    // Building 100k offers keeps a core busy for a while: on a blocking
    // thread, so the runtime's workers go on answering redirects meanwhile.
    let started = std::time::Instant::now();
    let built =
        tokio::task::spawn_blocking(move || Catalog::build(source, Origin::Postgres, version))
            .await
            .unwrap_or_else(|panicked| std::panic::resume_unwind(panicked.into_panic()));
    metrics::histogram!("switchyard_catalog_build_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    Ok(built?)
}

/// Hands the pages a reload freed back to the system. A load of 100k offers
/// allocates several times what the snapshot keeps (rows, JSON, the previous
/// snapshot), and glibc keeps freed memory for reuse, so without this the
/// resident size stays at the reload's peak.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has
    // no preconditions and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How long start-up waits for the first snapshot before serving anyway (with
/// `/readyz` false): a database that is down must not keep the port closed.
const FIRST_LOAD_WAIT: Duration = Duration::from_secs(3);

/// Subscribes to change notifications, then loads the first snapshot (in that
/// order, so no change can slip between them), then keeps reloading in the
/// background until `shutdown` flips. Returns once the first load is done or
/// `FIRST_LOAD_WAIT` has passed.
pub async fn start(
    pool: PgPool,
    handle: Arc<CatalogHandle>,
    settings: ReloadSettings,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (first_done, first_load) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let listener = connect_listener(&pool).await;
        if let Err(error) = reload_once(&pool, &handle, Reload::Full).await {
            tracing::error!(%error, "no catalog from Postgres yet; hits are discarded as NO_CATALOG until it loads");
        }
        let _ = first_done.send(());
        run(pool, handle, settings, listener, shutdown).await;
    });
    if tokio::time::timeout(FIRST_LOAD_WAIT, first_load)
        .await
        .is_err()
    {
        tracing::warn!("Postgres is slow or down: serving before the first catalog load");
    }
    task
}

/// Reconnects the listener on its own when the database goes away, and reloads
/// in full after every reconnect because notifications sent meanwhile are lost.
async fn run(
    pool: PgPool,
    handle: Arc<CatalogHandle>,
    settings: ReloadSettings,
    mut listener: Option<PgListener>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut periodic = tokio::time::interval(settings.period);
    periodic.tick().await;
    loop {
        if listener.is_none() {
            listener = connect_listener(&pool).await;
            if listener.is_some() {
                let _ = reload_once(&pool, &handle, Reload::Full).await;
            }
        }
        let notified = async {
            match listener.as_mut() {
                Some(l) => l.try_recv().await,
                None => {
                    // No listener: retry connecting soon instead of spinning.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(None)
                }
            }
        };
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = periodic.tick() => {
                let _ = reload_once(&pool, &handle, Reload::Full).await;
            }
            received = notified => match received {
                Ok(Some(_)) => {
                    debounce(listener.as_mut(), settings.debounce).await;
                    let _ = reload_once(&pool, &handle, Reload::ReuseUnchangedLists).await;
                }
                Ok(None) | Err(_) => {
                    if listener.is_some() {
                        tracing::warn!("catalog change listener lost its connection; reconnecting");
                    }
                    listener = None;
                }
            },
        }
    }
}

async fn connect_listener(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(CHANNEL).await.ok()?;
    Some(listener)
}

/// Swallows notifications until `quiet` passes without one, but never longer than
/// five quiet periods: a steady stream of edits must still show up promptly.
async fn debounce(listener: Option<&mut PgListener>, quiet: Duration) {
    let Some(listener) = listener else { return };
    let deadline = tokio::time::Instant::now() + quiet * 5;
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(quiet, listener.try_recv()).await {
            Ok(Ok(Some(_))) => continue,
            _ => return,
        }
    }
}
