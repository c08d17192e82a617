//! Assembles a running server from a `ServeConfig`: catalog source, event sink,
//! background tasks, router, listener; and takes it down cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::HeaderValue;
use chrono::Utc;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::AdminState;
use crate::catalog::{self, Catalog, CatalogHandle, Origin};
use crate::config::{AdminListen, EnrichmentConfig, ServeConfig};
use crate::conversions::Conversions;
use crate::counters::CounterStore;
use crate::events::{Event, Sink, SpillFile, spawn_writer, writer::WriterReport};
use crate::http::{self, AppState};
use crate::visit::client_ip::TrustedProxies;
use crate::visit::device::DeviceDetector;
use crate::visit::enrich::Enricher;
use crate::visit::geo::GeoDatabases;

/// The embedded migrations, for `switchyard migrate` and `--migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub struct RunningServer {
    pub addr: SocketAddr,
    /// The admin listener's address; `None` when it is `off`.
    pub admin_addr: Option<SocketAddr>,
    pub catalog: Arc<CatalogHandle>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<WriterReport>>,
}

impl RunningServer {
    /// Stops accepting, finishes in-flight requests, drains the event log.
    pub async fn shutdown(self) -> anyhow::Result<WriterReport> {
        let _ = self.shutdown.send(true);
        self.task.await.context("server task panicked")?
    }

    /// Waits until the server stops on its own (it only does on error).
    pub async fn wait(self) -> anyhow::Result<WriterReport> {
        self.task.await.context("server task panicked")?
    }
}

pub async fn connect(database_url: &str, pool_size: u32) -> anyhow::Result<PgPool> {
    // Lazy: a database that is down at start-up must not keep the server down.
    PgPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(database_url)
        .context("parsing DATABASE_URL")
}

/// GeoIP databases (each optional, watched for replacement on disk) and the
/// user-agent rules.
pub fn build_enricher(config: &EnrichmentConfig) -> anyhow::Result<Enricher> {
    let geo = Arc::new(GeoDatabases::open(&config.geo_paths()).context("opening GeoIP databases")?);
    geo.clone().spawn_watcher(Duration::from_secs(30));
    let device = match &config.ua_regexes {
        Some(path) => {
            Arc::new(DeviceDetector::from_path(path).context("loading user-agent regexes")?)
        }
        None => DeviceDetector::shared_embedded()
            .context("compiling the embedded user-agent regexes")?,
    };
    Ok(Enricher::new(geo, device))
}

/// Expired recency, rate-limit and cap entries are dropped in the background so
/// in-process counters stay bounded.
fn spawn_sweeper(
    counters: Arc<CounterStore>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = every.tick() => counters.sweep(Utc::now()),
                _ = shutdown.changed() => return,
            }
        }
    })
}

/// The clicks and conversions spilled by a previous run, so that memory knows
/// them again and their postbacks can be attributed and deduplicated while
/// Postgres is still down. Read before the writer starts replaying (and
/// removing) the file. A file that cannot be read here is still replayed.
async fn spilled_for_attribution(dir: &std::path::Path) -> Vec<Event> {
    let mut kept = Vec::new();
    let visited = crate::events::spill::for_each_event(dir, |event| {
        let useful = match event {
            Event::Hit(hit) => hit.redirected,
            Event::Conversion(_) => true,
            Event::ConversionEvent(_) | Event::PostbackAttempt(_) | Event::PostbackDelivery(_) => {
                false
            }
        };
        if useful {
            kept.push(event.clone());
        }
    })
    .await;
    if let Err(error) = visited {
        tracing::warn!(%error, "could not read the spill file for attribution");
    }
    kept
}

fn remember_spilled(conversions: &Conversions, spilled: &[Event]) {
    let now = Utc::now();
    for event in spilled {
        match event {
            Event::Hit(hit) => conversions.remember_hit(hit, now),
            Event::Conversion(conversion) => conversions.remember_conversion(conversion, now),
            Event::ConversionEvent(_) | Event::PostbackAttempt(_) | Event::PostbackDelivery(_) => {}
        }
    }
}

