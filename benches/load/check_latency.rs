//! What each third-party check adds to a click's latency on the redirect path,
//! against a local stand-in provider (loopback, answering at once): the same
//! `/c` click, one request at a time over a keep-alive connection, with no
//! check and with each check switched on. Prints p50 and p99 per setting and
//! their difference to the run without checks. The provider's own time is in
//! the figures; over a real network, add its round trip.
//! `cargo run --release --example check_latency -- [REQUESTS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use switchyard::config::{AdminListen, ServeConfig};

const WARM_UP: usize = 300;

/// (name, rules of the catalog's `optimization_rules`).
fn settings(provider: &str) -> Vec<(&'static str, String)> {
    vec![
        ("no check", String::new()),
        (
            "ANURA_DIRECT",
            "[{ kind: ANURA_DIRECT, params: { timeout_ms: 200 } }]".to_owned(),
        ),
        (
            "ADVERTISER_PREVALIDATION (uncached)",
            format!(
                "[{{ kind: ADVERTISER_PREVALIDATION, params: {{ url: 'http://{provider}/check?t={{transaction_id}}', timeout_ms: 200 }} }}]"
            ),
        ),
        (
            "ADVERTISER_PREVALIDATION (cached)",
            format!(
                "[{{ kind: ADVERTISER_PREVALIDATION, params: {{ url: 'http://{provider}/check?s={{sub1}}', cache_ttl_seconds: 3600, timeout_ms: 200 }} }}]"
            ),
        ),
        (
            "SEARCH_LATENCY (uncached)",
            "[{ kind: SEARCH_LATENCY, params: { max_latency_ms: 200, cache_ttl_seconds: 0 } }]"
                .to_owned(),
        ),
        (
            "SEARCH_LATENCY (cached)",
            "[{ kind: SEARCH_LATENCY, params: { max_latency_ms: 200 } }]".to_owned(),
        ),
    ]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(3_000);
    let calls = Arc::new(AtomicUsize::new(0));
    let provider = start_provider(calls.clone()).await?;
    let dir = std::env::temp_dir().join(format!("switchyard-check-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!("{requests} requests per setting, one at a time, after {WARM_UP} of warm-up");
    println!(
        "{:<38} {:>9} {:>9} {:>11} {:>11} {:>15}",
        "setting", "p50 µs", "p99 µs", "+p50 µs", "+p99 µs", "provider calls"
    );
    let mut base: Option<(u64, u64)> = None;
    for (name, rules) in settings(&provider) {
        let catalog = dir.join("catalog.yaml");
        std::fs::write(
            &catalog,
            format!(
                "advertisers: [{{ id: 1, name: A }}]
partners: [{{ id: 1, name: P }}]
offers: [{{ id: 1, advertiser_id: 1, name: O, offer_url: 'http://{provider}/landing?t={{transaction_id}}' }}]
offer_approvals: [{{ offer_id: 1, partner_id: 1 }}]
{}",
                if rules.is_empty() {
                    String::new()
                } else {
                    format!("optimization_rules: {rules}")
                }
            ),
        )?;
        let mut config = ServeConfig::for_tests();
        config.admin_listen = AdminListen::Off;
        config.catalog_file = Some(catalog);
        config.events_file = dir.join("events.jsonl");
        config.checks.anura_instance = Some("1".into());
        config.checks.anura_direct_url = format!("http://{provider}/direct.json");
        let server = switchyard::app::start(config).await?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let url = format!("http://{}/c?oid=1&affid=1&sub1=bench", server.addr);
        let mut times = Vec::with_capacity(requests);
        let calls_before = calls.load(Ordering::SeqCst);
        for n in 0..WARM_UP + requests {
            let started = Instant::now();
            let response = client.get(&url).send().await?;
            let waited = started.elapsed();
            anyhow::ensure!(response.status() == 302, "{name}: {}", response.status());
            if n >= WARM_UP {
                times.push(waited);
            }
        }
        server.shutdown().await?;
        times.sort();
        let p50 = micros(times[times.len() / 2]);
        let p99 = micros(times[times.len() * 99 / 100]);
        let (b50, b99) = *base.get_or_insert((p50, p99));
        println!(
            "{name:<38} {p50:>9} {p99:>9} {:>11} {:>11} {:>15}",
            p50 as i64 - b50 as i64,
            p99 as i64 - b99 as i64,
            calls.load(Ordering::SeqCst) - calls_before
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Anura Direct, an advertiser's check URL and the offer's host, answering at
/// once and counting the calls (a check that never called would look free).
async fn start_provider(calls: Arc<AtomicUsize>) -> anyhow::Result<String> {
    let count = axum::middleware::from_fn(move |request, next: axum::middleware::Next| {
        calls.fetch_add(1, Ordering::SeqCst);
        next.run(request)
    });
    let app = axum::Router::new()
        .route(
            "/direct.json",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({"result": "non-suspect", "mobile": null}))
            }),
        )
        .route(
            "/check",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/", axum::routing::head(|| async { StatusCode::OK }))
        .layer(count);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr.to_string())
}
