//! A catalog of N offers in Postgres (benches/catalog/generate.sql): how long
//! the snapshot takes to load and to build, how much memory it keeps, and how
//! long a committed change takes to be served, alone and in a burst of 10,000.
//! `benches/catalog/run.sh` runs it for 1k, 10k and 100k offers, one process
//! each, so every resident-memory figure is that size's alone.
//!
//! `cargo run --release --example catalog_scale -- ADMIN_URL OFFERS`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use switchyard::catalog::reload::{self, ReloadSettings};
use switchyard::catalog::url_template::{Macro, MacroValues};
use switchyard::catalog::{ApprovalStatus, Catalog, CatalogHandle, Origin, postgres};

const GENERATE: &str = include_str!("generate.sql");
const TRIALS: usize = 10;
const BURST: usize = 10_000;
const BURST_CONNECTIONS: usize = 4;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let admin_url = args
        .next()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let offers: i64 = args.next().unwrap_or_else(|| "1000".into()).parse()?;
    // `build-only`: stop after the first build, for a heap profiler.
    let build_only = args.next().as_deref() == Some("build-only");
    let pool = prepare(&admin_url, offers).await?;
    let rss_start = rss_kb();

    // The first build, as at start-up; then two more with the first kept, as a
    // reload builds its candidate while the served snapshot stays.
    let mut loads = Vec::new();
    let mut builds = Vec::new();
    let mut load_cpu = Vec::new();
    let mut build_cpu = Vec::new();
    let mut served = None;
    let mut rss_first = 0;
    for round in 0..3 {
        let (started, cpu) = (Instant::now(), cpu_time());
        let source = postgres::load(&pool, None).await?;
        loads.push(started.elapsed());
        load_cpu.push(cpu_time() - cpu);
        let (started, cpu) = (Instant::now(), cpu_time());
        let catalog = Catalog::build(source, Origin::Postgres, round + 1)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        builds.push(started.elapsed());
        build_cpu.push(cpu_time() - cpu);
        served = Some(catalog);
        // As a reload does once it has swapped the new snapshot in.
        reload::release_freed_memory();
        if round == 0 {
            rss_first = rss_kb();
            if build_only {
                println!("rss after the first build: {} MB", rss_first / 1000);
                // Kept to the end, so a heap profiler lists what it holds as leaked.
                std::mem::forget(served);
                return Ok(());
            }
        }
    }
    let counts = served.as_ref().map(Catalog::counts);
    let rss_third = rss_kb();
    drop(served);
    println!("offers: {offers} ({counts:?})");
    // The wall clock moves with the machine's load; CPU time is this
    // process's alone (Postgres's side of the load is not in it).
    println!("load: {}; cpu {}", spread(&loads), spread(&load_cpu));
    println!("build: {}; cpu {}", spread(&builds), spread(&build_cpu));
    println!(
        "rss: {} MB at start, {} MB after the first build, {} MB after three, {} MB once dropped \
         (peak {} MB)",
        rss_start / 1000,
        rss_first / 1000,
        rss_third / 1000,
        rss_kb() / 1000,
        hwm_kb() / 1000
    );

    let handle = CatalogHandle::new();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let reloader = reload::start(
        pool.clone(),
        handle.clone(),
        ReloadSettings::default(),
        stopped,
    )
    .await;
    let mut conn = PgConnection::connect(&db_url(&admin_url, offers)).await?;
    let mut url_times = Vec::new();
    let mut approval_times = Vec::new();
    for trial in 0..TRIALS {
        let offer = 1 + (trial as i64 * 7919) % offers;
        let marker = format!("t{trial}r{}", run_id());
        url_times.push(change_url(&mut conn, &handle, offer, &marker).await?);
        approval_times.push(toggle_approval(&mut conn, &handle, offer).await?);
    }
    println!("one offer URL changed to served: {}", spread(&url_times));
    println!(
        "one approval changed to served: {}",
        spread(&approval_times)
    );

    burst(&pool, &handle, offers).await?;
    let _ = stop.send(true);
    let _ = reloader.await;
    Ok(())
}

/// A database holding the generated catalog of `offers`, made once and reused.
async fn prepare(admin_url: &str, offers: i64) -> anyhow::Result<PgPool> {
    let name = db_name(offers);
    let mut admin = PgConnection::connect(admin_url).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    let pool = if exists {
        PgPoolOptions::new()
            .max_connections(8)
            .connect(&db_url(admin_url, offers))
            .await?
    } else {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(&db_url(admin_url, offers))
            .await?;
        let started = Instant::now();
        let generated = async {
            switchyard::app::MIGRATOR.run(&pool).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "SET bench.offers = {offers}; {GENERATE}"
            )))
            .execute(&pool)
            .await?;
            Ok::<_, anyhow::Error>(())
        }
        .await;
        if let Err(error) = generated {
            pool.close().await;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
                .execute(&mut admin)
                .await?;
            return Err(error.context("generating the catalog"));
        }
        eprintln!("generated {name} in {:.1?}", started.elapsed());
        pool
    };
    Ok(pool)
}

fn db_name(offers: i64) -> String {
    format!("switchyard_bench_catalog_{offers}")
}

fn db_url(admin_url: &str, offers: i64) -> String {
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    format!("{base}/{}", db_name(offers))
}

/// Expands a URL with every macro empty, to see its literal parts.
struct Empty;
impl MacroValues for Empty {
    fn write_value(&self, _: Macro, _: &mut String) {}
}