pub async fn start(config: ServeConfig) -> anyhow::Result<RunningServer> {
    config.validate()?;
    // First, and locked before it is read: a second instance on the same
    // directory stops here, before it touches Postgres, Redis or the file the
    // first one appends to and removes.
    let spill = match &config.spill_dir {
        Some(dir) => Some(
            SpillFile::open(dir)
                .await
                .with_context(|| format!("opening the spill directory {}", dir.display()))?,
        ),
        None => None,
    };
    let prometheus = crate::observability::prometheus()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let catalog = CatalogHandle::new();

    let mut restore_pool = None;
    let (sink, reload_task) = match &config.database_url {
        Some(url) => {
            let pool = connect(url, config.db_pool).await?;
            if config.migrate {
                MIGRATOR.run(&pool).await.context("running migrations")?;
            }
            let task = catalog::reload::start(
                pool.clone(),
                catalog.clone(),
                config.reload_settings(),
                shutdown_rx.clone(),
            )
            .await;
            restore_pool = Some(pool.clone());
            (Sink::Postgres(pool), Some(task))
        }
        None => {
            let (source, origin) = match &config.catalog_file {
                Some(path) => (
                    catalog::file::load(path)?,
                    Origin::File(path.display().to_string()),
                ),
                None => (
                    catalog::file::parse(catalog::file::DEMO_CATALOG, "embedded demo catalog")?,
                    Origin::File("embedded demo".to_owned()),
                ),
            };
            let built = Catalog::build(source, origin, catalog.next_version())
                .context("validating the catalog file")?;
            catalog.swap(built);
            tracing::info!(events.file = %config.events_file.display(), "no DATABASE_URL: serving the catalog file, events go to a JSON-lines file");
            (Sink::JsonLines(config.events_file.clone()), None)
        }
    };

    let enricher = Arc::new(build_enricher(&config.enrichment)?);
    let counters = Arc::new(
        CounterStore::connect(&config.counter_settings())
            .await
            .context("configuring counters (SWITCHYARD_REDIS_URL)")?,
    );
    if let (Some(pool), Some(snapshot)) = (&restore_pool, catalog.current()) {
        crate::counters::restore::restore_caps(pool, &snapshot, &counters, Utc::now()).await;
    }
    let cap_restorer = restore_pool.clone().map(|pool| {
        crate::counters::restore::spawn_new_cap_restorer(
            pool,
            catalog.clone(),
            counters.clone(),
            shutdown_rx.clone(),
        )
    });
    let sweeper = spawn_sweeper(counters.clone(), shutdown_rx.clone());
    // Every instance maintains the partitions; the advisory locks make each
    // change happen once. Rows never wait for it: a day without its partition
    // goes to the default one.
    let partition_task = restore_pool.clone().map(|pool| {
        crate::partitions::task::spawn(pool, config.partition_settings(), shutdown_rx.clone())
    });
    // KPI runs need the rollups, so only with a database; every instance runs
    // a scheduler, the advisory locks keep a link to one run at a time.
    let kpi_scheduler = restore_pool.clone().map(|pool| {
        crate::kpi::scheduler::spawn(
            pool,
            catalog.clone(),
            crate::kpi::scheduler::TICK,
            shutdown_rx.clone(),
        )
    });

    // Offer URL scans are stored in Postgres, so only with a database; every
    // instance runs a scanner, the advisory locks keep an offer to one scan.
    let scanner = match (&restore_pool, config.scan_enabled) {
        (Some(pool), true) => {
            let scanner = crate::scanner::Scanner::new(&config.scan)
                .context("configuring the offer URL scanner (SWITCHYARD_SCAN_*)")?;
            Some(crate::scanner::schedule::spawn(
                pool.clone(),
                catalog.clone(),
                Arc::new(scanner),
                crate::scanner::schedule::TICK,
                shutdown_rx.clone(),
            ))
        }
        _ => None,
    };

    let spilled = match &config.spill_dir {
        Some(dir) => spilled_for_attribution(dir).await,
        None => Vec::new(),
    };
    let (events, writer) = spawn_writer(sink, config.writer_settings(), spill);
    // One client for partner postbacks and third-party checks.
    let http_client =
        crate::postbacks::client::http_client().context("building the outgoing HTTP client")?;
    let (postback_queue, postback_task) = crate::postbacks::spawn_dispatcher(
        config.postback_settings(),
        events.clone(),
        restore_pool.clone(),
        shutdown_rx.clone(),
        http_client.clone(),
    );
    let conversions = Arc::new(Conversions::new(
        config.conversion_settings(),
        catalog.clone(),
        counters.clone(),
        restore_pool.clone(),
        events.clone(),
        postback_queue,
    ));
    remember_spilled(&conversions, &spilled);
    drop(spilled);
    let fallback_url = match &config.fallback_url {
        Some(url) => Some(
            HeaderValue::try_from(url.as_str())
                .context("fallback URL is not a valid header value")?,
        ),
        None => None,
    };
    let event_queue = events.depth();
    let state = Arc::new(AppState {
        catalog: catalog.clone(),
        counters,
        enricher,
        events,
        conversions,
        trusted_proxies: TrustedProxies::new(config.trusted_proxies.clone()),
        fallback_url,
        public_host: config.public_host.clone(),
        cookies: config.cookie_policy(),
        checks: Arc::new(crate::checks::CheckRunner::new(
            config.checks.runner_settings(),
            http_client,
        )),
        interstitial: Arc::new(crate::interstitial::Interstitial::new(&config.interstitial)),
    });
    let interstitial_sweeper = http::spawn_interstitial_sweeper(state.clone(), shutdown_rx.clone());
    let held_state = state.clone();
    let router = http::router(state);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "switchyard listening");
    // Its own listener, so the admin routes can never be reached on the
    // tracking port, whatever a proxy in front forwards.
    let admin = match config.admin_listen {
        AdminListen::Off => {
            // Not refused: a load test or a throwaway instance may want no
            // admin port. But nothing else serves /metrics, so say it loudly.
            tracing::warn!(
                "the admin listener is off (SWITCHYARD_ADMIN_LISTEN=off): /metrics is not served, Prometheus cannot scrape this instance"
            );
            None
        }
        AdminListen::On(admin_addr) => {
            let listener = tokio::net::TcpListener::bind(admin_addr)
                .await
                .with_context(|| format!("binding the admin listener {admin_addr}"))?;
            let admin_addr = listener.local_addr()?;
            tracing::info!(addr = %admin_addr, token = config.admin_token.is_some(), "switchyard admin listening");
            let router = crate::admin::router(
                Arc::new(AdminState {
                    catalog: catalog.clone(),
                    pool: restore_pool.clone(),
                    prometheus: Some(prometheus),
                    event_queue: Some(event_queue),
                }),
                config.admin_token.as_ref(),
            );
            let mut stop = shutdown_rx.clone();
            let task = tokio::spawn(http::server::serve(listener, router, async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            }));
            Some((admin_addr, task))
        }
    };
    let admin_addr = admin.as_ref().map(|(addr, _)| *addr);

    let mut stop = shutdown_rx.clone();
    let task = tokio::spawn(async move {
        http::server::serve(listener, router, async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        })
        .await;
        if let Some((_, admin)) = admin {
            let _ = admin.await;
        }
        // No request runs any more: what is still held is recorded, and the
        // last handle on the event sender goes before the writer drains.
        let _ = interstitial_sweeper.await;
        http::drain_interstitial(&held_state).await;
        drop(held_state);
        // The dispatcher's event senders must be gone before the writer can
        // finish. With Postgres, unfinished deliveries stay queued there.
        let _ = postback_task.await;
        // The router (and with it the last event sender) is gone: the writer drains.
        let report = writer.await.context("event writer panicked")?;
        if let Some(reload) = reload_task {
            reload.abort();
        }
        sweeper.abort();
        if let Some(partitions) = partition_task {
            partitions.abort();
        }
        // It watches the shutdown signal; an open run rolls back.
        if let Some(scheduler) = kpi_scheduler {
            let _ = scheduler.await;
        }
        // It watches the shutdown signal; an open scan rolls back.
        if let Some(scanner) = scanner {
            let _ = scanner.await;
        }
        if let Some(restorer) = cap_restorer {
            restorer.abort();
        }
        tracing::info!(
            events.written = report.written,
            events.spilled = report.spilled,
            events.lost = report.lost,
            "switchyard stopped"
        );
        Ok(report)
    });
    Ok(RunningServer {
        addr,
        admin_addr,
        catalog,
        shutdown: shutdown_tx,
        task,
    })
}
