//! The admin listener (issue 11, part 6; issue 15, part 2): the KPI JSON and
//! page of a smart link and `/metrics` over a real socket, the bearer token
//! (never on `/metrics`), the tracking port that never serves them, and the
//! page as headless Chromium renders it.

use chrono::{DateTime, Utc};
use switchyard::config::{AdminListen, AdminToken};
use switchyard::kpi::record::{KpiRunRecord, record};
use switchyard::kpi::window::Window;
use switchyard::kpi::{Figures, KpiSettings, rank};

use crate::common::chromium::headless;
use crate::common::{self, TestDb};

/// Keeps the admin page's screenshot at this path, to look at it.
pub const SCREENSHOT_ENV: &str = "SWITCHYARD_ADMIN_SCREENSHOT";

/// KPI link 7 over offers 1..3 (the third named to test escaping), priority
/// link 8; the reset is before every run.
const NETWORK: &str = r#"
    INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
    INSERT INTO offers (id, advertiser_id, name, offer_url) VALUES
        (1, 1, 'Alpha', 'https://a.example/'), (2, 1, 'Beta', 'https://b.example/'),
        (3, 1, 'Gamma <script>alert("owned")</script>', 'https://c.example/');
    INSERT INTO smart_links (id, name, mechanism) VALUES
        (7, 'Summer <b>sale</b>', 'kpi'), (8, 'Plain', 'priority');
    INSERT INTO smart_link_offers (smart_link_id, offer_id) VALUES
        (7, 1), (7, 2), (7, 3), (8, 1);
    UPDATE smart_links SET optimization_reset_at = now() - interval '30 hours';
"#;

/// Five runs, one an hour, oldest first: leader 1, 1, 2, (threshold not
/// met), 3. Conversions out of `clicks` each.
const RUNS: [(u64, [u64; 3]); 5] = [
    (500, [9, 5, 1]),
    (500, [9, 6, 2]),
    (500, [4, 8, 2]),
    (10, [1, 1, 1]),
    (500, [3, 7, 9]),
];

async fn seed(db: &TestDb) {
    db.exec(NETWORK).await;
    let now = Utc::now();
    let mut previous: Option<Vec<i64>> = None;
    let mut conn = db.pool.acquire().await.unwrap();
    for (index, (clicks, conversions)) in RUNS.iter().enumerate() {
        let ran_at = now - chrono::Duration::hours(5 - index as i64);
        let run = run_at(ran_at, *clicks, *conversions, previous.as_deref());
        previous = Some(run.ranking.clone());
        switchyard::kpi::scheduler::insert(&mut conn, &run)
            .await
            .unwrap();
    }
}

fn run_at(
    ran_at: DateTime<Utc>,
    clicks: u64,
    conversions: [u64; 3],
    previous: Option<&[i64]>,
) -> KpiRunRecord {
    let offers: Vec<(i64, Figures)> = (1..=3)
        .zip(conversions)
        .map(|(id, c)| {
            let figures = Figures {
                clicks,
                unique_clicks: clicks,
                conversions: c,
                ..Figures::default()
            };
            (id, figures)
        })
        .collect();
    let result = rank(&KpiSettings::default(), &offers);
    let window = Window {
        start: ran_at - chrono::Duration::hours(24),
        end: ran_at,
    };
    record(7, ran_at, window, &result, previous)
}

struct Admin {
    db: TestDb,
    server: switchyard::app::RunningServer,
}

impl Admin {
    async fn start(token: Option<&str>) -> Admin {
        let db = TestDb::create().await;
        seed(&db).await;
        let mut config = common::config_for(Some(&db));
        config.admin_token = token.map(|t| AdminToken(t.to_owned()));
        let server = common::start(config).await;
        common::wait_ready(server.addr).await;
        Admin { db, server }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.admin_addr.unwrap())
    }

    async fn stop(self) {
        self.server.shutdown().await.unwrap();
        self.db.drop_database().await;
    }
}

