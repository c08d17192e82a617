//! Smart links end to end: real socket, real Postgres, the click log as proof.

use crate::common::*;
use reqwest::Response;
use switchyard::app::RunningServer;

/// Offer `n` refuses a click whose sub1 contains `_n_` (its own targeting).
fn refuses_token(n: i64) -> String {
    format!(r#"{{"params":[{{"name":"sub1","op":"contains","value":"_{n}_","negate":true}}]}}"#)
}

/// Seed 000's diagram: link 10 = A=1 (fail → C=3), B=2 (fail → D=4), Catch All
/// 5 (fail → E=6). Partner 1 is approved for the regular offers only; partner 2
/// for nothing.
fn diagram() -> String {
    let offer = |id: i64, fail: Option<i64>| {
        format!(
            "INSERT INTO offers (id, advertiser_id, name, offer_url, fail_offer_id, targeting)
             VALUES ({id}, 1, 'o{id}', 'https://o{id}.example/?t={{transaction_id}}&u={{unique_click}}', {}, '{}');",
            fail.map_or("NULL".to_owned(), |f| f.to_string()),
            refuses_token(id)
        )
    };
    [
        "INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
         INSERT INTO partners (id, name, api_key_sha256) VALUES
             (1, 'Approved', sha256(convert_to('key-approved-0123456789', 'UTF8'))),
             (2, 'Stranger', sha256(convert_to('key-stranger-0123456789', 'UTF8')));"
            .to_owned(),
        offer(3, None),
        offer(4, None),
        offer(6, None),
        offer(1, Some(3)),
        offer(2, Some(4)),
        offer(5, Some(6)),
        "INSERT INTO offer_approvals (offer_id, partner_id) VALUES (1, 1), (2, 1), (3, 1), (4, 1);
         INSERT INTO tracking_domains (id, hostname) VALUES (1, 'go.example');
         INSERT INTO smart_links (id, name, partner_visible) VALUES (10, 'Diagram', true);
         INSERT INTO smart_link_offers (smart_link_id, offer_id, priority, is_catch_all) VALUES
             (10, 1, 1, false), (10, 2, 2, false), (10, 5, 0, true);"
            .to_owned(),
    ]
    .join("\n")
}

async fn get(server: &RunningServer, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = client().get(format!("http://{}{path}", server.addr));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The host of the redirect, e.g. `o3.example`; `None` when not redirected.
fn landed(response: &Response) -> Option<String> {
    if response.status() != 302 {
        return None;
    }
    let location = location(response)?;
    let host = location.strip_prefix("https://")?.split('/').next()?;
    Some(host.to_owned())
}

#[tokio::test]
async fn each_arrow_of_the_seed_diagram_is_taken_and_recorded() {
    let db = TestDb::create().await;
    db.exec(&diagram()).await;
    let server = start(config_for(Some(&db))).await;
    let cases = [
        ("none", "", Some(1)),
        ("a", "_1_", Some(3)),
        ("ac", "_1__3_", Some(2)),
        ("acb", "_1__3__2_", Some(4)),
        ("acbd", "_1__3__2__4_", Some(5)),
        ("all_but_e", "_1__3__2__4__5_", Some(6)),
        ("all", "_1__3__2__4__5__6_", None),
    ];
    for (tag, sub1, expected) in cases {
        let response = get(
            &server,
            &format!("/sl/10?affid=1&sub1=x{sub1}&sub5={tag}"),
            &[],
        )
        .await;
        let expected_host = expected.map(|id| format!("o{id}.example"));
        assert_eq!(landed(&response), expected_host, "{tag}");
    }
    server.shutdown().await.unwrap();
    for (tag, _, expected) in cases {
        let row: (Option<i64>, Option<i64>, Option<i64>, Option<String>) = sqlx::query_as(
            "SELECT smart_link_id, offer_id, requested_offer_id, discard_rule FROM clicks WHERE sub5 = $1",
        )
        .bind(tag)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(row.0, Some(10), "{tag}");
        assert_eq!(row.1, expected, "{tag}");
        assert_eq!(row.2, None, "{tag}");
        let rule = expected
            .is_none()
            .then(|| "SMART_LINK_NO_MATCHING_OFFERS".to_owned());
        assert_eq!(row.3, rule, "{tag}");
    }
    db.drop_database().await;
}

#[tokio::test]
async fn catch_all_accepts_unapproved_partner_but_regular_offers_do_not() {
    let db = TestDb::create().await;
    db.exec(&diagram()).await;
    let server = start(config_for(Some(&db))).await;
    let to_catch_all = get(&server, "/sl/10?affid=2", &[]).await;
    assert_eq!(landed(&to_catch_all).as_deref(), Some("o5.example"));
    let to_its_fail_offer = get(&server, "/sl/10?affid=2&sub1=_5_", &[]).await;
    assert_eq!(landed(&to_its_fail_offer).as_deref(), Some("o6.example"));
    // Without a Catch All the stranger gets nothing at all, not A's or B's fail offers.
    db.exec("DELETE FROM smart_link_offers WHERE is_catch_all")
        .await;
    server.catalog.swap(reload(&db, &server).await);
    let nothing = get(&server, "/sl/10?affid=2", &[]).await;
    assert_eq!(landed(&nothing), None);
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

/// A fresh snapshot from the test database (instead of waiting for NOTIFY).
async fn reload(db: &TestDb, server: &RunningServer) -> switchyard::catalog::Catalog {
    let source = switchyard::catalog::postgres::load(&db.pool, None)
        .await
        .unwrap();
    switchyard::catalog::Catalog::build(
        source,
        switchyard::catalog::Origin::Postgres,
        server.catalog.next_version(),
    )
    .unwrap()
}

#[tokio::test]
async fn fail_offer_loop_inside_a_link_ends_in_a_recorded_discard() {
    let db = TestDb::create().await;
    db.exec(
        "INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
         INSERT INTO partners (id, name) VALUES (1, 'P');
         INSERT INTO offers (id, advertiser_id, name, offer_url, requires_approval, status)
             VALUES (1, 1, 'A', 'https://a.example/', false, 'paused'),
                    (2, 1, 'B', 'https://b.example/', false, 'paused');
         UPDATE offers SET fail_offer_id = 2 WHERE id = 1;
         UPDATE offers SET fail_offer_id = 1 WHERE id = 2;
         INSERT INTO smart_links (id, name) VALUES (1, 'Loop');
         INSERT INTO smart_link_offers (smart_link_id, offer_id, priority) VALUES (1, 1, 1), (1, 2, 2);",
    )
    .await;
    let server = start(config_for(Some(&db))).await;
    let response = get(&server, "/sl/1?affid=1", &[]).await;
    assert_eq!(response.status(), 404);
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE discard_rule = 'SMART_LINK_NO_MATCHING_OFFERS' AND smart_link_id = 1")
            .await,
        1
    );
    db.drop_database().await;
}

#[tokio::test]
async fn priority_skips_a_capped_offer_and_passed_over_checks_consume_nothing() {
    let db = TestDb::create().await;
    // Offer 1 (priority 1, 3 clicks a day) refuses sub3=skip itself, and the link
    // refuses it for sub2=skip; offer 2 takes the rest.
    db.exec(
        r#"INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
         INSERT INTO partners (id, name) VALUES (1, 'P');
         INSERT INTO offers (id, advertiser_id, name, offer_url, requires_approval, targeting) VALUES
             (1, 1, 'Capped', 'https://capped.example/', false,
              '{"params":[{"name":"sub3","op":"equals","value":"skip","negate":true}]}'),
             (2, 1, 'Next', 'https://next.example/', false, '{}');
         INSERT INTO offer_caps (offer_id, metric, period, cap_limit) VALUES (1, 'clicks', 'day', 3);
         INSERT INTO smart_links (id, name) VALUES (1, 'Priority');
         INSERT INTO smart_link_offers (smart_link_id, offer_id, priority, targeting) VALUES
             (1, 1, 1, '{"params":[{"name":"sub2","op":"equals","value":"skip","negate":true}]}'),
             (1, 2, 2, '{}');"#,
    )
    .await;
    let server = start(config_for(Some(&db))).await;
    for query in ["sub2=skip", "sub3=skip", "sub2=skip", "sub3=skip"] {
        let response = get(&server, &format!("/sl/1?affid=1&{query}"), &[]).await;
        assert_eq!(
            landed(&response).as_deref(),
            Some("next.example"),
            "{query}"
        );
    }
    for i in 0..3 {
        let response = get(&server, "/sl/1?affid=1", &[]).await;
        assert_eq!(
            landed(&response).as_deref(),
            Some("capped.example"),
            "click {i}"
        );
    }
    let fourth = get(&server, "/sl/1?affid=1", &[]).await;
    assert_eq!(landed(&fourth).as_deref(), Some("next.example"));
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE offer_id = 1")
            .await,
        3
    );
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE offer_id = 2")
            .await,
        5
    );
    db.drop_database().await;
}

