//! The spill file and the writer's use of it, against a sink that fails until
//! told otherwise (a JSON-lines file whose directory does not exist yet).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;

use super::Attribution;
use super::record::{ConversionRecord, ConversionStatus, Event};
use super::sink::Sink;
use super::spill::{SpillError, SpillFile};
use super::writer::{WriterSettings, spawn_writer};
use crate::catalog::money::Micros;
use crate::routing::TransactionId;

fn conversion(n: u128) -> Event {
    Event::Conversion(ConversionRecord {
        conversion_id: format!("{n:032x}"),
        created_at: Utc::now(),
        transaction_id: TransactionId(n),
        status: ConversionStatus::Approved,
        reject_reason: None,
        attribution: Attribution {
            offer_id: Some(1),
            ..Attribution::default()
        },
        amount: Some(Micros(1_500_000)),
        payout: Micros(2_000_000),
        revenue: Micros::ZERO,
        order_id: Some("o\\t\n1".to_owned()),
        adv: Default::default(),
    })
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-unit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

fn settings() -> WriterSettings {
    WriterSettings {
        batch_size: 4,
        flush_interval: Duration::from_millis(10),
        write_timeout: Duration::from_secs(1),
        ..WriterSettings::default()
    }
}

#[tokio::test]
async fn spilled_events_read_back_equal() {
    let dir = temp_dir("roundtrip");
    let mut spill = SpillFile::open(&dir).await.unwrap();
    let events: Vec<Event> = (1..=3).map(conversion).collect();
    spill.append(&events).await.unwrap();
    let chunk = spill.read_chunk(10).await.unwrap();
    assert_eq!(chunk.events, events);
    spill.consumed(chunk.replayed()).await.unwrap();
    assert_eq!(spill.backlog_bytes(), 0);
    assert!(!spill.path().exists(), "a fully replayed file is removed");
}

/// Two writers on one file would lose events: the first removes the file
/// after replaying its own length, with the second's appends in it.
#[tokio::test]
async fn a_held_spill_directory_is_refused_until_its_writer_is_gone() {
    let dir = temp_dir("held");
    let first = SpillFile::open(&dir).await.unwrap();
    assert!(matches!(
        SpillFile::open(&dir).await,
        Err(SpillError::InUse { .. })
    ));
    drop(first);
    SpillFile::open(&dir).await.unwrap();
}

#[tokio::test]
async fn a_torn_last_line_from_a_crash_spoils_only_itself() {
    let dir = temp_dir("torn");
    let mut first = serde_json::to_string(&conversion(1)).unwrap();
    first.push('\n');
    first.push_str("{\"event\":\"conversion\",\"conv"); // killed mid-write
    std::fs::write(dir.join("events.spill.jsonl"), first).unwrap();
    let mut spill = SpillFile::open(&dir).await.unwrap();
    spill.append(&[conversion(2)]).await.unwrap();
    let chunk = spill.read_chunk(10).await.unwrap();
    let ids: Vec<TransactionId> = chunk
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Conversion(c) => Some(c.transaction_id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![TransactionId(1), TransactionId(2)]);
}

#[tokio::test]
async fn writer_spills_while_the_sink_fails_and_replays_when_it_returns() {
    let dir = temp_dir("writer");
    let sink_dir = dir.join("not-yet");
    let sink_path = sink_dir.join("events.jsonl");
    let spill = SpillFile::open(&dir.join("spill")).await.unwrap();
    let (events, writer) =
        spawn_writer(Sink::JsonLines(sink_path.clone()), settings(), Some(spill));
    for n in 1..=10 {
        events.send(conversion(n)).await;
    }
    let spill_path = dir.join("spill").join("events.spill.jsonl");
    assert!(eventually(|| lines(&spill_path) == 10).await, "not spilled");

    std::fs::create_dir_all(&sink_dir).unwrap();
    assert!(eventually(|| lines(&sink_path) == 10).await, "not replayed");
    assert!(eventually(|| !spill_path.exists()).await, "spill file kept");
    drop(events);
    let report = writer.await.unwrap();
    assert_eq!((report.spilled, report.written, report.lost), (10, 10, 0));
}

#[tokio::test]
async fn shutdown_with_a_failing_sink_spills_everything_at_once() {
    let dir = temp_dir("shutdown");
    let spill = SpillFile::open(&dir).await.unwrap();
    let sink = Sink::JsonLines(dir.join("missing").join("events.jsonl"));
    let (events, writer) = spawn_writer(sink, settings(), Some(spill));
    for n in 1..=25 {
        events.send(conversion(n)).await;
    }
    drop(events);
    let report = tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .expect("shutdown waits for no deadline when it can spill")
        .unwrap();
    assert_eq!((report.spilled, report.written, report.lost), (25, 0, 0));
    assert_eq!(lines(&dir.join("events.spill.jsonl")), 25);

    // The next run replays it.
    std::fs::create_dir_all(dir.join("missing")).unwrap();
    let spill = SpillFile::open(&dir).await.unwrap();
    let sink_path = dir.join("missing").join("events.jsonl");
    let (events, writer) =
        spawn_writer(Sink::JsonLines(sink_path.clone()), settings(), Some(spill));
    assert!(eventually(|| lines(&sink_path) == 25).await);
    drop(events);
    assert_eq!(writer.await.unwrap().written, 25);
}

/// hyper drops a handler whose client hung up. A handler waiting on a full
/// channel was dropped with its event: the hit was counted and answered but
/// never written (64 rows short after one outage run with 64 connections).
#[tokio::test]
async fn a_send_dropped_while_waiting_still_queues_its_event() {
    let dir = temp_dir("dropped-send");
    let sink_dir = dir.join("not-yet");
    let sink_path = sink_dir.join("events.jsonl");
    // No spill file: the failing sink holds one event, the channel one more.
    let settings = WriterSettings {
        queue_capacity: 1,
        max_pending: 1,
        batch_size: 1,
        ..settings()
    };
    let (events, writer) = spawn_writer(Sink::JsonLines(sink_path.clone()), settings, None);
    events.send(conversion(1)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    events.send(conversion(2)).await;
    let waiting = tokio::spawn({
        let events = events.clone();
        async move { events.send(conversion(3)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "the third send should wait");
    waiting.abort();
    let _ = waiting.await;

    std::fs::create_dir_all(&sink_dir).unwrap();
    drop(events);
    let report = tokio::time::timeout(Duration::from_secs(20), writer)
        .await
        .expect("the writer ends once the sink works")
        .unwrap();
    assert_eq!((report.written, report.lost, report.waited), (3, 0, 1));
    assert_eq!(lines(&sink_path), 3);
}

async fn eventually(check: impl Fn() -> bool) -> bool {
    for _ in 0..500 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[test]
fn lines_written_before_nulls_were_left_out_still_read() {
    let old = r#"{"event":"hit","kind":"click","transaction_id":"0123456789abcdef0123456789abcdef","created_at":"2026-11-21T05:48:43Z","redirected":true,"discard_rule":null,"discard_detail":null,"requested_offer_id":1,"offer_id":1,"advertiser_id":1,"partner_id":1,"smart_link_id":null,"subs":["a",null,null,null,null],"source_id":null,"idfa":null,"gaid":null,"ip":"127.0.0.1","user_agent":"ua","country":null,"is_unique":true}"#;
    let event: Event = serde_json::from_str(old).unwrap();
    let new = serde_json::to_string(&event).unwrap();
    assert!(new.len() < old.len() - 100, "{new}");
    assert_eq!(serde_json::from_str::<Event>(&new).unwrap(), event);
}
