use chrono::TimeDelta;

use super::*;

const NO_SUBS: [Option<String>; 5] = [None, None, None, None, None];

/// Ids that spread like real (random) ones, all in shard `n % SHARDS`.
fn tid(n: u128) -> TransactionId {
    TransactionId(
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) & !0xff | (n % SHARDS as u128),
    )
}

fn click(transaction_id: TransactionId, created_at: DateTime<Utc>) -> NewClick<'static> {
    NewClick {
        transaction_id,
        created_at,
        offer_id: 1,
        advertiser_id: Some(1),
        partner_id: 1,
        smart_link_id: None,
        subs: &NO_SUBS,
        source_id: None,
    }
}

#[test]
fn evicts_the_oldest_beyond_its_count() {
    // Two per shard; these ids all fall in shard 0.
    let index = ClickIndex::new(2 * SHARDS, Duration::from_secs(3600));
    let now = Utc::now();
    let shards = SHARDS as u128;
    for n in 1..=3 {
        index.remember(&click(tid(n * shards), now), ClickTexts::NONE, now);
    }
    index.remember(&click(tid(1), now), ClickTexts::NONE, now);
    assert_eq!(index.len(), 3);
    assert!(index.get(tid(shards), now).is_none());
    assert!(index.get(tid(3 * shards), now).is_some());
    assert!(index.get(tid(1), now).is_some());
}

#[test]
fn forgets_clicks_older_than_its_age() {
    let index = ClickIndex::new(100, Duration::from_secs(60));
    let now = Utc::now();
    index.remember(
        &click(tid(1), now - TimeDelta::seconds(120)),
        ClickTexts::NONE,
        now,
    );
    index.remember(&click(tid(2), now), ClickTexts::NONE, now);
    assert!(index.get(tid(1), now).is_none());
    assert_eq!(index.len(), 1);
    // Still held a moment ago, and aged out of reads before it is evicted.
    let later = now + TimeDelta::seconds(61);
    assert!(index.get(tid(2), later).is_none());
}

#[test]
fn gives_back_the_facts_it_was_given_with_the_texts_kept() {
    let index = ClickIndex::new(1_000, Duration::from_secs(3600));
    let now = Utc::now();
    let subs = [
        Some("abc".to_owned()),
        Some(String::new()),
        Some("c".into()),
        None,
        None,
    ];
    let new = NewClick {
        transaction_id: tid(42),
        created_at: now,
        offer_id: 3_000_000_000,
        advertiser_id: None,
        partner_id: 9,
        smart_link_id: Some(77),
        subs: &subs,
        source_id: Some("site-1"),
    };
    let keep =
        ClickTexts::of_postback_url(Some("https://p.example/?a={sub1}&b={sub2}&s={source_id}"));
    index.remember(&new, keep, now);
    let facts = index.get(tid(42), now).unwrap();
    assert_eq!(
        facts,
        ClickFacts {
            transaction_id: tid(42),
            created_at: DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap(),
            offer_id: 3_000_000_000,
            advertiser_id: None,
            partner_id: 9,
            smart_link_id: Some(77),
            // sub3 was not asked for: not kept.
            subs: [Some("abc".into()), Some(String::new()), None, None, None],
            source_id: Some("site-1".into()),
            kept: keep,
            local: true,
        }
    );
}

#[test]
fn ids_beyond_u32_are_kept_whole_and_released_with_their_click() {
    let index = ClickIndex::new(SHARDS, Duration::from_secs(3600));
    let now = Utc::now();
    let subs = [Some("x".to_owned()), None, None, None, None];
    let mut big = click(tid(0), now);
    big.offer_id = 1 << 40;
    big.subs = &subs;
    index.remember(&big, ClickTexts::NONE, now);
    let facts = index.get(tid(0), now).unwrap();
    assert_eq!(facts.offer_id, 1 << 40);
    // Kept whole: every text comes back.
    assert_eq!(facts.kept, ClickTexts::ALL);
    assert_eq!(facts.subs[0].as_deref(), Some("x"));
    // One per shard: the next click of shard 0 evicts it.
    index.remember(&click(tid(SHARDS as u128), now), ClickTexts::NONE, now);
    assert!(index.get(tid(0), now).is_none());
    assert_eq!(index.len(), 1);
    assert!(index.shard(tid(0)).wide_is_empty());
}

#[test]
fn a_click_remembered_again_keeps_its_latest_facts_until_those_are_evicted() {
    // Three per shard.
    let index = ClickIndex::new(3 * SHARDS, Duration::from_secs(3600));
    let now = Utc::now();
    let shards = SHARDS as u128;
    index.remember(&click(tid(0), now), ClickTexts::NONE, now);
    let mut again = click(tid(0), now);
    again.partner_id = 2;
    index.remember(&again, ClickTexts::NONE, now);
    assert_eq!(index.len(), 1);
    // Evicts the first record of tid 0: its later one stays.
    index.remember(&click(tid(shards), now), ClickTexts::NONE, now);
    index.remember(&click(tid(2 * shards), now), ClickTexts::NONE, now);
    assert_eq!(index.get(tid(0), now).map(|c| c.partner_id), Some(2));
    // And then the later one.
    index.remember(&click(tid(3 * shards), now), ClickTexts::NONE, now);
    assert!(index.get(tid(0), now).is_none());
    assert_eq!(index.len(), 3);
}

#[test]
fn many_clicks_fill_and_cycle_every_chunk() {
    let per_shard = 3 * shard::CHUNK as usize + 5;
    let index = ClickIndex::new(per_shard * SHARDS, Duration::from_secs(3600));
    let now = Utc::now();
    let subs = [Some("p".to_owned()), None, None, None, None];
    let total = (per_shard * SHARDS * 3) as u128;
    for n in 0..total {
        let mut new = click(tid(n), now);
        new.subs = &subs;
        index.remember(&new, ClickTexts::ALL, now);
    }
    assert_eq!(index.len(), per_shard * SHARDS);
    let oldest_kept = total - (per_shard * SHARDS) as u128;
    assert!(index.get(tid(oldest_kept - 1), now).is_none());
    for n in [oldest_kept, total - 1] {
        let facts = index.get(tid(n), now).unwrap();
        assert_eq!(facts.subs[0].as_deref(), Some("p"));
    }
}
