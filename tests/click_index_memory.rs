//! Bytes the click index allocates per click, counted by a global allocator:
//! its own test binary, so no other test's allocations are counted. The budget
//! (issue 12) is 64 bytes a click at the default size, table, ring and eviction
//! order included.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use switchyard::catalog::ClickTexts;
use switchyard::conversions::{ClickIndex, NewClick};
use switchyard::routing::TransactionId;

struct Counting;

static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Tests here measure the one process-wide counter: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const DEFAULT_ENTRIES: usize = 2_000_000;
const DAY: Duration = Duration::from_secs(86_400);

fn allocated() -> isize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// Random-looking ids, as `TransactionId::random` draws them.
fn tid(n: u64) -> TransactionId {
    let n = u128::from(n);
    TransactionId(n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) ^ (n << 7))
}

/// `count` clicks from `first`, each with its own sub1 (`click-<n>`) and a few
/// shared subs, kept or not as `keep` says.
fn remember(index: &ClickIndex, first: u64, count: u64, keep: ClickTexts, now: DateTime<Utc>) {
    for n in first..first + count {
        let subs = [
            Some(format!("click-{n}")),
            Some("campaign-7".to_owned()),
            Some(format!("placement-{}", n % 100)),
            None,
            None,
        ];
        let click = NewClick {
            transaction_id: tid(n),
            created_at: now,
            offer_id: (n % 1_000) as i64 + 1,
            advertiser_id: Some((n % 50) as i64 + 1),
            partner_id: (n % 300) as i64 + 1,
            smart_link_id: (n % 3 == 0).then_some((n % 100) as i64 + 1),
            subs: &subs,
            source_id: Some("site-42"),
        };
        index.remember(&click, keep, now);
    }
}

fn bytes_per_click(index: &ClickIndex, baseline: isize) -> f64 {
    (allocated() - baseline) as f64 / index.len() as f64
}

#[test]
fn at_most_64_bytes_a_click_from_100k_to_the_default_size() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let now = Utc::now();
    let baseline = allocated();
    let index = ClickIndex::new(DEFAULT_ENTRIES, DAY);
    let mut held = 0;
    for target in [100_000u64, 1_000_000, DEFAULT_ENTRIES as u64, 3_000_000] {
        remember(&index, held, target - held, ClickTexts::NONE, now);
        held = target;
        let per_click = bytes_per_click(&index, baseline);
        println!("{} clicks held: {per_click:.1} bytes a click", index.len());
        assert!(
            per_click <= 64.0,
            "{per_click:.1} bytes a click at {target} clicks"
        );
    }
    // Each of the 256 shards holds its share rounded up.
    assert!(index.len() <= DEFAULT_ENTRIES + 256);
}

#[test]
fn an_echoed_sub_costs_its_bytes_and_is_released_with_its_click() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let now = Utc::now();
    let baseline = allocated();
    let index = ClickIndex::new(DEFAULT_ENTRIES, DAY);
    let echo_sub1 = ClickTexts::of_postback_url(Some("https://p.example/pb?s1={sub1}"));
    let clicks = 1_000_000;
    remember(&index, 0, clicks, echo_sub1, now);
    let per_click = bytes_per_click(&index, baseline);
    // "click-<n>" is 12 bytes here; an entry adds 5 (slot, sets, length).
    println!("echoing sub1 of 12 bytes: {per_click:.1} bytes a click");
    assert!(
        per_click <= 64.0 + 12.0 + 5.0,
        "{per_click:.1} bytes a click"
    );
    let full = allocated() - baseline;

    // A day later every shard's next click evicts all it held.
    let later = now + TimeDelta::days(1) + TimeDelta::seconds(1);
    remember(&index, clicks, 20_000, ClickTexts::NONE, later);
    assert_eq!(index.len(), 20_000);
    let left = allocated() - baseline;
    println!("after evicting them by age: {left} bytes of {full}");
    // What stays: the tables at their largest size (they do not shrink) and a
    // spare chunk per shard; the records and texts are gone.
    assert!(left * 4 < full, "{left} of {full} bytes still allocated");
}