#[tokio::test]
async fn unknown_link_and_wrong_host_are_recorded_404s() {
    let db = TestDb::create().await;
    db.exec(&diagram()).await;
    db.exec("UPDATE smart_links SET tracking_domain_id = 1 WHERE id = 10")
        .await;
    let server = start(config_for(Some(&db))).await;
    let wrong_host = get(
        &server,
        "/sl/10?affid=1&sub5=wrong",
        &[("host", "evil.example")],
    )
    .await;
    assert_eq!(wrong_host.status(), 404);
    let body: serde_json::Value = wrong_host.json().await.unwrap();
    assert_eq!(body["error"], "wrong_tracking_domain");
    let unknown = get(&server, "/sl/999?affid=1", &[]).await;
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "unknown_smart_link");
    let malformed = get(&server, "/sl/abc?affid=1", &[]).await;
    assert_eq!(malformed.status(), 404);
    let right_host = get(&server, "/sl/10?affid=1", &[("host", "go.example:8080")]).await;
    assert_eq!(landed(&right_host).as_deref(), Some("o1.example"));
    let cookies: Vec<&str> = right_host
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let txid = location(&right_host).unwrap().split("t=").nth(1).unwrap()[..32].to_owned();
    assert!(
        cookies.contains(
            &format!(
                "sy_tid={txid}; Domain=go.example; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"
            )
            .as_str()
        ),
        "{cookies:?}"
    );
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE discard_detail = 'wrong_tracking_domain' AND smart_link_id = 10 AND sub5 = 'wrong'")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE discard_detail = 'unknown_smart_link' AND smart_link_id = 999")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE discard_detail = 'unknown_smart_link' AND smart_link_id IS NULL")
            .await,
        1
    );
    db.drop_database().await;
}

