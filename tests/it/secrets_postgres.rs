//! Secrets at rest (issue 15, part 3): partner API keys and postback
//! verification tokens are stored as SHA-256 digests, existing plain ones are
//! hashed by the migration, `partner-key new` and `offer-token new` print a
//! fresh secret once, and neither a secret nor its digest shows in `/readyz`,
//! `explain`, error bodies or the server's log.

use std::process::Stdio;
use std::time::Duration;

use switchyard::catalog::SecretHash;

use crate::common::{self, TestDb, client, eventually};
use crate::conversion_support::{click, postback};

const PARTNER_KEY: &str = "pk-known-partner-key-0123456789abcdef";
const OTHER_KEY: &str = "pk-other-partner-key-0123456789abcdef";
const POSTBACK_TOKEN: &str = "known-postback-token-0123456789";

/// Partner 1 holds `PARTNER_KEY`, paused partner 2 `OTHER_KEY`; offer 1
/// wants `POSTBACK_TOKEN`; smart link 10 is open to partner 1.
fn network() -> String {
    format!(
        "INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
         INSERT INTO partners (id, name, status, api_key_sha256) VALUES
             (1, 'Blue Media', 'active', sha256(convert_to('{PARTNER_KEY}', 'UTF8'))),
             (2, 'Dormant', 'paused', sha256(convert_to('{OTHER_KEY}', 'UTF8')));
         INSERT INTO offers (id, advertiser_id, name, offer_url, verification_token_sha256)
             VALUES (1, 1, 'Token', 'https://acme.example/?t={{transaction_id}}',
                     sha256(convert_to('{POSTBACK_TOKEN}', 'UTF8')));
         INSERT INTO offer_approvals (offer_id, partner_id) VALUES (1, 1);
         INSERT INTO smart_links (id, name, partner_visible) VALUES (10, 'Open', true);
         INSERT INTO smart_link_offers (smart_link_id, offer_id) VALUES (10, 1);"
    )
}

