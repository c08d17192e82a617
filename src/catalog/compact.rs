//! Puts a freshly built snapshot's offers into memory of their own.
//!
//! A load of 100k offers allocates several times what the snapshot keeps:
//! rows, JSON trees, sqlx buffers. The offers are built while all of that is
//! alive, so their small allocations end up spread over the whole heap, and
//! once the rows are freed every page still holds a piece of some offer:
//! glibc can return none of them (`reload::release_freed_memory` releases
//! only whole free pages). At 100k offers that kept about 300 MB resident for
//! 90 MB of snapshot. Copied by a thread of its own, which glibc serves from
//! an arena of its own, the offers sit together, and the build's pages empty
//! out completely once the originals are dropped.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::Offer;

/// A copy of `offers` allocated on a new thread; the originals if that
/// thread cannot be started (the copy only saves memory).
pub(super) fn offers(offers: &FxHashMap<i64, Arc<Offer>>) -> FxHashMap<i64, Arc<Offer>> {
    let copy = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("catalog-compact".into())
            .spawn_scoped(scope, || {
                offers
                    .iter()
                    .map(|(id, offer)| (*id, Arc::new(Offer::clone(offer))))
                    .collect::<FxHashMap<_, _>>()
            })
            .ok()
            .and_then(|copying| copying.join().ok())
    });
    copy.unwrap_or_else(|| offers.clone())
}