#[tokio::test]
async fn direct_click_records_the_requested_offer_and_the_fail_offer_that_took_it() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec(
        "INSERT INTO offers (id, advertiser_id, name, offer_url) VALUES (2, 1, 'Fallback', 'https://fallback-offer.example/');
         INSERT INTO offer_approvals (offer_id, partner_id) VALUES (2, 1);
         UPDATE offers SET fail_offer_id = 2, status = 'paused' WHERE id = 1;",
    )
    .await;
    let server = start(config_for(Some(&db))).await;
    let response = get(&server, "/c?oid=1&affid=1", &[]).await;
    assert_eq!(landed(&response).as_deref(), Some("fallback-offer.example"));
    server.shutdown().await.unwrap();
    let row: (Option<i64>, Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT requested_offer_id, offer_id, smart_link_id FROM clicks")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(row, (Some(1), Some(2), None));
    db.drop_database().await;
}

/// Offers 101..105 filter duplicates by cookie, ip, ip_ua, idfa, gaid (fail
/// traffic), each first in link 101..105 with public offer 99 behind it.
/// Offers 201..205 test the actions: 201 block, 202 fail_traffic, 203 mark on
/// direct clicks (fail offer 99); 204 block and 205 mark inside links 204, 205.
const DUPLICATES: &str = "
    INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
    INSERT INTO partners (id, name) VALUES (1, 'P');
    INSERT INTO offers (id, advertiser_id, name, offer_url, requires_approval)
        VALUES (99, 1, 'Spare', 'https://o99.example/', false);
    INSERT INTO offers (id, advertiser_id, name, offer_url, requires_approval, duplicate_filter,
                        duplicate_action, duplicate_window_seconds, fail_offer_id) VALUES
        (101, 1, 'cookie', 'https://o101.example/?u={unique_click}', false, 'cookie', 'fail_traffic', 3600, NULL),
        (102, 1, 'ip', 'https://o102.example/?u={unique_click}', false, 'ip', 'fail_traffic', 3600, NULL),
        (103, 1, 'ip_ua', 'https://o103.example/?u={unique_click}', false, 'ip_ua', 'fail_traffic', 3600, NULL),
        (104, 1, 'idfa', 'https://o104.example/?u={unique_click}', false, 'idfa', 'fail_traffic', 3600, NULL),
        (105, 1, 'gaid', 'https://o105.example/?u={unique_click}', false, 'gaid', 'fail_traffic', 3600, NULL),
        (201, 1, 'block', 'https://o201.example/?u={unique_click}', false, 'ip', 'block', 3600, 99),
        (202, 1, 'fail', 'https://o202.example/?u={unique_click}', false, 'ip', 'fail_traffic', 3600, 99),
        (203, 1, 'mark', 'https://o203.example/?u={unique_click}', false, 'ip', 'mark', 3600, 99),
        (204, 1, 'link block', 'https://o204.example/?u={unique_click}', false, 'ip', 'block', 3600, NULL),
        (205, 1, 'link mark', 'https://o205.example/?u={unique_click}', false, 'ip', 'mark', 3600, NULL);
    INSERT INTO smart_links (id, name) VALUES (101, 'c'), (102, 'i'), (103, 'iu'), (104, 'idfa'), (105, 'gaid'), (204, 'b'), (205, 'm');
    INSERT INTO smart_link_offers (smart_link_id, offer_id, priority)
        SELECT id, id, 1 FROM smart_links;
    INSERT INTO smart_link_offers (smart_link_id, offer_id, priority)
        SELECT id, 99, 2 FROM smart_links;
