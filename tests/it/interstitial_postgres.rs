//! The interstitial's second hop over a real socket, recorded in the real
//! Postgres (issue 14, part 3): good and bad verdicts, forged, expired and
//! replayed hops, garbage, no JavaScript, and Anura's lookup against a local
//! stand-in that answers, stalls or is down.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::Query;
use base64::Engine;
use switchyard::config::{SecretText, ServeConfig};
use switchyard::interstitial::adscore::sign_for_test;

use crate::common::*;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) interstitial-test";
const ZONE_KEY: &[u8] = b"the zone's response key";

fn with_adscore_key(mut config: ServeConfig) -> ServeConfig {
    let key = base64::engine::general_purpose::STANDARD.encode(ZONE_KEY);
    config.interstitial.adscore_response_key = Some(SecretText(key));
    config
}

/// `SMALL_NETWORK` with one rule on offer 1.
async fn network_with_rule(db: &TestDb, kind: &str, params: &str) {
    db.exec(SMALL_NETWORK).await;
    db.exec(&format!(
        "INSERT INTO optimization_rules (kind, scope, offer_id, params) VALUES ('{kind}', 'offer', 1, '{params}')"
    ))
    .await;
}

/// A first hop: the page, and the second hop's URL it continues to.
async fn first_hop(addr: SocketAddr, sub1: &str) -> String {
    let response = client()
        .get(format!("http://{addr}/c?oid=1&affid=1&sub1={sub1}"))
        .header("user-agent", UA)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the interstitial page");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    let start = page
        .find("data-next=\"")
        .expect("the page names its second hop")
        + 11;
    let end = start + page[start..].find('"').unwrap();
    format!("http://{addr}{}", &page[start..end])
}

/// Both hops of a click, the second reporting `report`.
async fn click_through(addr: SocketAddr, sub1: &str, report: &str) -> reqwest::Response {
    second_hop(&format!("{}&{report}", first_hop(addr, sub1).await)).await
}

async fn second_hop(url: &str) -> reqwest::Response {
    client()
        .get(url)
        .header("user-agent", UA)
        .send()
        .await
        .unwrap()
}

fn now_secs() -> u32 {
    u32::try_from(chrono::Utc::now().timestamp()).unwrap()
}

fn signature(result: u32) -> String {
    let now = now_secs();
    sign_for_test(ZONE_KEY, result, now, now, IpAddr::from([127, 0, 0, 1]), UA)
}

/// (discard rule, discard detail, checks) of the click with this sub1, once written.
async fn recorded(
    db: &TestDb,
    sub1: &str,
) -> (Option<String>, Option<String>, Option<serde_json::Value>) {
    let sql =
        format!("SELECT discard_rule, discard_detail, checks FROM clicks WHERE sub1 = '{sub1}'");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_optional(&db.pool)
            .await
            .unwrap();
        match row {
            Some(row) => return row,
            None if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            None => panic!("no click with sub1 = {sub1}"),
        }
    }
}

fn verdict(checks: &Option<serde_json::Value>) -> (String, bool) {
    let check = &checks.as_ref().expect("verdicts recorded")[0];
    (
        check["verdict"].as_str().unwrap().to_owned(),
        check["monitor"].as_bool().unwrap(),
    )
}

