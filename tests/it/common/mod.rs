//! Shared test support: a fresh Postgres database per test, a server on an
//! ephemeral port, and an HTTP client that does not follow redirects.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use switchyard::app::{self, RunningServer};
use switchyard::config::ServeConfig;

pub mod chromium;

/// A server-level Postgres URL other than the local default.
pub const TEST_DATABASE_URL_ENV: &str = "SWITCHYARD_TEST_DATABASE_URL";

/// Server-level Postgres URL; tests create and drop their own databases in it.
pub fn admin_url() -> String {
    std::env::var(TEST_DATABASE_URL_ENV)
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    /// A new empty database with every migration applied.
    pub async fn create() -> TestDb {
        Self::create_migrated_to(None).await
    }

    /// A new empty database with the migrations up to `version` applied (all
    /// of them with `None`), to test a migration on the rows before it.
    pub async fn create_migrated_to(version: Option<i64>) -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "switchyard_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin_url())
            .await
            .expect("Postgres must be reachable at SWITCHYARD_TEST_DATABASE_URL (default 127.0.0.1:5432)");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .execute(&admin)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let base = admin_url();
        let url = match base.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("unexpected database URL {base}"),
        };
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .unwrap();
        match version {
            None => app::MIGRATOR.run(&pool).await,
            Some(version) => app::MIGRATOR.run_to(version, &pool).await,
        }
        .expect("migrations apply on an empty database");
        TestDb { name, url, pool }
    }

    pub async fn drop_database(self) {
        self.pool.close().await;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin_url())
            .await
            .unwrap();
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&admin)
        .await;
    }

    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// A minimal network: advertiser 1, partner 1, offer 1 approved for partner 1.
pub const SMALL_NETWORK: &str = "
    INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
    INSERT INTO partners (id, name) VALUES (1, 'Blue Media'), (2, 'Red Traffic');
    INSERT INTO offers (id, advertiser_id, name, offer_url)
        VALUES (1, 1, 'Puzzle', 'https://acme.example/install?t={transaction_id}&s1={sub1}&p={affiliate_id}');
    INSERT INTO offer_approvals (offer_id, partner_id) VALUES (1, 1);
";

pub fn config_for(db: Option<&TestDb>) -> ServeConfig {
    let mut config = ServeConfig::for_tests();
    config.database_url = db.map(|d| d.url.clone());
    config
}

pub async fn start(config: ServeConfig) -> RunningServer {
    app::start(config).await.expect("server starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// Every `Set-Cookie` line of a response.
pub fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Runs the `switchyard` binary against a database and reads the JSON it
/// prints; the command must succeed.
pub async fn switchyard_json(args: &[&str], database_url: &str) -> serde_json::Value {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "switchyard {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Polls until `check` holds or the deadline passes; returns whether it held.
pub async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Waits until `/readyz` says a snapshot is loaded (start-up serves before a
/// slow first load finishes).
pub async fn wait_ready(addr: std::net::SocketAddr) {
    let url = format!("http://{addr}/readyz");
    let ready = eventually(Duration::from_secs(30), || async {
        client()
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(ready, "server at {addr} never became ready");
}

/// The Prometheus text a server exposes at `/metrics`, on its admin listener.
pub async fn metrics_text(server: &switchyard::app::RunningServer) -> String {
    let admin = server
        .admin_addr
        .expect("/metrics needs the admin listener");
    client()
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Stops a server process the way an orchestrator does (SIGTERM) and waits
/// up to 20 s for it to drain and exit.
pub async fn sigterm(child: &mut tokio::process::Child) -> std::process::ExitStatus {
    let pid = child.id().expect("the server is still running");
    let killed = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the server exits within 20 s of SIGTERM")
        .unwrap()
}