";

async fn duplicate_server() -> (TestDb, RunningServer) {
    let db = TestDb::create().await;
    db.exec(DUPLICATES).await;
    let mut config = config_for(Some(&db));
    // Lets each request pick its client IP through X-Forwarded-For.
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let server = start(config).await;
    (db, server)
}

/// A query suffix and the request headers of one click.
type Click = (&'static str, Vec<(&'static str, &'static str)>);

fn from(ip: &'static str, ua: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![("x-forwarded-for", ip), ("user-agent", ua)]
}

#[tokio::test]
async fn duplicate_filter_recognises_each_identifier() {
    let (db, server) = duplicate_server().await;
    let land = |response: Response| landed(&response);
    // (link, first click, repeat by the same visitor, a different visitor)
    let cases: [(i64, Click, Click, Click); 4] = [
        (
            102,
            ("", from("198.51.100.1", "a")),
            ("", from("198.51.100.1", "b")),
            ("", from("198.51.100.2", "a")),
        ),
        (
            103,
            ("", from("198.51.100.1", "a")),
            ("", from("198.51.100.1", "a")),
            ("", from("198.51.100.1", "b")),
        ),
        (
            104,
            ("&idfa=AAAA-1", from("198.51.100.1", "a")),
            ("&idfa=aaaa-1", from("198.51.100.9", "z")),
            ("&idfa=bbbb-2", from("198.51.100.1", "a")),
        ),
        (
            105,
            ("&gaid=g-1", from("198.51.100.1", "a")),
            ("&gaid=g-1", from("198.51.100.9", "z")),
            ("&gaid=g-2", from("198.51.100.1", "a")),
        ),
    ];
    for (link, (q1, h1), (q2, h2), (q3, h3)) in cases {
        let own = format!("o{link}.example");
        let first = land(get(&server, &format!("/sl/{link}?affid=1{q1}"), &h1).await);
        assert_eq!(first.as_deref(), Some(own.as_str()), "link {link} first");
        let repeat = land(get(&server, &format!("/sl/{link}?affid=1{q2}"), &h2).await);
        assert_eq!(repeat.as_deref(), Some("o99.example"), "link {link} repeat");
        let other = land(get(&server, &format!("/sl/{link}?affid=1{q3}"), &h3).await);
        assert_eq!(
            other.as_deref(),
            Some(own.as_str()),
            "link {link} other visitor"
        );
    }

    // Cookie: the first click sets sy_uid; a click carrying it is a repeat.
    let first = get(&server, "/sl/101?affid=1", &[]).await;
    assert_eq!(landed(&first).as_deref(), Some("o101.example"));
    let uid = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("sy_uid="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("the first click sets sy_uid");
    let cookie = format!("sy_uid={uid}; other=1");
    let repeat = get(&server, "/sl/101?affid=1", &[("cookie", cookie.as_str())]).await;
    assert_eq!(landed(&repeat).as_deref(), Some("o99.example"));
    assert!(
        repeat
            .headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("sy_uid=")),
        "a known visitor keeps its sy_uid"
    );
    let stranger = get(&server, "/sl/101?affid=1", &[]).await;
    assert_eq!(landed(&stranger).as_deref(), Some("o101.example"));
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn duplicate_actions_block_fail_over_or_mark() {
    let (db, server) = duplicate_server().await;
    let me = from("203.0.113.5", "ua");
    let twice = |path: &'static str| {
        let server = &server;
        let me = me.clone();
        async move {
            let first = get(server, path, &me).await;
            let second = get(server, path, &me).await;
            (first, second)
        }
    };
    let (first, second) = twice("/c?oid=201&affid=1&sub5=block").await;
    assert_eq!(landed(&first).as_deref(), Some("o201.example"));
    assert_eq!(second.status(), 404, "block refuses, no fail offer");
    let (_, second) = twice("/c?oid=202&affid=1").await;
    assert_eq!(landed(&second).as_deref(), Some("o99.example"));
    let (first, second) = twice("/c?oid=203&affid=1&sub5=mark").await;
    assert!(location(&first).unwrap().ends_with("u=1"));
    assert_eq!(
        location(&second).as_deref(),
        Some("https://o203.example/?u=0")
    );
    // Inside a smart link a blocked repeat is fail traffic; a marked one passes.
    let (_, second) = twice("/sl/204?affid=1").await;
    assert_eq!(landed(&second).as_deref(), Some("o99.example"));
    let (_, second) = twice("/sl/205?affid=1").await;
    assert_eq!(
        location(&second).as_deref(),
        Some("https://o205.example/?u=0")
    );
    server.shutdown().await.unwrap();
    assert_eq!(
        db.count(
            "SELECT count(*) FROM clicks WHERE sub5 = 'block' AND discard_rule = 'DUPLICATE_CLICK'"
        )
        .await,
        1
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM clicks WHERE sub5 = 'mark' AND NOT is_unique AND offer_id = 203"
        )
        .await,
        1
    );
    db.drop_database().await;
}

