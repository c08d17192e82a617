//! Postgres outages: a cuttable TCP proxy sits between the server and Postgres.
//! Redirects and postbacks go on while it is cut; events wait in the spill file
//! and are written exactly once when it is restored, across a clean restart and
//! after SIGKILL too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use crate::conversion_support::*;
use crate::pg_proxy::PgProxy;
use futures_util::future::join_all;
use switchyard::config::ServeConfig;

fn spill_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-spill-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn spill_file(dir: &Path) -> PathBuf {
    dir.join("events.spill.jsonl")
}

fn spilled_bytes(dir: &Path) -> u64 {
    std::fs::metadata(spill_file(dir)).map_or(0, |m| m.len())
}

async fn proxied() -> (TestDb, PgProxy) {
    let db = TestDb::create().await;
    db.exec(NETWORK).await;
    let proxy = PgProxy::start(SocketAddr::from(([127, 0, 0, 1], 5432))).await;
    (db, proxy)
}

fn outage_config(db: &TestDb, proxy: &PgProxy, spill: &Path) -> ServeConfig {
    let mut config = config_for(Some(db));
    config.database_url = Some(proxy.url_for(&db.url));
    config.spill_dir = Some(spill.to_path_buf());
    config.event_flush_ms = 50;
    config.event_write_timeout_ms = 1_000;
    config.conversion_lookup_ms = 300;
    config.reload_secs = 1;
    config
}

async fn clicks(client: &reqwest::Client, addr: SocketAddr, n: usize, tag: &str) -> Vec<String> {
    let mut tids = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let subs: Vec<String> = chunk.iter().map(|i| format!("{tag}{i}")).collect();
        let batch = subs
            .iter()
            .map(|sub| click(client, addr, OFFER_FLAT, 1, sub));
        tids.extend(join_all(batch).await);
    }
    tids
}

