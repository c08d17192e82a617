//! One remembered click in 40 bytes: what `ClickFacts` holds, minus the texts,
//! with ids narrowed to `u32`.
//!
//! Catalog ids are `i64` (Postgres `bigint`), but real ones stay far below
//! 2^32. A click whose ids do not fit (or one equal to the `NONE` marker) is not
//! narrowed: the shard keeps its full `ClickFacts` beside the ring, which costs
//! memory, never correctness.

use chrono::{DateTime, Utc};

use super::NewClick;
use crate::routing::TransactionId;

/// An absent optional id; also, in `offer`, "the facts are kept wide".
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Record {
    /// The id's two halves: a `u128` field would align the record to 16 bytes
    /// and pad it to 48.
    tid: [u64; 2],
    /// Microseconds since the Unix epoch: the precision of `clicks.created_at`.
    created_us: i64,
    offer: u32,
    partner: u32,
    advertiser: u32,
    smart_link: u32,
}

/// The ids of a click, narrowed; `None` when one does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ids {
    pub offer_id: i64,
    pub partner_id: i64,
    pub advertiser_id: Option<i64>,
    pub smart_link_id: Option<i64>,
}

fn narrow(id: i64) -> Option<u32> {
    u32::try_from(id).ok().filter(|&id| id != NONE)
}

fn narrow_opt(id: Option<i64>) -> Option<u32> {
    match id {
        None => Some(NONE),
        Some(id) => narrow(id),
    }
}

fn widen(id: u32) -> Option<i64> {
    (id != NONE).then_some(i64::from(id))
}

pub(super) fn split(tid: TransactionId) -> [u64; 2] {
    [(tid.0 >> 64) as u64, tid.0 as u64]
}

impl Record {
    /// The compact form, or `None` when an id does not fit in `u32`.
    pub fn narrow(click: &NewClick<'_>) -> Option<Self> {
        Some(Self {
            tid: split(click.transaction_id),
            created_us: click.created_at.timestamp_micros(),
            offer: narrow(click.offer_id)?,
            partner: narrow(click.partner_id)?,
            advertiser: narrow_opt(click.advertiser_id)?,
            smart_link: narrow_opt(click.smart_link_id)?,
        })
    }

    /// A placeholder in the ring for a click whose facts are kept wide: it
    /// holds its place in the eviction order and its id and time.
    pub fn wide(click: &NewClick<'_>) -> Self {
        Self {
            tid: split(click.transaction_id),
            created_us: click.created_at.timestamp_micros(),
            offer: NONE,
            partner: NONE,
            advertiser: NONE,
            smart_link: NONE,
        }
    }

    pub fn is_wide(&self) -> bool {
        self.offer == NONE
    }

    pub fn transaction_id(&self) -> TransactionId {
        TransactionId((u128::from(self.tid[0]) << 64) | u128::from(self.tid[1]))
    }

    pub fn is(&self, tid: [u64; 2]) -> bool {
        self.tid == tid
    }

    pub fn created_us(&self) -> i64 {
        self.created_us
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        // Stored from a `DateTime`, so always in range.
        DateTime::from_timestamp_micros(self.created_us).unwrap_or_default()
    }

    /// Meaningful only for a narrow record.
    pub fn ids(&self) -> Ids {
        Ids {
            offer_id: i64::from(self.offer),
            partner_id: i64::from(self.partner),
            advertiser_id: widen(self.advertiser),
            smart_link_id: widen(self.smart_link),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(offer_id: i64, advertiser_id: Option<i64>) -> NewClick<'static> {
        NewClick {
            transaction_id: TransactionId(u128::MAX - 5),
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap_or_default(),
            offer_id,
            advertiser_id,
            partner_id: 7,
            smart_link_id: None,
            subs: &[None, None, None, None, None],
            source_id: None,
        }
    }

    #[test]
    fn a_record_is_forty_bytes() {
        assert_eq!(std::mem::size_of::<Record>(), 40);
    }

    #[test]
    fn ids_and_time_survive_narrowing() {
        let record = Record::narrow(&click(4_000_000_000, Some(3))).unwrap();
        assert_eq!(record.transaction_id(), TransactionId(u128::MAX - 5));
        assert_eq!(record.created_at(), click(1, None).created_at);
        assert_eq!(
            record.ids(),
            Ids {
                offer_id: 4_000_000_000,
                partner_id: 7,
                advertiser_id: Some(3),
                smart_link_id: None,
            }
        );
        assert!(!record.is_wide());
    }

    #[test]
    fn ids_beyond_u32_are_not_narrowed() {
        assert!(Record::narrow(&click(1 << 32, None)).is_none());
        assert!(Record::narrow(&click(1, Some(-1))).is_none());
        assert!(Record::narrow(&click(i64::from(u32::MAX), None)).is_none());
        assert!(Record::wide(&click(1 << 32, None)).is_wide());
    }
}