#[tokio::test]
async fn partner_endpoint_needs_the_key_and_lists_open_links() {
    let db = TestDb::create().await;
    db.exec(&diagram()).await;
    db.exec(
        "INSERT INTO smart_links (id, name, partner_visible, tracking_domain_id, status) VALUES
             (20, 'Approved only', true, 1, 'active'),
             (21, 'Hidden', false, NULL, 'active'),
             (22, 'Paused', true, NULL, 'paused');
         INSERT INTO smart_link_offers (smart_link_id, offer_id) VALUES (20, 1), (21, 1), (22, 1);",
    )
    .await;
    let mut config = config_for(Some(&db));
    config.public_host = Some("track.example".into());
    let server = start(config).await;
    for key in [None, Some("key-wrong-000000000000")] {
        let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
        let response = get(&server, "/partner/smart-links", &headers).await;
        assert_eq!(response.status(), 401, "{key:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
    let links = |key: &'static str| {
        let server = &server;
        async move {
            let response = get(server, "/partner/smart-links", &[("x-api-key", key)]).await;
            assert_eq!(response.status(), 200);
            let body: serde_json::Value = response.json().await.unwrap();
            body["smart_links"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["tracking_link"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        links("key-approved-0123456789").await,
        vec![
            "https://track.example/sl/10?affid=1",
            "https://go.example/sl/20?affid=1"
        ]
    );
    assert_eq!(
        links("key-stranger-0123456789").await,
        vec!["https://track.example/sl/10?affid=2"]
    );
    server.shutdown().await.unwrap();

    let view: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT partner_id, smart_link_id, tracking_link FROM partner_smart_links ORDER BY 1, 2",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let pairs: Vec<(i64, i64)> = view.iter().map(|(p, l, _)| (*p, *l)).collect();
    assert_eq!(pairs, vec![(1, 10), (1, 20), (2, 10)]);
    assert_eq!(view[1].2, "https://go.example/sl/20?affid=1");
    db.drop_database().await;
}

#[tokio::test]
async fn adding_or_removing_offers_resets_optimization() {
    let db = TestDb::create().await;
    db.exec(&diagram()).await;
    db.exec("UPDATE smart_links SET optimization_reset_at = '2000-01-01' WHERE id = 10")
        .await;
    db.exec("DELETE FROM smart_link_optimization_resets").await;
    let reset_after_2000 =
        "SELECT count(*) FROM smart_links WHERE id = 10 AND optimization_reset_at > '2000-01-02'";
    assert_eq!(db.count(reset_after_2000).await, 0);
    db.exec("INSERT INTO smart_link_offers (smart_link_id, offer_id) VALUES (10, 3), (10, 4)")
        .await;
    assert_eq!(db.count(reset_after_2000).await, 1);
    db.exec("DELETE FROM smart_link_offers WHERE smart_link_id = 10 AND offer_id = 3")
        .await;
    // Editing a weight is not adding or removing: no reset.
    db.exec("UPDATE smart_link_offers SET weight = 5 WHERE offer_id = 4")
        .await;
    let reasons: Vec<(i64, String)> = sqlx::query_as(
        "SELECT smart_link_id, reason FROM smart_link_optimization_resets ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        reasons,
        vec![
            (10, "offer_added".to_owned()),
            (10, "offer_removed".to_owned())
        ]
    );
    // Deleting the link cascades to its offers without recording a reset.
    db.exec("DELETE FROM smart_links WHERE id = 10").await;
    assert_eq!(
        db.count("SELECT count(*) FROM smart_link_optimization_resets")
            .await,
        2
    );
    db.drop_database().await;
}

#[tokio::test]
async fn reporting_views_sum_clicks_and_conversions_per_link_and_offer() {
    let db = TestDb::create().await;
    db.exec(&diagram()).await;
    let server = start(config_for(Some(&db))).await;
    let mut txids = Vec::new();
    for sub1 in ["", "", "_1_", "_1__3__2__4__5__6_"] {
        let response = get(&server, &format!("/sl/10?affid=1&sub1=x{sub1}"), &[]).await;
        if let Some(url) = location(&response) {
            txids.push(url.split("t=").nth(1).unwrap()[..32].to_owned());
        }
    }
    server.shutdown().await.unwrap();
    assert_eq!(txids.len(), 3);
    // One conversion names its link itself, one is found through its click.
    db.exec(&format!(
        "INSERT INTO conversions (conversion_id, created_at, transaction_id, status, reject_reason, smart_link_id, offer_id, payout, revenue) VALUES
             ('{:032x}', now(), '{}', 'approved', NULL, 10, 1, 2.5, 4),
             ('{:032x}', now(), '{}', 'approved', NULL, NULL, NULL, 1, 3),
             ('{:032x}', now(), '{}', 'rejected', 'DUPLICATE', NULL, NULL, 0, 0);",
        1, txids[0], 2, txids[2], 3, txids[1]
    ))
    .await;
    let daily: (i64, i64, i64, i64, f64, f64) = sqlx::query_as(
        "SELECT clicks, valid_clicks, invalid_clicks, conversions, revenue::float8, payout::float8
         FROM smart_link_daily WHERE smart_link_id = 10",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(daily, (4, 3, 1, 2, 7.0, 3.5));
    let per_offer: Vec<(Option<i64>, i64, i64)> = sqlx::query_as(
        "SELECT offer_id, clicks, conversions FROM smart_link_offer_daily
         WHERE smart_link_id = 10 ORDER BY offer_id NULLS LAST",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        per_offer,
        vec![(Some(1), 2, 1), (Some(3), 1, 1), (None, 1, 0)]
    );
    db.drop_database().await;
}

#[tokio::test]
async fn explain_prints_each_candidate_and_records_nothing() {
    let db = TestDb::create().await;
    db.exec(&diagram()).await;
    let explain = |url: &'static str| {
        let db_url = db.url.clone();
        async move {
            let args = ["explain", url, "--ip", "198.51.100.7", "--ua", "curl/8"];
            switchyard_json(&args, &db_url).await
        }
    };
    let url = "https://go.example/sl/10?affid=1&sub1=_1__3_";
    {
        let out = explain(url).await;
        let steps: Vec<(i64, String, bool)> = out["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["offer_id"].as_i64().unwrap(),
                    c["via"].as_str().unwrap().to_owned(),
                    c["took_the_hit"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                (1, "candidate".to_owned(), false),
                (3, "fail_offer".to_owned(), false),
                (2, "candidate".to_owned(), true),
            ]
        );
        assert!(out["counters"].as_str().unwrap().contains("empty counters"));
        assert_eq!(out["decision"]["outcome"]["offer_id"], 2);
        assert_eq!(out["visit"]["host"], "go.example");
        let first = &out["candidates"][0];
        assert_eq!(first["refused_by"], "ADVANCED_TARGETING_MISMATCH");
        assert_eq!(first["rules"][10]["rule"], "ADVANCED_TARGETING_MISMATCH");
        assert_eq!(first["rules"][10]["verdict"], "refused");
    }
    let direct = explain("/c?oid=1&affid=1&sub1=_1_").await;
    assert_eq!(direct["candidates"][1]["via"], "fail_offer");
    assert_eq!(direct["decision"]["outcome"]["offer_id"], 3);
    assert_eq!(db.count("SELECT count(*) FROM clicks").await, 0);
    db.drop_database().await;
}
