//! Direct offer clicks end to end: real socket, real Postgres, real shutdown.

use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use futures_util::future::join_all;

#[tokio::test]
async fn n_clicks_become_exactly_n_rows_after_shutdown() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let mut config = config_for(Some(&db));
    config.event_batch = 97; // force many batches, including a partial last one
    let server = start(config).await;
    let client = client();
    let n = 1_500;
    let base = format!("http://{}/c?oid=1&affid=1", server.addr);
    let mut txids = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let responses = join_all(
            chunk
                .iter()
                .map(|i| client.get(format!("{base}&sub1=s{i}&sub2=x")).send()),
        )
        .await;
        for response in responses {
            let response = response.unwrap();
            assert_eq!(response.status(), 302);
            let location = location(&response).unwrap();
            let txid = location.split("t=").nth(1).unwrap()[..32].to_owned();
            txids.push(txid);
        }
    }
    let report = server.shutdown().await.unwrap();
    assert_eq!(report.written, n as u64);
    assert_eq!(report.lost, 0);
    assert_eq!(db.count("SELECT count(*) FROM clicks").await, n);
    assert_eq!(
        db.count("SELECT count(DISTINCT transaction_id) FROM clicks")
            .await,
        n
    );

    let row: (String, i64, i64, i64, Option<String>, Option<String>, String, String) = sqlx::query_as(
        "SELECT outcome::text, offer_id, partner_id, requested_offer_id, sub1, sub2, host(ip), user_agent
         FROM clicks WHERE transaction_id = $1",
    )
    .bind(&txids[7])
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(row.0, "redirected");
    assert_eq!((row.1, row.2, row.3), (1, 1, 1));
    assert_eq!(row.4.as_deref(), Some("s7"));
    assert_eq!(row.5.as_deref(), Some("x"));
    assert_eq!(row.6, "127.0.0.1");
    db.drop_database().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_a_recorded_discard() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let server = start(config_for(Some(&db))).await;
    let client = client();
    let long = "a".repeat(600);
    let cases: Vec<(String, u16, &str)> = vec![
        ("affid=1".into(), 400, "missing_parameter"),
        ("oid=1".into(), 400, "missing_parameter"),
        ("oid=abc&affid=1".into(), 400, "invalid_id"),
        ("oid=1&affid=-4".into(), 400, "invalid_id"),
        ("oid=1&affid=1&oid=2".into(), 400, "repeated_parameter"),
        (
            format!("oid=1&affid=1&sub1={long}"),
            400,
            "parameter_too_long",
        ),
        (
            "oid=1&affid=1&sub1=a%0D%0ASet-Cookie:x".into(),
            400,
            "forbidden_character",
        ),
        (
            "oid=1&affid=1&sub2=a%23b".into(),
            400,
            "forbidden_character",
        ),
        (
            "oid=1&affid=1&sub3=a%2Fb".into(),
            400,
            "forbidden_character",
        ),
        (
            "oid=1&affid=1&sub4=a%40b".into(),
            400,
            "forbidden_character",
        ),
        ("oid=999&affid=1".into(), 404, "unknown_offer"),
        ("oid=1&affid=999".into(), 404, "unknown_partner"),
    ];
    for (query, status, code) in &cases {
        let response = client
            .get(format!("http://{}/c?{query}", server.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), *status, "{query}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], *code, "{query}");
    }
    // A query string far over the limit is refused too, by us or by hyper, never a 5xx.
    let huge = "x".repeat(20_000);
    let response = client
        .get(format!("http://{}/c?oid=1&affid=1&x={huge}", server.addr))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());

    server.shutdown().await.unwrap();
    let recorded = db
        .count("SELECT count(*) FROM clicks WHERE outcome = 'discarded' AND discard_rule = 'INVALID_REQUEST'")
        .await;
    assert!(
        recorded >= cases.len() as i64,
        "only {recorded} discards recorded"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE discard_detail = 'unknown_offer'")
            .await,
        1
    );
    db.drop_database().await;
}