fn served_url(handle: &CatalogHandle, offer: i64) -> String {
    handle
        .current()
        .and_then(|c| c.offer(offer).map(|o| o.url.expand(&Empty)))
        .unwrap_or_default()
}

async fn change_url(
    conn: &mut PgConnection,
    handle: &CatalogHandle,
    offer: i64,
    marker: &str,
) -> anyhow::Result<Duration> {
    let url = format!("https://changed.example/{marker}?t={{transaction_id}}");
    sqlx::query("UPDATE offers SET offer_url = $2 WHERE id = $1")
        .bind(offer)
        .bind(&url)
        .execute(&mut *conn)
        .await?;
    let committed = Instant::now();
    wait_for(|| served_url(handle, offer).contains(marker)).await?;
    Ok(committed.elapsed())
}

async fn toggle_approval(
    conn: &mut PgConnection,
    handle: &CatalogHandle,
    offer: i64,
) -> anyhow::Result<Duration> {
    let (partner, status): (i64, ApprovalStatus) = sqlx::query_as(
        "UPDATE offer_approvals SET status = CASE status WHEN 'approved' THEN 'rejected'
                ELSE 'approved' END::approval_status
         WHERE (offer_id, partner_id) = (SELECT offer_id, partner_id FROM offer_approvals
                                         WHERE offer_id = $1 ORDER BY partner_id LIMIT 1)
         RETURNING partner_id, status",
    )
    .bind(offer)
    .fetch_one(&mut *conn)
    .await?;
    let committed = Instant::now();
    wait_for(|| {
        handle
            .current()
            .is_some_and(|c| c.approval(offer, partner) == Some(status))
    })
    .await?;
    Ok(committed.elapsed())
}

async fn wait_for(mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        anyhow::ensure!(Instant::now() < deadline, "change not served within 30 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// 10,000 one-row transactions from four connections at once: how long until
/// the last is served, how many snapshots that took, what memory did, and the
/// longest a snapshot read (what a redirect does first) waited meanwhile.
async fn burst(pool: &PgPool, handle: &Arc<CatalogHandle>, offers: i64) -> anyhow::Result<()> {
    let versions_before = handle.current().map_or(0, |c| c.version);
    let rss_before = rss_kb();
    let done = Arc::new(AtomicBool::new(false));
    let worst_read_us = Arc::new(AtomicU64::new(0));
    let peak_rss = Arc::new(AtomicU64::new(0));
    let probe = tokio::spawn({
        let (handle, done, worst, peak) = (
            handle.clone(),
            done.clone(),
            worst_read_us.clone(),
            peak_rss.clone(),
        );
        async move {
            while !done.load(Ordering::Relaxed) {
                let asked = Instant::now();
                tokio::time::sleep(Duration::from_millis(1)).await;
                let found = handle.current().and_then(|c| c.offer(1).map(|o| o.id));
                std::hint::black_box(found);
                // Past the 1 ms sleep itself: how long the task waited for a thread.
                let waited = asked.elapsed().saturating_sub(Duration::from_millis(1));
                worst.fetch_max(waited.as_micros() as u64, Ordering::Relaxed);
                peak.fetch_max(rss_kb(), Ordering::Relaxed);
            }
        }
    });
    let started = Instant::now();
    let writers: Vec<_> = (0..BURST_CONNECTIONS)
        .map(|w| {
            let (pool, run) = (pool.clone(), run_id());
            tokio::spawn(async move {
                for i in (w..BURST).step_by(BURST_CONNECTIONS) {
                    let offer = 1 + (i as i64 * 104_729) % offers;
                    sqlx::query("UPDATE offers SET name = $2 WHERE id = $1")
                        .bind(offer)
                        .bind(format!("Burst {i} of run {run}"))
                        .execute(&pool)
                        .await?;
                }
                Ok::<_, sqlx::Error>(())
            })
        })
        .collect();
    for writer in writers {
        writer.await??;
    }
    let committed = started.elapsed();
    let last = 1 + ((BURST - 1) as i64 * 104_729) % offers;
    let last_name = format!("Burst {} of run {}", BURST - 1, run_id());
    let all_committed = Instant::now();
    wait_for(|| {
        handle
            .current()
            .is_some_and(|c| c.offer(last).is_some_and(|o| *o.name == *last_name))
    })
    .await?;
    let served = all_committed.elapsed();
    done.store(true, Ordering::Relaxed);
    probe.await?;
    let snapshots = handle.current().map_or(0, |c| c.version) - versions_before;
    println!(
        "burst of {BURST} changes: committed in {committed:.1?}, the last served {served:.1?} later, \
         {snapshots} snapshots; rss {} MB before, peak {} MB, {} MB after; \
         longest wait of a snapshot read {:.1} ms",
        rss_before / 1000,
        peak_rss.load(Ordering::Relaxed) / 1000,
        rss_kb() / 1000,
        worst_read_us.load(Ordering::Relaxed) as f64 / 1000.0
    );
    Ok(())
}

/// Tells this run's edits from those a previous run left in the database.
fn run_id() -> u64 {
    static ID: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *ID.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs())
    })
}

fn spread(times: &[Duration]) -> String {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    format!(
        "min {:.0} ms, median {:.0} ms, max {:.0} ms ({} runs)",
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ms.len()
    )
}

/// User and system time of this process so far.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; zeroed is a valid rusage.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kb() -> u64 {
    status_kb("VmRSS:")
}

fn hwm_kb() -> u64 {
    status_kb("VmHWM:")
}
