//! The one table of column limits (`switchyard::columns`) against the migrated
//! schema, and every limit tested at its edge: at the writer (a value just
//! inside is stored, one just outside is dead-lettered, and neither stops the
//! rows around it) and at the HTTP edge (just inside is stored, just outside is
//! a 400 naming the field, and nothing is stored).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;
use switchyard::catalog::money::Micros;
use switchyard::columns::{self, Kind};
use switchyard::events::{
    Attribution, ConversionEventRecord, ConversionRecord, ConversionStatus, Event, HitKind,
    HitRecord, PostbackAttemptRecord, PostbackDeliveryRecord, Sink, WriterSettings, spawn_writer,
};
use switchyard::routing::TransactionId;

use crate::common::*;

#[tokio::test]
async fn the_limits_table_matches_the_migrated_schema() {
    let db = TestDb::create().await;
    let mut problems = Vec::new();
    for table in columns::EVENT_TABLES {
        let rows: Vec<SchemaColumn> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, udt_name::text, is_nullable::text,
                        numeric_precision, numeric_scale
                 FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name = $1",
        )
        .bind(table.name)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert!(!rows.is_empty(), "no table {} in the schema", table.name);
        let lengths = text_limits(&db, table.name).await;
        let in_schema: BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        for column in table.columns {
            if !in_schema.contains(column.name) {
                problems.push(format!(
                    "{}.{} is in src/columns.rs but not in the schema",
                    table.name, column.name
                ));
            }
        }
        for (name, data_type, udt, nullable, precision, scale) in &rows {
            if table.generated.contains(&name.as_str()) {
                continue;
            }
            let Some(column) = table.column(name) else {
                problems.push(format!(
                    "{}.{name} is in the schema but not in src/columns.rs",
                    table.name
                ));
                continue;
            };
            let schema_kind = match data_type.as_str() {
                "text" => Kind::Text(lengths.get(name).copied()),
                "bigint" => Kind::BigInt,
                "integer" => Kind::Integer,
                "numeric" => Kind::Numeric(columns::Numeric {
                    precision: precision.unwrap_or(0) as u32,
                    scale: scale.unwrap_or(0) as u32,
                }),
                "inet" => Kind::Inet,
                "timestamp with time zone" => Kind::Timestamptz,
                "boolean" => Kind::Boolean,
                "jsonb" => Kind::Jsonb,
                "USER-DEFINED" => Kind::Enum(Box::leak(udt.clone().into_boxed_str())),
                other => panic!("{}.{name}: type {other} not covered", table.name),
            };
            if schema_kind != column.kind {
                problems.push(format!(
                    "{}.{name}: schema says {schema_kind:?}, src/columns.rs says {:?}",
                    table.name, column.kind
                ));
            }
            if (nullable == "YES") != column.nullable {
                problems.push(format!(
                    "{}.{name}: nullable is {nullable} in the schema",
                    table.name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    db.drop_database().await;
}

/// Name, data type, type name, nullable, numeric precision and scale.
type SchemaColumn = (String, String, String, String, Option<i32>, Option<i32>);

/// Each text column's length limit, from its CHECK constraints: `char_length(c)
/// <= n`, or a 32-hex-character pattern.
async fn text_limits(db: &TestDb, table: &str) -> BTreeMap<String, usize> {
    let checks: Vec<(String,)> = sqlx::query_as(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = $1::regclass AND contype = 'c'",
    )
    .bind(table)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let length = regex::Regex::new(r"char_length\((\w+)\) <= (\d+)").unwrap();
    let hex = regex::Regex::new(r"\((\w+) ~ '\^\[0-9a-f\]\{32\}\$'").unwrap();
    let mut limits = BTreeMap::new();
    for (def,) in checks {
        for m in length.captures_iter(&def) {
            limits.insert(m[1].to_owned(), m[2].parse().unwrap());
        }
        for m in hex.captures_iter(&def) {
            limits.insert(m[1].to_owned(), columns::ID_CHARS);
        }
    }
    limits
}

/// A value for a bounded column: at its limit, or just past it.
#[derive(Debug, Clone)]
enum Value {
    Text(String),
    Money(Micros),
}

fn boundary_values(column: &columns::Column) -> Vec<(Value, bool)> {
    match column.kind {
        Kind::Text(Some(max)) if max == columns::ID_CHARS => vec![
            (Value::Text(fresh_hex(max)), true),
            (Value::Text(fresh_hex(max + 1)), false),
        ],
        // Two bytes a character: the limit counts characters.
        Kind::Text(Some(max)) => vec![
            (Value::Text("é".repeat(max)), true),
            (Value::Text("é".repeat(max + 1)), false),
            (Value::Text("nul\0byte".to_owned()), false),
        ],
        Kind::Text(None) => vec![(Value::Text("nul\0byte".to_owned()), false)],
        Kind::Numeric(numeric) => vec![
            (Value::Money(numeric.max()), true),
            (Value::Money(Micros(-numeric.max().0)), true),
            (Value::Money(Micros(numeric.max().0 + 100)), false),
        ],
        _ => Vec::new(),
    }
}

fn fresh_hex(len: usize) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1 << 40);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{n:0>len$x}")
}

fn text(value: &Value) -> String {
    match value {
        Value::Text(text) => text.clone(),
        Value::Money(_) => panic!("a text column given money"),
    }
}

fn money(value: &Value) -> Micros {
    match value {
        Value::Money(m) => *m,
        Value::Text(_) => panic!("a money column given text"),
    }
}

fn hit(kind: HitKind, n: u128) -> HitRecord {
    HitRecord {
        kind,
        transaction_id: TransactionId(n),
        created_at: Utc::now(),
        // Discarded, so that a discard rule may be set without breaking the
        // row's own CHECK.
        redirected: false,
        discard_rule: Some("IP_RECENCY".into()),
        discard_detail: None,
        requested_offer_id: Some(1),
        offer_id: None,
        advertiser_id: Some(1),
        partner_id: Some(1),
        smart_link_id: None,
        subs: Default::default(),
        source_id: None,
        idfa: None,
        gaid: None,
        ip: "192.0.2.1".parse().unwrap(),
        user_agent: Arc::from("ua"),
        country: Some("US".to_owned()),
        is_unique: true,
        checks: Vec::new(),
    }
}

fn conversion(n: u128) -> ConversionRecord {
    ConversionRecord {
        conversion_id: format!("{n:032x}"),
        created_at: Utc::now(),
        transaction_id: TransactionId(n),
        status: ConversionStatus::Rejected,
        reject_reason: Some("DUPLICATE".to_owned()),
        attribution: Attribution::default(),
        amount: Some(Micros(1_000_000)),
        payout: Micros::ZERO,
        revenue: Micros::ZERO,
        order_id: None,
        adv: Default::default(),
    }
}

fn conversion_event(n: u128) -> ConversionEventRecord {
    ConversionEventRecord {
        event_id: format!("{n:032x}"),
        created_at: Utc::now(),
        transaction_id: TransactionId(n),
        adv_event_id: "purchase".to_owned(),
        status: ConversionStatus::Approved,
        reject_reason: None,
        attribution: Attribution::default(),
        amount: None,
        payout: Micros::ZERO,
        revenue: Micros::ZERO,
    }
}

fn attempt(n: u128) -> PostbackAttemptRecord {
    PostbackAttemptRecord {
        attempt_id: format!("{n:032x}"),
        conversion_id: format!("{n:032x}"),
        partner_id: 1,
        attempt: 1,
        attempted_at: Utc::now(),
        url: "https://partner.example/pb".to_owned(),
        http_status: Some(500),
        error: Some("HTTP 500".to_owned()),
    }
}

fn sub_slot(column: &str) -> Option<usize> {
    column
        .strip_prefix("sub")
        .or_else(|| column.strip_prefix("adv"))
        .and_then(|n| n.parse::<usize>().ok())
        .map(|n| n - 1)
}

/// An event of `table` whose `column` holds `value`; `None` where the event's
/// type cannot hold a value outside the column (a `TransactionId` is always 32
/// hex characters). Every bounded column must be named here: a new one fails
/// the test until it is.
fn event_with(table: &str, column: &str, value: &Value, n: u128) -> Option<Event> {
    let event = match table {
        "clicks" | "impressions" => {
            let kind = if table == "clicks" {
                HitKind::Click
            } else {
                HitKind::Impression
            };
            let mut h = hit(kind, n);
            match column {
                "transaction_id" => return None,
                "discard_rule" => h.discard_rule = Some(text(value).into()),
                "discard_detail" => h.discard_detail = Some(text(value).into()),
                "source_id" => h.source_id = Some(text(value)),
                "idfa" => h.idfa = Some(text(value)),
                "gaid" => h.gaid = Some(text(value)),
                "user_agent" => h.user_agent = Arc::from(text(value)),
                "country" => h.country = Some(text(value)),
                sub if sub_slot(sub).is_some() => {
                    h.subs[sub_slot(sub).unwrap()] = Some(text(value))
                }
                other => panic!("{table}.{other}: no boundary test"),
            }
            Event::Hit(h)
        }
        "conversions" => {
            let mut c = conversion(n);
            match column {
                "transaction_id" => return None,
                "conversion_id" => c.conversion_id = text(value),
                "reject_reason" => c.reject_reason = Some(text(value)),
                "order_id" => c.order_id = Some(text(value)),
                "amount" => c.amount = Some(money(value)),
                "payout" => c.payout = money(value),
                "revenue" => c.revenue = money(value),
                adv if sub_slot(adv).is_some() => c.adv[sub_slot(adv).unwrap()] = Some(text(value)),
                other => panic!("{table}.{other}: no boundary test"),
            }
            Event::Conversion(c)
        }
        "conversion_events" => {
            let mut e = conversion_event(n);
            match column {
                "transaction_id" => return None,
                "event_id" => e.event_id = text(value),
                "adv_event_id" => e.adv_event_id = text(value),
                "reject_reason" => e.reject_reason = Some(text(value)),
                "amount" => e.amount = Some(money(value)),
                "payout" => e.payout = money(value),
                "revenue" => e.revenue = money(value),
                other => panic!("{table}.{other}: no boundary test"),
            }
            Event::ConversionEvent(e)
        }
        "partner_postback_attempts" => {
            let mut a = attempt(n);
            match column {
                "attempt_id" => a.attempt_id = text(value),
                "conversion_id" => a.conversion_id = text(value),
                "error" => a.error = Some(text(value)),
                "url" => a.url = text(value),
                other => panic!("{table}.{other}: no boundary test"),
            }
            Event::PostbackAttempt(a)
        }
        "partner_postback_queue" => {
            let mut d = PostbackDeliveryRecord {
                delivery_id: format!("{n:032x}"),
                conversion_id: format!("{n:032x}"),
                partner_id: 1,
                url: "https://partner.example/pb".to_owned(),
                created_at: Utc::now(),
            };
            match column {
                "delivery_id" => d.delivery_id = text(value),
                "conversion_id" => d.conversion_id = text(value),
                "url" => d.url = text(value),
                other => panic!("{table}.{other}: no boundary test"),
            }
            Event::PostbackDelivery(d)
        }
        // Written by the writer itself, from events already checked.
        "dead_letter_events" => return None,
        other => panic!("{other}: no boundary test"),
    };
    Some(event)
}

fn key_column(table: &str) -> &'static str {
    match table {
        "clicks" | "impressions" => "transaction_id",
        "conversions" => "conversion_id",
        "conversion_events" => "event_id",
        "partner_postback_attempts" => "attempt_id",
        "partner_postback_queue" => "delivery_id",
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn every_column_stores_a_value_at_its_limit_and_dead_letters_one_past_it() {
    let db = TestDb::create().await;
    let mut cases: Vec<(&'static str, &'static str, Value, bool, Event)> = Vec::new();
    let mut n: u128 = 1 << 64;
    for table in columns::EVENT_TABLES {
        for column in table.columns {
            for (value, fits) in boundary_values(column) {
                n += 1;
                if let Some(event) = event_with(table.name, column.name, &value, n) {
                    cases.push((table.name, column.name, value, fits, event));
                }
            }
        }
    }
    let bad = cases.iter().filter(|c| !c.3).count();
    assert!(cases.len() > 100 && bad > 50, "{} cases", cases.len());

    // Under load: the cases are spread through 5,000 good clicks, in batches of
    // 500, so most batches hold a bad row or two.
    let settings = WriterSettings {
        batch_size: 500,
        flush_interval: Duration::from_millis(20),
        ..WriterSettings::default()
    };
    let (events, writer) = spawn_writer(Sink::Postgres(db.pool.clone()), settings, None);
    let filler = 5_000u128;
    let mut next_case = cases.iter();
    for i in 0..filler {
        let mut click = hit(HitKind::Click, i + 1);
        click.redirected = true;
        click.discard_rule = None;
        click.offer_id = Some(1);
        events.send(Event::Hit(click)).await;
        if i % 20 == 0
            && let Some(case) = next_case.next()
        {
            events.send(case.4.clone()).await;
        }
    }
    for case in next_case {
        events.send(case.4.clone()).await;
    }
    drop(events);
    let report = tokio::time::timeout(Duration::from_secs(120), writer)
        .await
        .expect("the writer finishes")
        .unwrap();
    assert_eq!(report.lost, 0);
    assert_eq!(report.dead_lettered, bad as u64, "{report:?}");
    assert_eq!(
        report.written,
        filler as u64 + (cases.len() - bad) as u64,
        "{report:?}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE outcome = 'redirected'")
            .await,
        filler as i64,
        "a good click was held back by a bad row"
    );

    for (table, column, value, fits, event) in &cases {
        let key = event.key();
        let key_column = key_column(table);
        let stored: Option<(Option<String>,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {column}::text FROM {table} WHERE {key_column} = $1"
        )))
        .bind(&key)
        .fetch_optional(&db.pool)
        .await
        .unwrap();
        let dead: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT kind, sqlstate FROM dead_letter_events WHERE event_key = $1")
                .bind(&key)
                .fetch_optional(&db.pool)
                .await
                .unwrap();
        if *fits {
            let (stored,) =
                stored.unwrap_or_else(|| panic!("{table}.{column}: {value:?} not stored"));
            let stored = stored.unwrap_or_default();
            match value {
                Value::Text(text) => assert_eq!(&stored, text, "{table}.{column}"),
                Value::Money(m) => {
                    assert_eq!(Micros::parse(&stored).unwrap(), *m, "{table}.{column}")
                }
            }
            assert!(
                dead.is_none(),
                "{table}.{column}: a fitting value dead-lettered"
            );
        } else {
            assert!(
                stored.is_none(),
                "{table}.{column}: stored a value past its limit"
            );
            let (kind, sqlstate) =
                dead.unwrap_or_else(|| panic!("{table}.{column}: not dead-lettered"));
            assert_eq!(kind, event.kind_name());
            let class = sqlstate.unwrap_or_default();
            assert!(
                class.starts_with("22") || class.starts_with("23"),
                "{table}.{column}: SQLSTATE {class}"
            );
        }
    }
    // A dead letter keeps the event, so that it can be fixed and replayed.
    let payload: String = sqlx::query_scalar("SELECT payload FROM dead_letter_events LIMIT 1")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    serde_json::from_str::<Event>(&payload).expect("the payload is the event");
    db.drop_database().await;
}