async fn partner_links(addr: std::net::SocketAddr, key: Option<&str>) -> (u16, String) {
    let mut request = client().get(format!("http://{addr}/partner/smart-links"));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The answer to a postback for click `tid` carrying `token`.
async fn with_token(addr: std::net::SocketAddr, tid: &str, token: &str) -> serde_json::Value {
    let query = format!("transaction_id={tid}&verification_token={token}");
    postback(&client(), addr, &query).await.1
}

/// Every form a secret or its digest could take in text: the secret, the
/// digest in hex either case (Postgres prints bytea as `\x` + hex), and the
/// digest as Rust's `Debug` of its bytes.
fn forms(secret: &str) -> Vec<String> {
    let digest = SecretHash::of(secret.as_bytes());
    vec![
        secret.to_owned(),
        digest.to_hex(),
        digest.to_hex().to_uppercase(),
        format!("{:?}", digest.as_bytes()),
    ]
}

fn assert_no_secret(place: &str, text: &str) {
    for secret in [PARTNER_KEY, OTHER_KEY, POSTBACK_TOKEN] {
        for form in forms(secret) {
            assert!(
                !text.contains(&form),
                "{place} shows `{form}` (a secret or its digest):\n{text}"
            );
        }
    }
}

#[tokio::test]
async fn keys_and_tokens_are_checked_against_their_stored_digests() {
    let db = TestDb::create().await;
    db.exec(&network()).await;
    let server = common::start(common::config_for(Some(&db))).await;
    common::wait_ready(server.addr).await;

    let (status, body) = partner_links(server.addr, Some(PARTNER_KEY)).await;
    assert_eq!(status, 200, "{body}");
    let links: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(links["partner_id"], 1);
    assert_eq!(links["smart_links"][0]["id"], 10);
    for wrong in [
        Some(&PARTNER_KEY[..PARTNER_KEY.len() - 1]),
        Some(OTHER_KEY), // paused partner
        Some(SecretHash::of(PARTNER_KEY.as_bytes()).to_hex().as_str()), // the digest is no key
        None,
    ] {
        let (status, _) = partner_links(server.addr, wrong).await;
        assert_eq!(status, 401, "{wrong:?}");
    }

    let tid = click(&client(), server.addr, 1, 1, "s").await;
    let body = with_token(server.addr, &tid, "wrong-token-0123456789").await;
    assert_eq!(body["reason"], "BAD_TOKEN", "{body}");
    let body = with_token(server.addr, &tid, POSTBACK_TOKEN).await;
    assert_eq!(body["status"], "approved", "{body}");
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn the_migration_replaces_plain_keys_and_tokens_by_their_digests() {
    let db = TestDb::create_migrated_to(Some(11)).await;
    db.exec(&format!(
        "INSERT INTO advertisers (id, name) VALUES (1, 'Acme');
         INSERT INTO partners (id, name, api_key) VALUES (1, 'Blue Media', '{PARTNER_KEY}'), (2, 'Keyless', NULL);
         INSERT INTO offers (id, advertiser_id, name, offer_url, verification_token)
             VALUES (1, 1, 'Token', 'https://acme.example/', '{POSTBACK_TOKEN}'),
                    (2, 1, 'Open', 'https://acme.example/', NULL);"
    ))
    .await;
    switchyard::app::MIGRATOR.run(&db.pool).await.unwrap();

    let digest = |sql: &str| {
        let pool = db.pool.clone();
        let sql = sql.to_owned();
        async move {
            sqlx::query_scalar::<_, Option<Vec<u8>>>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        digest("SELECT api_key_sha256 FROM partners WHERE id = 1").await,
        Some(SecretHash::of(PARTNER_KEY.as_bytes()).as_bytes().to_vec()),
        "the stored digest is the SHA-256 the server computes"
    );
    assert_eq!(
        digest("SELECT api_key_sha256 FROM partners WHERE id = 2").await,
        None
    );
    assert_eq!(
        digest("SELECT verification_token_sha256 FROM offers WHERE id = 1").await,
        Some(
            SecretHash::of(POSTBACK_TOKEN.as_bytes())
                .as_bytes()
                .to_vec()
        )
    );
    assert_eq!(
        digest("SELECT verification_token_sha256 FROM offers WHERE id = 2").await,
        None
    );
    let plain = db
        .count(
            "SELECT count(*) FROM information_schema.columns
             WHERE (table_name, column_name) IN (('partners', 'api_key'), ('offers', 'verification_token'))",
        )
        .await;
    assert_eq!(plain, 0, "the plain columns are dropped");

    // The partner's old key keeps working.
    let server = common::start(common::config_for(Some(&db))).await;
    common::wait_ready(server.addr).await;
    let (status, body) = partner_links(server.addr, Some(PARTNER_KEY)).await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

/// Runs the real binary with `args`; its exit status, stdout and stderr.
async fn switchyard(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "trace")
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn a_new_partner_key_is_printed_once_and_stored_as_its_digest() {
    let db = TestDb::create().await;
    db.exec(&network()).await;
    let server = common::start(common::config_for(Some(&db))).await;
    common::wait_ready(server.addr).await;

    let (ok, stdout, stderr) = switchyard(&db, &["partner-key", "new", "1"]).await;
    assert!(ok, "{stderr}");
    let key = stdout.trim().to_owned();
    assert_eq!(stdout, format!("{key}\n"), "the key alone on stdout");
    assert_eq!(key.len(), 64, "32 random bytes in hex: {key}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    let digest = SecretHash::of(key.as_bytes());
    assert!(!stderr.contains(&key) && !stderr.contains(&digest.to_hex()));
    assert!(stderr.contains("shown this once"), "{stderr}");
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM partners WHERE id = 1 AND api_key_sha256 = '\\x{}'::bytea",
            digest.to_hex()
        ))
        .await,
        1,
        "the digest is stored"
    );

    // The running server takes the new key and drops the old one on the
    // reload the update NOTIFYs.
    let switched = eventually(Duration::from_secs(10), || async {
        partner_links(server.addr, Some(&key)).await.0 == 200
    })
    .await;
    assert!(switched, "the new key was never accepted");
    assert_eq!(partner_links(server.addr, Some(PARTNER_KEY)).await.0, 401);

    let (ok, stdout, stderr) = switchyard(&db, &["partner-key", "new", "99"]).await;
    assert!(!ok);
    assert!(
        stdout.is_empty(),
        "no key for a partner that does not exist"
    );
    assert!(stderr.contains("there is no partner 99"), "{stderr}");
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn a_new_offer_token_is_printed_once_and_verifies_postbacks() {
    let db = TestDb::create().await;
    db.exec(&network()).await;
    let server = common::start(common::config_for(Some(&db))).await;
    common::wait_ready(server.addr).await;

    let (ok, stdout, stderr) = switchyard(&db, &["offer-token", "new", "1"]).await;
    assert!(ok, "{stderr}");
    let token = stdout.trim().to_owned();
    assert_eq!(token.len(), 64, "{token}");
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM offers WHERE id = 1 AND verification_token_sha256 = '\\x{}'::bytea",
            SecretHash::of(token.as_bytes()).to_hex()
        ))
        .await,
        1
    );
    // Wait for the reload: the old token is refused from then on. A fresh
    // click each time, as one approved conversion makes the next a duplicate.
    let refused_old = eventually(Duration::from_secs(10), || async {
        let tid = click(&client(), server.addr, 1, 1, "s").await;
        with_token(server.addr, &tid, POSTBACK_TOKEN).await["reason"] == "BAD_TOKEN"
    })
    .await;
    assert!(refused_old, "the old token still verifies");
    let tid = click(&client(), server.addr, 1, 1, "s").await;
    let body = with_token(server.addr, &tid, &token).await;
    assert_eq!(body["status"], "approved", "{body}");

    let (ok, _, stderr) = switchyard(&db, &["offer-token", "new", "99"]).await;
    assert!(!ok && stderr.contains("there is no offer 99"), "{stderr}");
    server.shutdown().await.unwrap();
    db.drop_database().await;
}

