//! What the browser-side rules add on the redirect path: the same `/c`
//! click, one at a time over a keep-alive connection, with no rule and with
//! each browser-side rule on. With a rule, the click is two requests: the
//! first hop (the page instead of the redirect: no I/O) and the second hop
//! (`/continue` with a verdict: an Adscore signature checked, Anura's result
//! looked up at a local stand-in answering at once, or a reported latency).
//! Prints p50 and p99 of each hop; the visitor's own time on the page (the
//! providers' scripts) is not in them.
//! `cargo run --release --example interstitial_latency -- [REQUESTS]`

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use switchyard::config::{AdminListen, SecretText, ServeConfig};
use switchyard::interstitial::adscore::sign_for_test;

const WARM_UP: usize = 300;
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) interstitial-bench";
const ZONE_KEY: &[u8] = b"bench zone key";

/// (name, the rule row, what the page would report).
fn settings(provider: &str) -> Vec<(&'static str, String, Report)> {
    vec![
        ("no browser-side rule", String::new(), Report::None),
        (
            "ADSCORE_SCRIPT",
            "[{ kind: ADSCORE_SCRIPT, params: { zone: z } }]".to_owned(),
            Report::Adscore,
        ),
        (
            "ANURA_SCRIPT",
            format!(
                "[{{ kind: ANURA_SCRIPT, params: {{ instance: 1, result_url: 'http://{provider}/result.json', timeout_ms: 200 }} }}]"
            ),
            Report::Anura,
        ),
        (
            "CLIENT_SIDE_SEARCH_LATENCY",
            "[{ kind: CLIENT_SIDE_SEARCH_LATENCY, params: { threshold_ms: 500, probe_url: 'https://search.example/' } }]"
                .to_owned(),
            Report::Latency,
        ),
    ]
}

#[derive(Clone, Copy)]
enum Report {
    None,
    Adscore,
    Anura,
    Latency,
}

impl Report {
    fn query(self) -> String {
        match self {
            Report::None => String::new(),
            Report::Adscore => {
                let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
                let signature =
                    sign_for_test(ZONE_KEY, 0, now, now, IpAddr::from([127, 0, 0, 1]), UA);
                format!("&adscore={signature}")
            }
            Report::Anura => "&anura=good".to_owned(),
            Report::Latency => "&latency_ms=40".to_owned(),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(3_000);
    let provider = start_anura().await?;
    let dir = std::env::temp_dir().join(format!(
        "switchyard-interstitial-latency-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    println!("{requests} clicks per setting, one at a time, after {WARM_UP} of warm-up");
    println!(
        "{:<28} {:>12} {:>12} {:>13} {:>13}",
        "setting", "1st p50 µs", "1st p99 µs", "2nd p50 µs", "2nd p99 µs"
    );
    for (name, rules, report) in settings(&provider) {
        let catalog = dir.join("catalog.yaml");
        let rules = if rules.is_empty() {
            String::new()
        } else {
            format!("optimization_rules: {rules}")
        };
        std::fs::write(
            &catalog,
            format!(
                "advertisers: [{{ id: 1, name: A }}]
partners: [{{ id: 1, name: P }}]
offers: [{{ id: 1, advertiser_id: 1, name: O, offer_url: 'https://adv.example/?t={{transaction_id}}' }}]
offer_approvals: [{{ offer_id: 1, partner_id: 1 }}]
{rules}"
            ),
        )?;
        let mut config = ServeConfig::for_tests();
        config.admin_listen = AdminListen::Off;
        config.catalog_file = Some(catalog);
        config.events_file = dir.join("events.jsonl");
        config.interstitial.adscore_response_key = Some(SecretText(
            base64::engine::general_purpose::STANDARD.encode(ZONE_KEY),
        ));
        let server = switchyard::app::start(config).await?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(UA)
            .build()?;
        let url = format!("http://{}/c?oid=1&affid=1&sub1=bench", server.addr);
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for n in 0..WARM_UP + requests {
            let started = Instant::now();
            let response = client.get(&url).send().await?;
            let status = response.status();
            let page = response.text().await?;
            let first_hop = started.elapsed();
            let second_hop = if matches!(report, Report::None) {
                anyhow::ensure!(status == 302, "{name}: {status}");
                None
            } else {
                anyhow::ensure!(status == 200, "{name}: {status}");
                let next = next_hop(&page).ok_or_else(|| anyhow::anyhow!("{name}: no next hop"))?;
                let continue_url = format!("http://{}{next}{}", server.addr, report.query());
                let started = Instant::now();
                let answer = client.get(&continue_url).send().await?;
                anyhow::ensure!(answer.status() == 302, "{name}: {}", answer.status());
                Some(started.elapsed())
            };
            if n >= WARM_UP {
                first.push(first_hop);
                second.extend(second_hop);
            }
        }
        server.shutdown().await?;
        let (p50, p99) = percentiles(&mut first);
        let (s50, s99) = if second.is_empty() {
            ("-".to_owned(), "-".to_owned())
        } else {
            let (a, b) = percentiles(&mut second);
            (a.to_string(), b.to_string())
        };
        println!("{name:<28} {p50:>12} {p99:>12} {s50:>13} {s99:>13}");
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The second hop's path from the page's `data-next` attribute.
fn next_hop(page: &str) -> Option<&str> {
    let start = page.find("data-next=\"")? + "data-next=\"".len();
    let end = start + page[start..].find('"')?;
    Some(&page[start..end])
}

/// (p50, p99) in microseconds.
fn percentiles(times: &mut [Duration]) -> (u64, u64) {
    times.sort();
    let at = |q: usize| u64::try_from(times[times.len() * q / 100].as_micros()).unwrap_or(u64::MAX);
    (at(50), at(99))
}

/// Anura's `result.json`, answering `good` at once.
async fn start_anura() -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/result.json",
        axum::routing::get(|| async { axum::Json(serde_json::json!({"result": "good"})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr.to_string())
}