/// The postback the issue reported: an amount too large for its column was
/// approved, and every batch holding it then failed forever.
#[tokio::test]
async fn request_values_at_their_limits_are_stored_and_past_them_refused_under_load() {
    let db = TestDb::create().await;
    db.exec(SMALL_NETWORK).await;
    db.exec("UPDATE offers SET allow_duplicate_conversions = true WHERE id = 1")
        .await;
    let server = start(config_for(Some(&db))).await;
    let addr = server.addr;
    let client = client();

    // Background load: 2,000 ordinary clicks while the boundary requests run.
    let load = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut sent = 0;
            for round in 0..20 {
                let batch = (0..100).map(|i| {
                    client
                        .get(format!(
                            "http://{addr}/c?oid=1&affid=1&sub1=load{round}x{i}"
                        ))
                        .send()
                });
                for response in join_all(batch).await {
                    assert_eq!(response.unwrap().status(), 302);
                    sent += 1;
                }
            }
            sent
        })
    };

    let at_limit = "a".repeat(columns::TOKEN_CHARS);
    let past_limit = "a".repeat(columns::TOKEN_CHARS + 1);
    let mut accepted_clicks = 0i64;
    let mut refused_clicks = 0i64;
    for field in [
        "sub1",
        "sub2",
        "sub3",
        "sub4",
        "sub5",
        "source_id",
        "idfa",
        "gaid",
    ] {
        let ok = client
            .get(format!("http://{addr}/c?oid=1&affid=1&{field}={at_limit}"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 302, "{field} at its limit");
        accepted_clicks += 1;
        let refused = client
            .get(format!(
                "http://{addr}/c?oid=1&affid=1&{field}={past_limit}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{field} past its limit");
        refused_clicks += 1;
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "parameter_too_long");
        assert_eq!(body["field"], field);
    }
    // A user agent is cut to its column, not refused.
    let long_agent = client
        .get(format!("http://{addr}/c?oid=1&affid=1&sub1=long-agent"))
        .header("user-agent", "u".repeat(columns::USER_AGENT_CHARS + 500))
        .send()
        .await
        .unwrap();
    assert_eq!(long_agent.status(), 302);
    accepted_clicks += 1;

    let click = |tag: String| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("http://{addr}/c?oid=1&affid=1&sub2={tag}"))
                .send()
                .await
                .unwrap();
            let location = location(&response).unwrap();
            location.split("t=").nth(1).unwrap()[..32].to_owned()
        }
    };
    let mut approved = 0i64;
    let mut postback = async |tid: &str, extra: &str| {
        let response = client
            .get(format!(
                "http://{addr}/postback?transaction_id={tid}&{extra}"
            ))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        if status == 200 {
            assert_eq!(body["status"], "approved", "{extra}: {body}");
            approved += 1;
        }
        (status, body)
    };
    for field in [
        "order_id",
        "adv1",
        "adv2",
        "adv3",
        "adv4",
        "adv5",
        "adv_event_id",
    ] {
        let tid = click(format!("pb-{field}")).await;
        accepted_clicks += 1;
        let (status, _) = postback(&tid, &format!("{field}={at_limit}")).await;
        assert_eq!(status, 200, "{field} at its limit");
        let (status, body) = postback(&tid, &format!("{field}={past_limit}")).await;
        assert_eq!(status, 400, "{field} past its limit");
        assert_eq!(body["field"], field);
    }
    let tid = click("amount".to_owned()).await;
    accepted_clicks += 1;
    let (status, _) = postback(&tid, "amount=9999999999.9999").await;
    assert_eq!(status, 200);
    for (amount, code) in [
        ("99999999999", "amount_out_of_range"),
        ("10000000000", "amount_out_of_range"),
        ("1.00001", "invalid_amount"),
    ] {
        let (status, body) = postback(&tid, &format!("amount={amount}")).await;
        assert_eq!(status, 400, "amount={amount}");
        assert_eq!(body["error"], code);
        assert_eq!(body["field"], "amount");
    }

    let sent = load.await.unwrap();
    let report = server.shutdown().await.unwrap();
    assert_eq!(report.lost, 0);
    assert_eq!(report.dead_lettered, 0, "the edge let a bad value through");
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE outcome = 'redirected'")
            .await,
        sent + accepted_clicks,
        "a valid click was lost"
    );
    // A refused hit is recorded (every hit has one outcome), without its values.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM clicks WHERE discard_rule = 'INVALID_REQUEST'
               AND discard_detail = 'parameter_too_long'
               AND num_nulls(sub1, sub2, sub3, sub4, sub5, source_id, idfa, gaid) = 8"
        )
        .await,
        refused_clicks
    );
    assert_eq!(
        db.count("SELECT count(*) FROM clicks").await,
        sent + accepted_clicks + refused_clicks
    );
    let conversions = db.count("SELECT count(*) FROM conversions").await
        + db.count("SELECT count(*) FROM conversion_events").await;
    assert_eq!(conversions, approved);
    assert_eq!(
        db.count("SELECT count(*) FROM conversions WHERE amount = 9999999999.9999")
            .await,
        1
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM conversions WHERE order_id = '{at_limit}'"
        ))
        .await,
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM clicks WHERE char_length(user_agent) = 1024")
            .await,
        1
    );
    db.drop_database().await;
}