#[tokio::test]
async fn request_values_never_change_scheme_host_or_path() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec(
        "UPDATE offers SET offer_url = 'https://acme.example/land/{sub1}?s={sub2}' WHERE id = 1",
    )
    .await;
    let server = start(config_for(Some(&db))).await;
    let client = client();
    let attacks = [
        "..%2E%2E",
        "%2E%2E",
        "evil.example%3A80",
        "%3F%3F",
        "%25%32%46",
        "x%3Bhost%3Devil",
        "%E2%80%AE",
        "javascript:alert(1)",
    ];
    for attack in attacks {
        let response = client
            .get(format!(
                "http://{}/c?oid=1&affid=1&sub1={attack}&sub2={attack}",
                server.addr
            ))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 400 {
            continue;
        }
        assert_eq!(status, 302, "{attack}");
        let location = location(&response).unwrap();
        let rest = location
            .strip_prefix("https://acme.example/land/")
            .unwrap_or_else(|| panic!("{location}"));
        let (path_value, query) = rest.split_once('?').unwrap();
        assert!(!path_value.contains('/'), "{location}");
        assert!(
            query.starts_with("s=") && !query.contains('&'),
            "{location}"
        );
    }
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let mut config = config_for(Some(&db));
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let trusting = start(config).await;
    let untrusting = start(config_for(Some(&db))).await;
    for (server, sub) in [(&trusting, "trusted"), (&untrusting, "untrusted")] {
        let response = client()
            .get(format!("http://{}/c?oid=1&affid=1&sub1={sub}", server.addr))
            .header("x-forwarded-for", "198.51.100.23")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
    }
    trusting.shutdown().await.unwrap();
    untrusting.shutdown().await.unwrap();
    let ip = |sub: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT host(ip) FROM clicks WHERE sub1 = $1")
                .bind(sub)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(ip("trusted").await, "198.51.100.23");
    assert_eq!(ip("untrusted").await, "127.0.0.1");
    db.drop_database().await;
}

#[tokio::test]
async fn discarded_hits_go_to_the_fallback_url() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec("UPDATE offers SET status = 'paused' WHERE id = 1")
        .await;
    let mut config = config_for(Some(&db));
    config.fallback_url = Some("https://fallback.example/".into());
    let server = start(config).await;
    let response = client()
        .get(format!("http://{}/c?oid=1&affid=1", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        location(&response).as_deref(),
        Some("https://fallback.example/")
    );
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE discard_rule = 'INACTIVE_OFFER'")
            .await,
        1
    );
    db.drop_database().await;
}

/// The real binary, stopped by SIGTERM mid-traffic: every answered click is a row.
#[tokio::test]
async fn sigterm_drains_every_click_to_postgres() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("SWITCHYARD_LISTEN", format!("127.0.0.1:{port}"))
        // Not the default 8081: tests run side by side.
        .env("SWITCHYARD_ADMIN_LISTEN", "127.0.0.1:0")
        .env("SWITCHYARD_EVENT_FLUSH_MS", "5000") // nothing is flushed by the timer
        // The default admin address is one per machine: parallel tests (and
        // other suites) would fight over it.
        .env("SWITCHYARD_ADMIN_LISTEN", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = client();
    let url = format!("http://127.0.0.1:{port}/c?oid=1&affid=1");
    assert!(
        eventually(Duration::from_secs(10), || async {
            client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 302)
        })
        .await,
        "server did not come up"
    );
    let mut answered = 1;
    for _ in 0..400 {
        if client.get(&url).send().await.unwrap().status() == 302 {
            answered += 1;
        }
    }
    let status = crate::common::sigterm(&mut child).await;
    assert!(status.success(), "exit status {status}");
    assert_eq!(db.count("SELECT count(*) FROM clicks").await, answered);
    db.drop_database().await;
}

/// Cookie-based tracking for direct clicks: the cookie the click sets is what
/// the conversion pixel on the same host reads.
#[tokio::test]
async fn direct_click_sets_the_tracking_cookies_the_pixel_reads() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    let server = start(config_for(Some(&db))).await;
    let click = client()
        .get(format!("http://{}/c?oid=1&affid=1", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(click.status(), 302);
    let txid = location(&click).unwrap().split("t=").nth(1).unwrap()[..32].to_owned();
    let cookies: Vec<String> = click
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("sy_tid={txid};"))),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("sy_uid=")),
        "{cookies:?}"
    );
    let sy_tid = cookies
        .iter()
        .find(|c| c.starts_with("sy_tid="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let pixel = client()
        .get(format!("http://{}/pixel", server.addr))
        .header("cookie", sy_tid)
        .send()
        .await
        .unwrap();
    assert_eq!(pixel.headers()["x-switchyard-conversion"], "APPROVED");
    let discarded = client()
        .get(format!("http://{}/c?oid=1&affid=2", server.addr))
        .send()
        .await
        .unwrap();
    assert!(
        discarded.headers().get("set-cookie").is_none(),
        "a discarded click sets no cookie"
    );
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM conversions WHERE transaction_id = '{txid}' AND status = 'approved'")).await,
        1
    );
    db.drop_database().await;
}