async fn get(url: &str) -> (u16, String) {
    let response = common::client().get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn the_kpi_json_is_the_kpi_show_card_with_series_per_offer() {
    let admin = Admin::start(None).await;
    let (status, body) = get(&admin.url("/admin/smart-links/7/kpi")).await;
    assert_eq!(status, 200, "{body}");
    let kpi = json(&body);

    // Every field of `kpi show --json`, with the same value.
    let card = switchyard::kpi::show::overview(&admin.db.pool, 7)
        .await
        .unwrap();
    let card = serde_json::to_value(&card).unwrap();
    for (key, value) in card.as_object().unwrap() {
        assert_eq!(
            &kpi[key], value,
            "field `{key}` differs from kpi show --json"
        );
    }
    assert_eq!(kpi["current"]["ranking"], serde_json::json!([3, 2, 1]));
    assert_eq!(kpi["runs"].as_array().unwrap().len(), 5);
    assert_eq!(
        kpi["offers"][2]["name"],
        r#"Gamma <script>alert("owned")</script>"#
    );

    let series = kpi["series"].as_array().unwrap();
    let ids: Vec<i64> = series
        .iter()
        .map(|s| s["offer_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    let alpha = series[0]["points"].as_array().unwrap();
    assert_eq!(alpha.len(), 5, "one point per run");
    // Oldest run first: Alpha led, so a rank run meant all traffic for it.
    assert_eq!(alpha[0]["share"], 1.0);
    assert_eq!(alpha[0]["value"], 9.0 / 500.0);
    // Below the threshold: even spread.
    assert!((alpha[3]["share"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(alpha[4]["share"], 0.0);

    let metrics = common::metrics_text(&admin.server).await;
    assert!(
        metrics.contains(
            r#"switchyard_admin_requests_total{route="/admin/smart-links/{id}/kpi",status="200"}"#
        ),
        "admin requests are counted"
    );
    admin.stop().await;
}

#[tokio::test]
async fn a_configured_token_is_required_on_every_admin_route() {
    let admin = Admin::start(Some("s3cret-token")).await;
    let client = common::client();
    for path in ["/admin/smart-links/7/kpi", "/admin/smart-links/7"] {
        let url = admin.url(path);
        let missing = client.get(&url).send().await.unwrap();
        assert_eq!(missing.status(), 401, "{path} without a token");
        assert_eq!(missing.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            json(&missing.text().await.unwrap())["error"],
            "unauthorized"
        );
        for wrong in [
            "Bearer s3cret",
            "Bearer s3cret-token2",
            "Basic s3cret-token",
            "s3cret-token",
        ] {
            let response = client
                .get(&url)
                .header("authorization", wrong)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401, "{path} with `{wrong}`");
        }
        let right = client
            .get(&url)
            .header("authorization", "Bearer s3cret-token")
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 200, "{path} with the token");
    }
    let (status, metrics) = get(&admin.url("/metrics")).await;
    assert_eq!(status, 200, "Prometheus scrapes without the token");
    assert!(
        metrics.contains("switchyard_admin_requests_total"),
        "{metrics}"
    );
    admin.stop().await;
}

#[tokio::test]
async fn off_loopback_the_token_guards_every_admin_route_but_metrics() {
    let mut config = common::config_for(None);
    config.admin_listen = AdminListen::On("0.0.0.0:0".parse().unwrap());
    config.admin_token = Some(AdminToken("s3cret-token".to_owned()));
    let server = common::start(config).await;
    let admin_addr = server.admin_addr.unwrap();
    assert!(admin_addr.ip().is_unspecified(), "{admin_addr}");
    let base = format!("http://127.0.0.1:{}", admin_addr.port());
    let client = common::client();

    let (status, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200, "{metrics}");
    assert!(metrics.contains("switchyard_"), "{metrics}");

    let page = format!("{base}/admin/smart-links/1/kpi");
    let (status, body) = get(&page).await;
    assert_eq!(
        (status, json(&body)["error"].clone()),
        (401, "unauthorized".into())
    );
    let with_token = client
        .get(&page)
        .header("authorization", "Bearer s3cret-token")
        .send()
        .await
        .unwrap();
    // Past the token: no DATABASE_URL here, so the route itself answers.
    assert_eq!(with_token.status(), 503);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn metrics_are_served_on_the_admin_port_never_on_the_tracking_port() {
    let server = common::start(common::config_for(None)).await;
    common::wait_ready(server.addr).await;
    let (status, _) = get(&format!("http://{}/metrics", server.addr)).await;
    assert_eq!(status, 404, "/metrics on the tracking port");
    let (status, metrics) = get(&format!("http://{}/metrics", server.admin_addr.unwrap())).await;
    assert_eq!(status, 200, "/metrics on the admin port");
    assert!(
        metrics.contains("switchyard_snapshot_age_seconds"),
        "{metrics}"
    );
    // Probes stay where load balancers look for them.
    for probe in ["/healthz", "/readyz"] {
        let (status, _) = get(&format!("http://{}{probe}", server.addr)).await;
        assert_eq!(status, 200, "{probe} on the tracking port");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_admin_routes_are_not_served_on_the_tracking_port() {
    let admin = Admin::start(None).await;
    for path in ["/admin/smart-links/7/kpi", "/admin/smart-links/7"] {
        let (status, _) = get(&format!("http://{}{path}", admin.server.addr)).await;
        assert_eq!(status, 404, "{path} on the tracking port");
        let (status, _) = get(&admin.url(path)).await;
        assert_eq!(status, 200, "{path} on the admin port");
    }
    // Nor tracking on the admin port.
    let (status, body) = get(&admin.url("/c?oid=1&affid=1")).await;
    assert_eq!(
        (status, json(&body)["error"].clone()),
        (404, "not_found".into())
    );
    assert_ne!(admin.server.admin_addr, Some(admin.server.addr));
    admin.stop().await;
}

#[tokio::test]
async fn the_page_escapes_every_name_from_the_catalog() {
    let admin = Admin::start(None).await;
    let response = common::client()
        .get(admin.url("/admin/smart-links/7"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let page = response.text().await.unwrap();
    assert!(!page.contains("<script"), "an offer name became markup");
    assert!(!page.contains("<b>sale"), "the link name became markup");
    assert!(page.contains("Gamma &lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;"));
    assert!(page.contains("Summer &lt;b&gt;sale&lt;/b&gt;"));
    admin.stop().await;
}

#[tokio::test]
async fn unknown_and_non_kpi_links_answer_clearly() {
    let admin = Admin::start(None).await;
    for path in [
        "/admin/smart-links/99/kpi",
        "/admin/smart-links/99",
        "/admin/smart-links/x7/kpi",
    ] {
        let (status, body) = get(&admin.url(path)).await;
        assert_eq!(
            (status, json(&body)["error"].clone()),
            (404, "unknown_smart_link".into()),
            "{path}"
        );
    }
    let (status, body) = get(&admin.url("/admin/smart-links/8/kpi")).await;
    assert_eq!(status, 200);
    let plain = json(&body);
    assert_eq!(plain["mechanism"], "priority");
    assert_eq!(plain["runs"], serde_json::json!([]));
    let (status, page) = get(&admin.url("/admin/smart-links/8")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Not a KPI link"), "{page}");
    admin.stop().await;
}

#[tokio::test]
async fn without_a_database_the_admin_routes_say_so() {
    let server = common::start(common::config_for(None)).await;
    let (status, body) = get(&format!(
        "http://{}/admin/smart-links/1/kpi",
        server.admin_addr.unwrap()
    ))
    .await;
    assert_eq!(
        (status, json(&body)["error"].clone()),
        (503, "no_database".into())
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_admin_listener_off_loopback_needs_a_token_to_start() {
    let mut config = common::config_for(None);
    config.admin_listen = AdminListen::On("0.0.0.0:0".parse().unwrap());
    let error = match switchyard::app::start(config).await {
        Ok(_) => panic!("started with an open admin listener and no token"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("SWITCHYARD_ADMIN_TOKEN"), "{error}");

    let mut config = common::config_for(None);
    config.admin_listen = AdminListen::Off;
    let server = common::start(config).await;
    assert_eq!(server.admin_addr, None);
    // Off means no metrics anywhere (start-up warns), not metrics on the
    // tracking port.
    let (status, _) = get(&format!("http://{}/metrics", server.addr)).await;
    assert_eq!(status, 404);
    server.shutdown().await.unwrap();
}

fn captures(dom: &str, pattern: &str) -> Vec<i64> {
    regex::Regex::new(pattern)
        .unwrap()
        .captures_iter(dom)
        .map(|c| c[1].parse().unwrap())
        .collect()
}

#[tokio::test]
async fn headless_chromium_renders_the_ranking_the_runs_and_a_series_per_offer() {
    let admin = Admin::start(None).await;
    let url = admin.url("/admin/smart-links/7");
    let dom = headless(&url, &["--dump-dom".to_owned()]).await;

    assert!(dom.contains("<h2>KPI overview</h2>"), "{dom}");
    assert_eq!(
        captures(&dom, r#"<tr class="offer" data-offer="(\d+)""#),
        vec![3, 2, 1],
        "the current ranking, best first"
    );
    assert_eq!(
        captures(&dom, r#"<tr class="run" data-run="(\d+)""#).len(),
        5,
        "one row per run"
    );
    assert!(
        dom.contains("new leader: #3 Gamma &lt;script&gt;"),
        "the last run's change"
    );
    assert!(dom.contains("not met"), "the run below the threshold");
    for kind in ["metric", "share"] {
        let mut series = captures(
            &dom,
            &format!(r#"<g class="series series-{kind}" data-offer="(\d+)""#),
        );
        series.sort_unstable();
        assert_eq!(series, vec![1, 2, 3], "one {kind} series per offer");
    }
    assert_eq!(
        captures(&dom, r#"<li class="legend-item" data-offer="(\d+)""#),
        vec![1, 2, 3]
    );
    assert!(
        !dom.contains("<script"),
        "no script element in the rendered page"
    );

    // And it paints: a full-size PNG with more in it than a blank page.
    let png = std::env::temp_dir().join(format!("switchyard-admin-{}.png", std::process::id()));
    headless(
        &url,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,1400".to_owned(),
        ],
    )
    .await;
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    match std::env::var_os(SCREENSHOT_ENV) {
        Some(keep) => std::fs::rename(&png, keep).unwrap(),
        None => std::fs::remove_file(&png).unwrap(),
    }
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 1400));
    assert!(
        bytes.len() > 30_000,
        "a near-blank screenshot: {} bytes",
        bytes.len()
    );
    admin.stop().await;
}
