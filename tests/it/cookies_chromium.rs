//! Cookie tracking as a real browser does it (issue 15, part 4): headless
//! Chromium follows a smart link on a tracking domain and loads the
//! conversion pixel from the landing page. On the advertiser's own site (the
//! tracking domain a CNAME under it) the `sy_tid` cookie reaches the pixel;
//! on another site it does not (`SameSite=Lax`, and Chromium's third-party
//! cookie rules), and only a click id passed on by the page gets the
//! conversion recorded.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::Query;
use axum::response::Html;
use switchyard::config::ServeConfig;

use crate::common::chromium::headless;
use crate::common::{self, TestDb};

/// Both test sites resolve to this machine, whatever port the URL names.
const HOST_RULES: &str =
    "--host-resolver-rules=MAP *.adv.test 127.0.0.1, MAP *.other.test 127.0.0.1";

/// The advertiser's landing pages, a stand-in for its web server: the page
/// loads the pixel from the tracking domain, with the click id it was sent
/// (`pixel=click_id`) or relying on the cookie (`pixel=cookie`). The pixel's
/// load or error lands in `data-pixel`, so the dumped DOM shows whether the
/// browser fetched it and what it got.
async fn start_landing_pages(tracking_port: u16) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let landing = move |Query(query): Query<HashMap<String, String>>| async move {
        let click_id = query.get("click_id").cloned().unwrap_or_default();
        let pixel = match query.get("pixel").map(String::as_str) {
            Some("click_id") => format!(
                "http://track.adv.test:{tracking_port}/pixel?transaction_id={click_id}&amount=3"
            ),
            _ => format!("http://track.adv.test:{tracking_port}/pixel?amount=3"),
        };
        Html(format!(
            r#"<!doctype html><html><body><p id="landed">{click_id}</p>
<img src="{pixel}" onload="document.body.dataset.pixel='loaded'" onerror="document.body.dataset.pixel='refused'">
</body></html>"#
        ))
    };
    let app = axum::Router::new().route("/landing", axum::routing::get(landing));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Partner 1 approved for three offers, each behind its own smart link on
/// `track.adv.test`: landing on the advertiser's site (10), on another site
/// (11), and on another site that passes the click id to the pixel (12).
fn network(landing_port: u16) -> String {
    let url = |host: &str, pixel: &str| {
        format!("http://{host}:{landing_port}/landing?click_id={{transaction_id}}&pixel={pixel}")
    };
    format!(
        "INSERT INTO advertisers (id, name) VALUES (1, 'Adv');
         INSERT INTO partners (id, name) VALUES (1, 'Blue Media');
         INSERT INTO offers (id, advertiser_id, name, offer_url, payout, revenue) VALUES
             (1, 1, 'Same site', '{}', 1, 2),
             (2, 1, 'Other site', '{}', 1, 2),
             (3, 1, 'Other site, click id passed', '{}', 1, 2);
         INSERT INTO offer_approvals (offer_id, partner_id) VALUES (1, 1), (2, 1), (3, 1);
         INSERT INTO tracking_domains (id, hostname) VALUES (1, 'track.adv.test');
         INSERT INTO smart_links (id, name, mechanism, tracking_domain_id) VALUES
             (10, 'Same site', 'priority', 1), (11, 'Other site', 'priority', 1),
             (12, 'Click id passed', 'priority', 1);
         INSERT INTO smart_link_offers (smart_link_id, offer_id) VALUES (10, 1), (11, 2), (12, 3);",
        url("www.adv.test", "cookie"),
        url("www.other.test", "cookie"),
        url("www.other.test", "click_id"),
    )
}

/// Follows smart link `link` in a fresh browser profile; the landing page's DOM.
async fn visit(tracking: SocketAddr, link: i64) -> String {
    let url = format!(
        "http://track.adv.test:{}/sl/{link}?affid=1&sub1=browser",
        tracking.port()
    );
    headless(&url, &["--dump-dom".to_owned(), HOST_RULES.to_owned()]).await
}

#[tokio::test]
async fn the_pixel_reads_the_cookie_on_the_advertisers_site_only() {
    let db = TestDb::create().await;
    // The landing pages need the tracking port and the catalog needs theirs:
    // bind the server first, seed after (a NOTIFY reloads it).
    let mut config = common::config_for(Some(&db));
    config.cookie_domain = vec!["adv.test".to_owned()];
    let server = common::start(config).await;
    let landing = start_landing_pages(server.addr.port()).await;
    db.exec(&network(landing.port())).await;
    let linked = common::eventually(std::time::Duration::from_secs(10), || async {
        let response = common::client()
            .get(format!("http://{}/readyz", server.addr))
            .send()
            .await
            .unwrap();
        response.text().await.unwrap().contains("\"smart_links\":3")
    })
    .await;
    assert!(linked, "the catalog with the three links never loaded");

    let same_site = visit(server.addr, 10).await;
    let other_site = visit(server.addr, 11).await;
    let passed_on = visit(server.addr, 12).await;
    server.shutdown().await.unwrap();

    // Every page loaded and fetched its pixel; only the answers differ.
    for dom in [&same_site, &other_site, &passed_on] {
        assert!(dom.contains(r#"<p id="landed">"#), "{dom}");
    }
    assert!(same_site.contains(r#"data-pixel="loaded""#), "{same_site}");
    assert!(
        other_site.contains(r#"data-pixel="refused""#),
        "the cookie reached a pixel on another site: {other_site}"
    );
    assert!(passed_on.contains(r#"data-pixel="loaded""#), "{passed_on}");

    let clicks: Vec<(i64, String)> = sqlx::query_as(
        "SELECT smart_link_id, transaction_id FROM clicks
         WHERE discard_rule IS NULL ORDER BY smart_link_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        clicks.iter().map(|(link, _)| *link).collect::<Vec<_>>(),
        vec![10, 11, 12],
        "one redirected click per link"
    );
    let conversions: Vec<(String, String, f64)> = sqlx::query_as(
        "SELECT transaction_id, status::text, amount::float8 FROM conversions ORDER BY created_at",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        conversions,
        vec![
            (clicks[0].1.clone(), "approved".to_owned(), 3.0),
            (clicks[2].1.clone(), "approved".to_owned(), 3.0),
        ],
        "the same-site pixel (cookie) and the passed-on click id convert; the other site's pixel records nothing"
    );
    db.drop_database().await;
}

/// `SameSite=None; Secure` only when the operator says tracking is HTTPS.
#[tokio::test]
async fn cross_site_cookies_only_when_tracking_is_https() {
    for (https, same_site) in [(false, "SameSite=Lax"), (true, "SameSite=None; Secure")] {
        let config = ServeConfig {
            tracking_https: https,
            cookie_domain: vec!["adv.test".to_owned()],
            ..common::config_for(None)
        };
        let server = common::start(config).await;
        let click = common::client()
            .get(format!("http://{}/c?oid=1&affid=1", server.addr))
            .header("host", "track.adv.test")
            .send()
            .await
            .unwrap();
        assert_eq!(click.status(), 302);
        let cookies = common::set_cookies(&click);
        assert_eq!(cookies.len(), 2, "{cookies:?}");
        for cookie in cookies {
            assert!(
                cookie.ends_with(&format!(
                    "; Domain=adv.test; Path=/; Max-Age=2592000; HttpOnly; {same_site}"
                )),
                "{cookie}"
            );
        }
        server.shutdown().await.unwrap();
    }
}