/// Postbacks for each click; every one must be judged (200) and approved.
async fn convert(client: &reqwest::Client, addr: SocketAddr, tids: &[String]) {
    for tid in tids {
        let (status, body) = postback(client, addr, &format!("transaction_id={tid}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "approved", "{body}");
    }
}

async fn rows_reach(db: &TestDb, clicks: i64, conversions: i64) -> bool {
    eventually(Duration::from_secs(30), || async {
        db.count("SELECT count(*) FROM clicks").await == clicks
            && db.count("SELECT count(*) FROM conversions").await == conversions
    })
    .await
}

async fn assert_exactly_once(db: &TestDb, clicks: i64, conversions: i64) {
    assert_eq!(db.count("SELECT count(*) FROM clicks").await, clicks);
    assert_eq!(
        db.count("SELECT count(DISTINCT transaction_id) FROM clicks")
            .await,
        clicks
    );
    assert_eq!(
        db.count("SELECT count(*) FROM conversions").await,
        conversions
    );
    assert_eq!(
        db.count("SELECT count(DISTINCT conversion_id) FROM conversions")
            .await,
        conversions
    );
    assert_eq!(
        db.count("SELECT count(*) FROM (SELECT transaction_id FROM conversions WHERE status = 'approved' GROUP BY 1 HAVING count(*) > 1) d").await,
        0,
        "a click converted twice"
    );
}

#[tokio::test]
async fn clicks_and_postbacks_through_an_outage_are_written_exactly_once() {
    let (db, proxy) = proxied().await;
    let spill = spill_dir("through");
    let server = start(outage_config(&db, &proxy, &spill)).await;
    let client = client();
    let addr = server.addr;

    let before = clicks(&client, addr, 100, "before").await;
    convert(&client, addr, &before[..20]).await;
    // A click written straight to Postgres, as by another instance: unknown to
    // this process's memory.
    let foreign = "00000000000000000000000000000f0e";
    db.exec(&format!(
        "INSERT INTO clicks (transaction_id, created_at, outcome, offer_id, advertiser_id, partner_id, ip, user_agent)
         VALUES ('{foreign}', now(), 'redirected', 1, 1, 1, '127.0.0.1', 'ua')"
    ))
    .await;

    // Cut mid-traffic: batches in flight fail and are spilled (any that did
    // commit before the cut are written once all the same).
    let (during, ()) = tokio::join!(clicks(&client, addr, 200, "during"), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        proxy.cut();
    });
    // Clicks from before and during the outage are in memory: attributed.
    convert(&client, addr, &before[20..40]).await;
    convert(&client, addr, &during[..40]).await;
    // A repeat of a conversion made before the outage: memory knows it.
    let (_, body) = postback(&client, addr, &format!("transaction_id={}", before[0])).await;
    assert_eq!(body["reason"], "DUPLICATE");
    // Memory does not know this click and Postgres cannot be asked: retry later.
    let response = client
        .get(format!("http://{addr}/postback?transaction_id={foreign}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "30");
    assert!(
        eventually(Duration::from_secs(10), || async {
            spilled_bytes(&spill) > 0
        })
        .await,
        "nothing was spilled"
    );
    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains("switchyard_events_spilled_total"),
        "{metrics}"
    );

    let (after, ()) = tokio::join!(clicks(&client, addr, 50, "after"), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        proxy.restore();
    });
    convert(&client, addr, &after[..10]).await;
    // The advertiser retries the deferred postback until it is judged.
    let mut verdict = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, body) = postback(&client, addr, &format!("transaction_id={foreign}")).await;
        if status == 200 {
            verdict = body;
            break;
        }
        assert_eq!(status, 503);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(verdict["status"], "approved", "{verdict}");

    // 350 clicks + the foreign one; 20 + 20 + 40 + 1 duplicate + 10 + 1 postbacks.
    let (n, m) = (351, 92);
    assert!(
        rows_reach(&db, n, m).await,
        "rows never reached {n} clicks and {m} conversions"
    );
    let report = server.shutdown().await.unwrap();
    assert!(report.spilled > 0);
    assert_eq!(report.lost, 0);
    assert_exactly_once(&db, n, m).await;
    assert!(
        !spill_file(&spill).exists(),
        "spill file left after full replay"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_clean_restart_during_an_outage_replays_the_spill_file() {
    let (db, proxy) = proxied().await;
    let spill = spill_dir("restart");
    let client = client();
    let first = start(outage_config(&db, &proxy, &spill)).await;
    let before = clicks(&client, first.addr, 20, "before").await;
    proxy.cut();
    let during = clicks(&client, first.addr, 100, "during").await;
    convert(&client, first.addr, &during[..30]).await;
    let report = first.shutdown().await.unwrap();
    assert!(report.spilled > 0, "{report:?}");
    assert_eq!(report.lost, 0);
    assert!(
        spilled_bytes(&spill) > 0,
        "clean shutdown during the outage left no spill file"
    );

    // The next run starts while Postgres is still unreachable, then it returns.
    let second = start(outage_config(&db, &proxy, &spill)).await;
    proxy.restore();
    assert!(
        eventually(Duration::from_secs(30), || async {
            second.catalog.current().is_some()
        })
        .await,
        "catalog never loaded"
    );
    // Clicks from the previous run convert, and its conversions are remembered.
    convert(&client, second.addr, &during[30..40]).await;
    convert(&client, second.addr, &before[..5]).await;
    let (_, body) = postback(
        &client,
        second.addr,
        &format!("transaction_id={}", during[0]),
    )
    .await;
    assert_eq!(body["reason"], "DUPLICATE");

    let (n, m) = (120, 46);
    assert!(
        rows_reach(&db, n, m).await,
        "rows never reached {n} clicks and {m} conversions"
    );
    second.shutdown().await.unwrap();
    assert_exactly_once(&db, n, m).await;
    assert!(!spill_file(&spill).exists());
    db.drop_database().await;
}

/// SIGKILL loses at most what arrived within one flush interval plus one write
/// timeout before the kill (docs/CONVERSIONS.md): clicks answered earlier are in
/// the spill file and written after the restart.
#[tokio::test]
async fn after_sigkill_events_older_than_the_flush_bound_survive() {
    let (db, proxy) = proxied().await;
    let spill = spill_dir("sigkill");
    let port = || {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let run = |port: u16| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("serve")
            .env("DATABASE_URL", proxy.url_for(&db.url))
            .env("SWITCHYARD_LISTEN", format!("127.0.0.1:{port}"))
            // Not the default 8081: tests run side by side.
            .env("SWITCHYARD_ADMIN_LISTEN", "127.0.0.1:0")
            .env("SWITCHYARD_SPILL_DIR", &spill)
            .env("SWITCHYARD_EVENT_FLUSH_MS", "50")
            .env("SWITCHYARD_EVENT_WRITE_TIMEOUT_MS", "500")
            .env("SWITCHYARD_RELOAD_SECS", "1")
            // The default admin address is one per machine: parallel tests
            // (and other suites) would fight over it.
            .env("SWITCHYARD_ADMIN_LISTEN", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let client = client();
    let first_port = port();
    let mut first = run(first_port);
    let addr = SocketAddr::from(([127, 0, 0, 1], first_port));
    let probe = format!("http://{addr}/readyz");
    assert!(
        eventually(Duration::from_secs(15), || async {
            client
                .get(&probe)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await,
        "server did not come up"
    );
    proxy.cut();
    let tids = clicks(&client, addr, 200, "k").await;
    convert(&client, addr, &tids[..20]).await;
    // Longer than flush interval + write timeout + the backoff's first step.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    first.start_kill().unwrap();
    let _ = first.wait().await;
    assert!(spilled_bytes(&spill) > 0);

    let second_port = port();
    let mut second = run(second_port);
    proxy.restore();
    let rows = rows_reach(&db, 200, 20).await;
    second.start_kill().unwrap();
    let _ = second.wait().await;
    assert!(
        rows,
        "{} clicks and {} conversions after the restart",
        db.count("SELECT count(*) FROM clicks").await,
        db.count("SELECT count(*) FROM conversions").await
    );
    assert_exactly_once(&db, 200, 20).await;
    let _ = std::fs::remove_dir_all(&spill);
    db.drop_database().await;
}

/// Clicks from `workers` concurrent clients until `stop`: how many were
/// redirected, and the slowest answer (reported, not asserted: timing belongs
/// to the load harness).
async fn click_load(
    addr: SocketAddr,
    workers: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (usize, Duration) {
    let tasks = (0..workers).map(|worker| {
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let client = client();
            let (mut sent, mut slowest) = (0usize, Duration::ZERO);
            while !*stop.borrow_and_update() {
                let started = std::time::Instant::now();
                let response = client
                    .get(format!(
                        "http://{addr}/c?oid=1&affid=1&sub1=w{worker}n{sent}"
                    ))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 302);
                slowest = slowest.max(started.elapsed());
                sent += 1;
            }
            (sent, slowest)
        })
    });
    let mut total = (0, Duration::ZERO);
    for (sent, slowest) in join_all(tasks).await.into_iter().map(Result::unwrap) {
        total = (total.0 + sent, total.1.max(slowest));
    }
    total
}

/// The writer used to write each batch inline: while Postgres hung, every
/// write held it for the write timeout, the small queue filled, and handlers
/// waited for it. Now writes run aside, a stalled or failed one sends batches to
/// the spill file, and no handler waits; every click is written once after.
#[tokio::test]
async fn redirects_never_wait_while_postgres_hangs_or_is_down() {
    let (db, proxy) = proxied().await;
    let spill = spill_dir("hang");
    let mut config = outage_config(&db, &proxy, &spill);
    // Small enough that a writer stuck for one write timeout (1 s) fills it.
    config.event_queue = 256;
    config.event_batch = 100;
    config.event_flush_ms = 20;
    let server = start(config).await;
    let addr = server.addr;
    wait_ready(addr).await;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(click_load(addr, 8, stopped));
    let step = Duration::from_millis(1_500);
    tokio::time::sleep(step).await;
    proxy.hang();
    tokio::time::sleep(step * 2).await;
    proxy.restore();
    tokio::time::sleep(step).await;
    proxy.cut();
    tokio::time::sleep(step).await;
    proxy.restore();
    tokio::time::sleep(step).await;
    stop.send(true).unwrap();
    let (sent, slowest) = load.await.unwrap();
    eprintln!("{sent} clicks, slowest answer {slowest:?}");
    assert!(sent > 1_000, "only {sent} clicks");

    assert!(
        eventually(Duration::from_secs(60), || async {
            db.count("SELECT count(*) FROM clicks").await == sent as i64
        })
        .await,
        "clicks never all reached Postgres"
    );
    let report = server.shutdown().await.unwrap();
    assert_eq!(
        report.waited, 0,
        "a handler waited for the writer: {report:?}"
    );
    assert!(report.spilled > 0, "{report:?}");
    assert_eq!(report.lost, 0);
    assert_eq!(
        db.count("SELECT count(DISTINCT transaction_id) FROM clicks")
            .await,
        sent as i64
    );
    assert!(!spill_file(&spill).exists(), "spill file left after replay");
    db.drop_database().await;
    let _ = std::fs::remove_dir_all(&spill);
}
