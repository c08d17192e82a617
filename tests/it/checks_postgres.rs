//! Third-party checks end to end (issue 14): a real server, real Postgres, and
//! a local HTTP server standing in for each provider (Anura Direct, an
//! advertiser's prevalidation URL, an offer's upstream host).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::common::*;

/// How a stand-in provider answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Anura's answers chosen by the visitor's user agent (`good`, `bot`,
    /// `slow`, `garbage`); prevalidation's by `sub1` (`yes`, `no`, `html`).
    ByRequest,
    /// 500 to everything.
    Down,
    /// Waits this long, then answers as `ByRequest`.
    Slow(Duration),
}

#[derive(Clone)]
struct Provider {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    queries: Arc<Mutex<Vec<String>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

#[derive(Clone)]
struct ProviderState {
    calls: Arc<AtomicUsize>,
    queries: Arc<Mutex<Vec<String>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl Provider {
    async fn start(behaviour: Behaviour) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(behaviour));
        let state = ProviderState {
            calls: calls.clone(),
            queries: queries.clone(),
            behaviour: behaviour.clone(),
        };
        let app = axum::Router::new()
            .route("/direct.json", axum::routing::get(anura))
            .route("/check", axum::routing::get(prevalidation))
            .route("/", axum::routing::head(upstream))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            calls,
            queries,
            behaviour,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}

/// Counts the call and plays the behaviour; `None`: answer by the request.
async fn begin(state: &ProviderState, query: Option<String>) -> Option<Response> {
    state.calls.fetch_add(1, Ordering::SeqCst);
    state
        .queries
        .lock()
        .unwrap()
        .push(query.unwrap_or_default());
    let behaviour = *state.behaviour.lock().unwrap();
    match behaviour {
        Behaviour::Down => Some(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Behaviour::Slow(wait) => {
            tokio::time::sleep(wait).await;
            None
        }
        Behaviour::ByRequest => None,
    }
}

fn param(query: &str, name: &str) -> String {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Anura Direct as documented: `{"result": "non-suspect" | "suspect", ...}`.
async fn anura(State(state): State<ProviderState>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    if let Some(answer) = begin(&state, Some(query.clone())).await {
        return answer;
    }
    match param(&query, "ua").as_str() {
        "bot" => axum::Json(json!({"result": "suspect", "mobile": 0, "rule_sets": ["UE"]}))
            .into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            axum::Json(json!({"result": "non-suspect", "mobile": 0})).into_response()
        }
        "garbage" => "<html>oops</html>".into_response(),
        _ => axum::Json(json!({"result": "non-suspect", "mobile": null})).into_response(),
    }
}

/// An advertiser's check URL: `{"status": "ok"}` for visitors it wants.
async fn prevalidation(State(state): State<ProviderState>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    if let Some(answer) = begin(&state, Some(query.clone())).await {
        return answer;
    }
    match param(&query, "s").as_str() {
        "yes" => axum::Json(json!({"status": "ok"})).into_response(),
        "html" => "<html>".into_response(),
        _ => axum::Json(json!({"status": "duplicate lead"})).into_response(),
    }
}

/// The offer's host, for the latency check's `HEAD /`.
async fn upstream(State(state): State<ProviderState>, _headers: HeaderMap) -> Response {
    if let Some(answer) = begin(&state, None).await {
        return answer;
    }
    StatusCode::OK.into_response()
}

/// A port nothing listens on: a provider that is down hard.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

async fn hit(server: &switchyard::app::RunningServer, query: &str, ua: &str) -> reqwest::Response {
    client()
        .get(format!("http://{}/c?{query}", server.addr))
        .header("user-agent", ua)
        .send()
        .await
        .unwrap()
}

/// (discard_rule, offer_id, checks) of the click with this sub1.
async fn click(db: &TestDb, sub1: &str) -> (Option<String>, Option<i64>, Option<Value>) {
    sqlx::query_as("SELECT discard_rule, offer_id, checks FROM clicks WHERE sub1 = $1")
        .bind(sub1)
        .fetch_one(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("click {sub1}: {e}"))
}

fn words(checks: &Option<Value>) -> Vec<(String, String, bool)> {
    checks
        .as_ref()
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|v| {
                    (
                        v["check"].as_str().unwrap().to_owned(),
                        v["verdict"].as_str().unwrap().to_owned(),
                        v["monitor"].as_bool().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn verdict(check: &str, word: &str, monitor: bool) -> (String, String, bool) {
    (check.to_owned(), word.to_owned(), monitor)
}

#[tokio::test]
async fn anura_direct_discards_suspect_visitors_and_every_verdict_lands_in_clicks() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec(
        r#"INSERT INTO optimization_rules (kind, scope, offer_id, params)
           VALUES ('ANURA_DIRECT', 'offer', 1, '{"timeout_ms": 100}');
           INSERT INTO offers (id, advertiser_id, name, offer_url) VALUES (2, 1, 'Plain', 'https://plain.example/');
           INSERT INTO offer_approvals (offer_id, partner_id) VALUES (2, 1);"#,
    )
    .await;
    let anura = Provider::start(Behaviour::ByRequest).await;
    let mut config = config_for(Some(&db));
    config.checks.anura_instance = Some("777".into());
    config.checks.anura_direct_url = format!("http://{}/direct.json", anura.addr);
    let server = start(config).await;

    assert_eq!(
        hit(&server, "oid=1&affid=1&sub1=good", "good")
            .await
            .status(),
        302
    );
    assert_eq!(
        hit(&server, "oid=1&affid=1&sub1=bot", "bot").await.status(),
        404
    );
    // Past the timeout, and garbage: no verdict, and Anura fails open by default.
    assert_eq!(
        hit(&server, "oid=1&affid=1&sub1=slow", "slow")
            .await
            .status(),
        302
    );
    assert_eq!(
        hit(&server, "oid=1&affid=1&sub1=garbage", "garbage")
            .await
            .status(),
        302
    );
    // A hit on an offer without the rule asks nobody and stores NULL.
    assert_eq!(
        hit(&server, "oid=2&affid=1&sub1=plain", "bot")
            .await
            .status(),
        302
    );
    server.shutdown().await.unwrap();

    let query = anura.queries.lock().unwrap()[0].clone();
    assert_eq!(param(&query, "instance"), "777");
    assert_eq!(param(&query, "ip"), "127.0.0.1");
    assert_eq!(param(&query, "ua"), "good");
    assert_eq!(param(&query, "source"), "1", "the partner");
    assert_eq!(param(&query, "campaign"), "1", "the offer");
    assert_eq!(anura.calls(), 4);

    let (rule, offer, checks) = click(&db, "good").await;
    assert_eq!((rule, offer), (None, Some(1)));
    assert_eq!(
        words(&checks),
        [verdict("ANURA_DIRECT", "non-suspect", false)]
    );
    let latency = checks.unwrap()[0]["latency_us"].as_u64().unwrap();
    assert!(latency > 0 && latency < 100_000, "{latency}");
    let (rule, _, checks) = click(&db, "bot").await;
    assert_eq!(rule.as_deref(), Some("ANURA_DIRECT"));
    assert_eq!(words(&checks), [verdict("ANURA_DIRECT", "suspect", false)]);
    let (rule, _, checks) = click(&db, "slow").await;
    assert_eq!(rule, None);
    assert_eq!(words(&checks), [verdict("ANURA_DIRECT", "timeout", false)]);
    let (_, _, checks) = click(&db, "garbage").await;
    assert_eq!(
        words(&checks),
        [verdict("ANURA_DIRECT", "bad_answer", false)]
    );
    let (_, _, checks) = click(&db, "plain").await;
    assert_eq!(checks, None);
    db.drop_database().await;
}

#[tokio::test]
async fn monitor_mode_records_the_verdict_without_discarding() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec(
        r#"INSERT INTO optimization_rules (kind, scope, params)
           VALUES ('ANURA_DIRECT', 'global', '{"mode": "monitor", "on_error": "closed"}')"#,
    )
    .await;
    let anura = Provider::start(Behaviour::ByRequest).await;
    let mut config = config_for(Some(&db));
    config.checks.anura_instance = Some("777".into());
    config.checks.anura_direct_url = format!("http://{}/direct.json", anura.addr);
    let server = start(config).await;
    assert_eq!(
        hit(&server, "oid=1&affid=1&sub1=bot", "bot").await.status(),
        302
    );
    assert_eq!(
        hit(&server, "oid=1&affid=1&sub1=garbage", "garbage")
            .await
            .status(),
        302,
        "closed on error, but only monitored"
    );
    let metrics = metrics_text(&server).await;
    server.shutdown().await.unwrap();
    let (rule, offer, checks) = click(&db, "bot").await;
    assert_eq!((rule, offer), (None, Some(1)));
    assert_eq!(words(&checks), [verdict("ANURA_DIRECT", "suspect", true)]);
    let (rule, _, checks) = click(&db, "garbage").await;
    assert_eq!(rule, None);
    assert_eq!(
        words(&checks),
        [verdict("ANURA_DIRECT", "bad_answer", true)]
    );
    assert!(
        metrics.contains(r#"switchyard_check_calls_total{check="ANURA_DIRECT",verdict="suspect"}"#),
        "{metrics}"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_failing_provider_is_cut_off_by_its_breaker_and_taken_back_after_a_probe() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec(
        r#"INSERT INTO optimization_rules (kind, scope, offer_id, params)
           VALUES ('ANURA_DIRECT', 'offer', 1, '{"timeout_ms": 50}')"#,
    )
    .await;
    let anura = Provider::start(Behaviour::Down).await;
    let mut config = config_for(Some(&db));
    config.checks.anura_instance = Some("777".into());
    config.checks.anura_direct_url = format!("http://{}/direct.json", anura.addr);
    config.checks.check_breaker_failures = 3;
    config.checks.check_breaker_cooldown_ms = 400;
    let server = start(config).await;
    for n in 0..10 {
        let sub = format!("down{n}");
        let ua = format!("good-{n}");
        assert_eq!(
            hit(&server, &format!("oid=1&affid=1&sub1={sub}"), &ua)
                .await
                .status(),
            302,
            "fails open"
        );
    }
    assert_eq!(
        anura.calls(),
        3,
        "the breaker opened after 3 failures in a row"
    );
    let open = metrics_text(&server).await;
    assert!(
        open.contains(r#"switchyard_check_breaker_open{check="ANURA_DIRECT"} 1"#),
        "{open}"
    );

    anura.set(Behaviour::ByRequest);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        hit(&server, "oid=1&affid=1&sub1=probe", "bot")
            .await
            .status(),
        404
    );
    assert_eq!(
        hit(&server, "oid=1&affid=1&sub1=after", "bot")
            .await
            .status(),
        404
    );
    assert_eq!(anura.calls(), 5, "the probe closed the breaker");
    let closed = metrics_text(&server).await;
    assert!(
        closed.contains(r#"switchyard_check_breaker_open{check="ANURA_DIRECT"} 0"#),
        "{closed}"
    );
    server.shutdown().await.unwrap();
    assert_eq!(
        words(&click(&db, "down0").await.2),
        [verdict("ANURA_DIRECT", "unavailable", false)]
    );
    assert_eq!(
        words(&click(&db, "down9").await.2),
        [verdict("ANURA_DIRECT", "breaker_open", false)]
    );
    assert_eq!(
        words(&click(&db, "probe").await.2),
        [verdict("ANURA_DIRECT", "suspect", false)]
    );
    db.drop_database().await;
}

#[tokio::test]
async fn prevalidation_forwards_only_on_the_advertisers_yes_and_a_no_takes_the_fail_offer() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let advertiser = Provider::start(Behaviour::ByRequest).await;
    let down = closed_port();
    db.exec(&format!(
        r#"INSERT INTO offers (id, advertiser_id, name, offer_url)
               VALUES (2, 1, 'Fallback', 'https://fallback.example/?t={{transaction_id}}'),
                      (3, 1, 'Down', 'https://down.example/');
           INSERT INTO offer_approvals (offer_id, partner_id) VALUES (2, 1), (3, 1);
           UPDATE offers SET fail_offer_id = 2 WHERE id = 1;
           INSERT INTO optimization_rules (kind, scope, offer_id, params) VALUES
             ('ADVERTISER_PREVALIDATION', 'offer', 1,
              '{{"url": "http://{advertiser}/check?ip={{ip}}&s={{sub1}}&o={{offer_id}}&ua={{user_agent}}", "success_field": "status", "success_value": "ok", "cache_ttl_seconds": 60}}'),
             ('ADVERTISER_PREVALIDATION', 'offer', 3,
              '{{"url": "http://{down}/check?s={{sub1}}"}}');"#,
        advertiser = advertiser.addr,
    ))
    .await;
    let server = start(config_for(Some(&db))).await;

    let yes = hit(&server, "oid=1&affid=1&sub1=yes", "ua one").await;
    assert_eq!(yes.status(), 302);
    assert!(location(&yes).unwrap().starts_with("https://acme.example/"));
    // The same question again is answered from the cache.
    assert_eq!(
        hit(&server, "oid=1&affid=1&sub1=yes", "ua one")
            .await
            .status(),
        302
    );
    assert_eq!(advertiser.calls(), 1);
    let no = hit(&server, "oid=1&affid=1&sub1=no", "ua one").await;
    assert_eq!(no.status(), 302);
    assert!(
        location(&no)
            .unwrap()
            .starts_with("https://fallback.example/"),
        "a rejected visitor is fail traffic for the fail offer"
    );
    // Garbage and a dead advertiser: prevalidation fails closed by default.
    assert_eq!(
        hit(&server, "oid=3&affid=1&sub1=dead", "x").await.status(),
        404
    );
    db.exec("UPDATE offers SET fail_offer_id = NULL WHERE id = 1")
        .await;
    let reloaded = eventually(Duration::from_secs(10), || async {
        hit(&server, "oid=1&affid=1&sub1=html", "x").await.status() == 404
    })
    .await;
    assert!(reloaded);
    server.shutdown().await.unwrap();

    let query = advertiser.queries.lock().unwrap()[0].clone();
    assert_eq!(param(&query, "ip"), "127.0.0.1");
    assert_eq!(param(&query, "o"), "1");
    assert_eq!(param(&query, "ua"), "ua one");
    let (rule, offer, checks) = click(&db, "no").await;
    assert_eq!((rule, offer), (None, Some(2)));
    assert_eq!(
        words(&checks),
        [verdict("ADVERTISER_PREVALIDATION", "rejected", false)]
    );
    let (rule, _, checks) = click(&db, "dead").await;
    assert_eq!(rule.as_deref(), Some("ADVERTISER_PREVALIDATION"));
    assert_eq!(
        words(&checks),
        [verdict("ADVERTISER_PREVALIDATION", "unavailable", false)]
    );
    let bad: Vec<Option<Value>> =
        sqlx::query_scalar("SELECT checks FROM clicks WHERE sub1 = 'html'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(
        bad.iter()
            .any(|c| words(c) == [verdict("ADVERTISER_PREVALIDATION", "bad_answer", false)]),
        "{bad:?}"
    );
    let cached: Vec<Option<Value>> =
        sqlx::query_scalar("SELECT checks FROM clicks WHERE sub1 = 'yes' ORDER BY created_at")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(cached.len(), 2);
    assert_eq!(cached[1].as_ref().unwrap()[0]["verdict"], "accepted");
    db.drop_database().await;
}

#[tokio::test]
async fn search_latency_discards_offers_whose_upstream_hop_is_slow() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let fast = Provider::start(Behaviour::ByRequest).await;
    let slow = Provider::start(Behaviour::Slow(Duration::from_millis(300))).await;
    db.exec(&format!(
        r#"UPDATE offers SET offer_url = 'http://{fast}/landing?t={{transaction_id}}' WHERE id = 1;
           INSERT INTO offers (id, advertiser_id, name, offer_url)
               VALUES (2, 1, 'Slow', 'http://{slow}/landing?t={{transaction_id}}');
           INSERT INTO offer_approvals (offer_id, partner_id) VALUES (2, 1);
           INSERT INTO optimization_rules (kind, scope, params)
               VALUES ('SEARCH_LATENCY', 'global', '{{"max_latency_ms": 60, "cache_ttl_seconds": 0}}');"#,
        fast = fast.addr,
        slow = slow.addr,
    ))
    .await;
    let server = start(config_for(Some(&db))).await;
    assert_eq!(
        hit(&server, "oid=1&affid=1&sub1=fast", "x").await.status(),
        302
    );
    assert_eq!(
        hit(&server, "oid=2&affid=1&sub1=slow", "x").await.status(),
        404
    );
    server.shutdown().await.unwrap();
    assert_eq!(fast.calls(), 1, "one HEAD of the origin");
    assert_eq!(
        fast.queries.lock().unwrap()[0],
        "",
        "never the expanded offer URL"
    );
    let (rule, _, checks) = click(&db, "fast").await;
    assert_eq!(rule, None);
    assert_eq!(words(&checks), [verdict("SEARCH_LATENCY", "fast", false)]);
    let (rule, _, checks) = click(&db, "slow").await;
    assert_eq!(rule.as_deref(), Some("SEARCH_LATENCY"));
    assert_eq!(words(&checks), [verdict("SEARCH_LATENCY", "slow", false)]);
    let waited = checks.unwrap()[0]["latency_us"].as_u64().unwrap();
    assert!(
        waited < 250_000,
        "cut at max_latency_ms, not the upstream's 300 ms: {waited}"
    );
    db.drop_database().await;
}

/// A check refusing a smart link's first offer sends the hit to the next one,
/// and the first offer's cap is untouched: checks run before reservations.
#[tokio::test]
async fn a_smart_link_moves_past_an_offer_its_check_refuses_without_spending_its_cap() {
    let db = TestDb::create().await;
    let advertiser = Provider::start(Behaviour::ByRequest).await;
    db.exec(&format!(
        r#"INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
           INSERT INTO partners (id, name) VALUES (1, 'P');
           INSERT INTO offers (id, advertiser_id, name, offer_url, requires_approval) VALUES
               (1, 1, 'Checked', 'https://checked.example/', false),
               (2, 1, 'Next', 'https://next.example/', false);
           INSERT INTO offer_caps (offer_id, metric, period, cap_limit) VALUES (1, 'clicks', 'day', 1);
           INSERT INTO smart_links (id, name) VALUES (1, 'Priority');
           INSERT INTO smart_link_offers (smart_link_id, offer_id, priority) VALUES (1, 1, 1), (1, 2, 2);
           INSERT INTO optimization_rules (kind, scope, offer_id, params) VALUES
             ('ADVERTISER_PREVALIDATION', 'offer', 1,
              '{{"url": "http://{advertiser}/check?s={{sub1}}", "success_field": "status", "success_value": "ok"}}');"#,
        advertiser = advertiser.addr,
    ))
    .await;
    let server = start(config_for(Some(&db))).await;
    let link = |sub: &str| format!("http://{}/sl/1?affid=1&sub1={sub}", server.addr);
    let refused = client().get(link("no")).send().await.unwrap();
    assert!(
        location(&refused)
            .unwrap()
            .starts_with("https://next.example/")
    );
    let accepted = client().get(link("yes")).send().await.unwrap();
    assert!(
        location(&accepted)
            .unwrap()
            .starts_with("https://checked.example/"),
        "the refused hit did not spend offer 1's cap of one"
    );
    server.shutdown().await.unwrap();
    let (rule, offer, checks) = click(&db, "no").await;
    assert_eq!((rule, offer), (None, Some(2)));
    assert_eq!(
        words(&checks),
        [verdict("ADVERTISER_PREVALIDATION", "rejected", false)]
    );
    db.drop_database().await;
}
