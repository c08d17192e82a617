//! The click index on the click path: `remember` into an index filling up to its
//! default 2 M (the slowest single call shows what a table's growth costs one
//! request), then into a full one (every call evicts), and `get`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::catalog::ClickTexts;
use switchyard::conversions::{ClickIndex, NewClick};
use switchyard::routing::TransactionId;

const DEFAULT_ENTRIES: u64 = 2_000_000;
const DAY: Duration = Duration::from_secs(86_400);
const SUBS: [Option<String>; 5] = [None, None, None, None, None];

fn tid(n: u64) -> TransactionId {
    let n = u128::from(n);
    TransactionId(n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) ^ (n << 7))
}

fn click(n: u64) -> NewClick<'static> {
    NewClick {
        transaction_id: tid(n),
        created_at: Utc::now(),
        offer_id: (n % 1_000) as i64 + 1,
        advertiser_id: Some(1),
        partner_id: (n % 300) as i64 + 1,
        smart_link_id: None,
        subs: &SUBS,
        source_id: None,
    }
}

fn click_index(c: &mut Criterion) {
    let index = ClickIndex::new(DEFAULT_ENTRIES as usize, DAY);
    let now = Utc::now();
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for n in 0..DEFAULT_ENTRIES {
        let one = Instant::now();
        index.remember(&click(n), ClickTexts::NONE, now);
        slowest = slowest.max(one.elapsed());
    }
    println!(
        "filling to {DEFAULT_ENTRIES}: {:.0} ns a click on average, slowest call {:?}",
        started.elapsed().as_nanos() as f64 / DEFAULT_ENTRIES as f64,
        slowest
    );
    let mut n = DEFAULT_ENTRIES;
    c.bench_function("click_index/remember_into_full_index", |b| {
        b.iter(|| {
            n += 1;
            index.remember(&click(n), ClickTexts::NONE, now);
        })
    });
    let mut m = n - 1_000_000;
    c.bench_function("click_index/get", |b| {
        b.iter(|| {
            m = m.wrapping_add(7_919) % n;
            black_box(index.get(tid(m), now))
        })
    });
}

criterion_group!(benches, click_index);
criterion_main!(benches);