/// The real binary at the most verbose log level, its stderr read whole.
#[tokio::test]
async fn no_secret_or_digest_in_readyz_explain_error_bodies_or_the_log() {
    let db = TestDb::create().await;
    db.exec(&network()).await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let log = std::env::temp_dir().join(format!(
        "switchyard-secrets-{}-{port}.log",
        std::process::id()
    ));
    let spill = std::env::temp_dir().join(format!("switchyard-secrets-spill-{port}"));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("SWITCHYARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHYARD_ADMIN_LISTEN", "127.0.0.1:0")
        .env("SWITCHYARD_SPILL_DIR", &spill)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    common::wait_ready(addr).await;
    let client = client();
    let mut bodies = Vec::new();
    let mut get = async |url: String, key: Option<&str>| {
        let mut request = client.get(&url);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        bodies.push((url, status, response.text().await.unwrap()));
        status
    };

    assert_eq!(get(format!("http://{addr}/readyz"), None).await, 200);
    // The partner API: every refusal, and the answer itself.
    let partner_api = format!("http://{addr}/partner/smart-links");
    assert_eq!(get(partner_api.clone(), None).await, 401);
    assert_eq!(
        get(partner_api.clone(), Some("wrong-key-0123456789")).await,
        401
    );
    assert_eq!(get(partner_api.clone(), Some(OTHER_KEY)).await, 401);
    assert_eq!(get(partner_api.clone(), Some(PARTNER_KEY)).await, 200);
    // Postbacks: a wrong token, the right one, a malformed postback carrying
    // the token, and the pixel.
    let tid = click(&client, addr, 1, 1, "s").await;
    for query in [
        format!("transaction_id={tid}&verification_token=wrong-token-0123456789"),
        format!("transaction_id={tid}&verification_token={POSTBACK_TOKEN}"),
        format!("transaction_id=nope&verification_token={POSTBACK_TOKEN}"),
        format!("transaction_id={tid}&amount=x&verification_token={POSTBACK_TOKEN}"),
    ] {
        get(format!("http://{addr}/postback?{query}"), None).await;
    }
    get(format!("http://{addr}/pixel?transaction_id={tid}"), None).await;
    let statuses: Vec<u16> = bodies.iter().map(|(_, status, _)| *status).collect();
    assert!(
        statuses.contains(&400),
        "a malformed postback was tried: {statuses:?}"
    );
    for (url, _, body) in &bodies {
        // The URLs themselves carry the secrets: only the answers count.
        assert_no_secret(&format!("the answer to {url}"), body);
    }

    let (ok, stdout, stderr) = switchyard(&db, &["explain", "/sl/10?affid=1"]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\"candidates\""), "{stdout}");
    assert_no_secret("explain's output", &stdout);
    assert_no_secret("explain's log", &stderr);

    let status = common::sigterm(&mut child).await;
    assert!(status.success(), "exit status {status}");
    let log_text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_dir_all(&spill);
    // The log is the one at trace level, with the catalog loaded and the
    // partner and postback routes exercised.
    assert!(log_text.contains("switchyard listening"), "{log_text}");
    assert!(log_text.contains("TRACE"), "not a trace-level log");
    assert_no_secret("the server log", &log_text);
    db.drop_database().await;
}