#[tokio::test]
async fn an_adscore_verdict_redirects_a_clean_visitor_and_discards_a_bot() {
    let db = TestDb::create().await;
    network_with_rule(&db, "ADSCORE_SCRIPT", r#"{"zone": "QpUJAAAAAAAA"}"#).await;
    let server = start(with_adscore_key(config_for(Some(&db)))).await;

    let clean = click_through(server.addr, "clean", &format!("adscore={}", signature(0))).await;
    assert_eq!(clean.status(), 302);
    assert!(
        location(&clean)
            .unwrap()
            .starts_with("https://acme.example/install?t=")
    );
    let bot = click_through(server.addr, "bot", &format!("adscore={}", signature(9))).await;
    assert_eq!(bot.status(), 404, "discarded: no fallback URL");
    // A signature made for another visitor is a refusal even though the rule fails open.
    let now = now_secs();
    let stolen = sign_for_test(ZONE_KEY, 0, now, now, IpAddr::from([203, 0, 113, 9]), UA);
    let other = click_through(server.addr, "stolen", &format!("adscore={stolen}")).await;
    assert_eq!(other.status(), 404);
    let garbage = click_through(server.addr, "garbage", "adscore=%21%21not-base64").await;
    assert_eq!(garbage.status(), 404);
    server.shutdown().await.unwrap();

    let (rule, _, checks) = recorded(&db, "clean").await;
    assert_eq!((rule, verdict(&checks)), (None, ("ok".to_owned(), false)));
    for (sub1, word) in [
        ("bot", "bot"),
        ("stolen", "mismatch"),
        ("garbage", "invalid"),
    ] {
        let (rule, _, checks) = recorded(&db, sub1).await;
        assert_eq!(rule.as_deref(), Some("ADSCORE_SCRIPT"), "{sub1}");
        assert_eq!(verdict(&checks).0, word, "{sub1}");
    }
    assert_eq!(
        db.count("SELECT count(*) FROM clicks").await,
        4,
        "one row per hit"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn forged_replayed_and_expired_second_hops_are_refused_and_recorded() {
    let db = TestDb::create().await;
    network_with_rule(
        &db,
        "ADSCORE_SCRIPT",
        r#"{"zone": "QpUJAAAAAAAA", "mode": "monitor"}"#,
    )
    .await;
    let mut config = with_adscore_key(config_for(Some(&db)));
    config.interstitial.ttl_secs = 1;
    let server = start(config).await;

    let hop = first_hop(server.addr, "monitored").await;
    let taken = second_hop(&format!("{hop}&adscore={}", signature(9))).await;
    assert_eq!(
        taken.status(),
        302,
        "monitor mode records the bot and redirects"
    );
    let replayed = second_hop(&format!("{hop}&adscore={}", signature(0))).await;
    assert_eq!(replayed.status(), 409);
    assert_eq!(
        replayed.json::<serde_json::Value>().await.unwrap()["error"],
        "replayed_token"
    );

    let fresh = first_hop(server.addr, "forged").await;
    let token_at = fresh.find("t=").unwrap() + 2;
    let mut forged = fresh.clone().into_bytes();
    forged[token_at + 5] = if forged[token_at + 5] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let forged = second_hop(&String::from_utf8(forged).unwrap()).await;
    assert_eq!(forged.status(), 400);
    assert_eq!(
        forged.json::<serde_json::Value>().await.unwrap()["error"],
        "forged_token"
    );
    let missing = second_hop(&format!("http://{}/continue?adscore=x", server.addr)).await;
    assert_eq!(missing.status(), 400);

    let abandoned = first_hop(server.addr, "abandoned").await;
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let late = second_hop(&format!("{abandoned}&adscore={}", signature(0))).await;
    assert_eq!(late.status(), 410);
    assert_eq!(
        late.json::<serde_json::Value>().await.unwrap()["error"],
        "expired_token"
    );
    server.shutdown().await.unwrap();

    let (rule, _, checks) = recorded(&db, "monitored").await;
    assert_eq!((rule, verdict(&checks)), (None, ("bot".to_owned(), true)));
    for sub1 in ["forged", "abandoned"] {
        let (rule, detail, checks) = recorded(&db, sub1).await;
        assert_eq!(rule.as_deref(), Some("ADSCORE_SCRIPT"), "{sub1}");
        assert_eq!(
            detail.as_deref(),
            Some("abandoned"),
            "{sub1}: nobody took it"
        );
        assert_eq!(verdict(&checks).0, "abandoned");
    }
    let refusals: Vec<(String,)> = sqlx::query_as(
        "SELECT discard_detail FROM clicks WHERE discard_rule = 'INVALID_REQUEST' ORDER BY discard_detail",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let refusals: Vec<&str> = refusals.iter().map(|(d,)| d.as_str()).collect();
    assert_eq!(
        refusals,
        [
            "expired_token",
            "forged_token",
            "malformed_hop",
            "replayed_token"
        ]
    );
    db.drop_database().await;
}

#[tokio::test]
async fn without_javascript_the_latency_rule_fails_closed_and_a_measurement_decides() {
    let db = TestDb::create().await;
    network_with_rule(
        &db,
        "CLIENT_SIDE_SEARCH_LATENCY",
        r#"{"threshold_ms": 300, "probe_url": "https://search.example/ping"}"#,
    )
    .await;
    let server = start(config_for(Some(&db))).await;
    let page = client()
        .get(format!("http://{}/c?oid=1&affid=1&sub1=page", server.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"http-equiv="refresh""#), "{page}");
    assert!(
        page.contains("data-probe=\"https://search.example/ping\""),
        "{page}"
    );

    let no_script = click_through(server.addr, "noscript", "ns=1").await;
    assert_eq!(no_script.status(), 404);
    let fast = click_through(server.addr, "fast", "latency_ms=120").await;
    assert_eq!(fast.status(), 302);
    let slow = click_through(server.addr, "slow", "latency_ms=900").await;
    assert_eq!(slow.status(), 404);
    let junk = click_through(server.addr, "junk", "latency_ms=-1").await;
    assert_eq!(junk.status(), 404);
    server.shutdown().await.unwrap();

    for (sub1, rule, word) in [
        ("noscript", Some("CLIENT_SIDE_SEARCH_LATENCY"), "no_script"),
        ("fast", None, "fast"),
        ("slow", Some("CLIENT_SIDE_SEARCH_LATENCY"), "slow"),
        ("junk", Some("CLIENT_SIDE_SEARCH_LATENCY"), "invalid"),
    ] {
        let (recorded_rule, _, checks) = recorded(&db, sub1).await;
        assert_eq!(recorded_rule.as_deref(), rule, "{sub1}");
        assert_eq!(verdict(&checks).0, word, "{sub1}");
    }
    // The page was answered once and never continued: recorded at shutdown.
    let (rule, detail, _) = recorded(&db, "page").await;
    assert_eq!(
        (rule.as_deref(), detail.as_deref()),
        (Some("CLIENT_SIDE_SEARCH_LATENCY"), Some("abandoned"))
    );
    db.drop_database().await;
}

/// A stand-in for Anura's `result.json`: the response id says what to do.
async fn start_anura() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let result = |Query(query): Query<std::collections::HashMap<String, String>>| async move {
        assert_eq!(query.get("instance").map(String::as_str), Some("77"));
        match query.get("id").map(String::as_str) {
            Some("slow") => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                r#"{"result":"good"}"#.to_owned()
            }
            Some("garbage") => "<html>busy</html>".to_owned(),
            Some(id) => format!(r#"{{"result":"{id}","mobile":0}}"#),
            None => String::new(),
        }
    };
    let app = axum::Router::new().route("/result.json", axum::routing::get(result));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// `SMALL_NETWORK` with `ANURA_SCRIPT` on offer 1, looking up at a fresh stand-in.
async fn anura_network(db: &TestDb, timeout_ms: u64) {
    let anura = start_anura().await;
    let params = format!(
        r#"{{"instance": 77, "result_url": "http://{anura}/result.json", "timeout_ms": {timeout_ms}}}"#
    );
    network_with_rule(db, "ANURA_SCRIPT", &params).await;
}

#[tokio::test]
async fn anuras_lookup_decides_and_a_slow_or_down_provider_fails_open() {
    let db = TestDb::create().await;
    anura_network(&db, 50).await;
    let server = start(config_for(Some(&db))).await;
    for (sub1, id, status) in [
        ("good", "good", 302),
        ("warn", "warn", 302),
        ("bad", "bad", 404),
        ("slow", "slow", 302),
        ("garbage", "garbage", 302),
        ("forged", "x%26instance%3D1", 404),
    ] {
        let answer = click_through(server.addr, sub1, &format!("anura={id}")).await;
        assert_eq!(answer.status(), status, "{sub1}");
    }
    server.shutdown().await.unwrap();
    for (sub1, rule, word) in [
        ("good", None, "good"),
        ("warn", None, "warn"),
        ("bad", Some("ANURA_SCRIPT"), "bad"),
        ("slow", None, "timeout"),
        ("garbage", None, "bad_answer"),
        ("forged", Some("ANURA_SCRIPT"), "invalid"),
    ] {
        let (recorded_rule, _, checks) = recorded(&db, sub1).await;
        assert_eq!(recorded_rule.as_deref(), rule, "{sub1}");
        assert_eq!(verdict(&checks).0, word, "{sub1}");
    }

    // Down, and the rule fails closed: nothing passes unchecked.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    db.exec(&format!(
        r#"UPDATE optimization_rules SET params = '{{"instance": 77, "result_url": "http://{closed_port}/result.json", "on_error": "closed"}}'"#
    ))
    .await;
    let server = start(config_for(Some(&db))).await;
    let down = click_through(server.addr, "down", "anura=good").await;
    assert_eq!(down.status(), 404);
    server.shutdown().await.unwrap();
    let (rule, _, checks) = recorded(&db, "down").await;
    assert_eq!(
        (rule.as_deref(), verdict(&checks).0.as_str()),
        (Some("ANURA_SCRIPT"), "unavailable")
    );
    db.drop_database().await;
}

#[tokio::test]
async fn anuras_breaker_opens_after_failed_lookups_and_stops_waiting() {
    let db = TestDb::create().await;
    anura_network(&db, 30).await;
    let mut config = config_for(Some(&db));
    config.checks.check_breaker_failures = 2;
    config.checks.check_breaker_cooldown_ms = 60_000;
    let server = start(config).await;
    for sub1 in ["stall-1", "stall-2", "stall-3"] {
        let answer = click_through(server.addr, sub1, "anura=slow").await;
        assert_eq!(answer.status(), 302, "{sub1}: the rule fails open");
    }
    let metrics = metrics_text(&server).await;
    server.shutdown().await.unwrap();
    let words: Vec<String> = {
        let mut words = Vec::new();
        for sub1 in ["stall-1", "stall-2", "stall-3"] {
            words.push(verdict(&recorded(&db, sub1).await.2).0);
        }
        words
    };
    assert_eq!(words, ["timeout", "timeout", "breaker_open"]);
    assert!(
        metrics.contains(r#"switchyard_check_breaker_open{check="ANURA_SCRIPT"} 1"#),
        "{metrics}"
    );
    db.drop_database().await;
}
