//! Hits held between the interstitial and its second hop, per instance.
//!
//! Taking a held hit is the replay guard: the first second hop takes it, and
//! the entry stays behind as `Taken` until the token has expired, so a replay
//! is told apart from a hop this instance never held. Bounded: when full, a
//! new hit is not held (the caller treats that like a provider error).

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::ActiveChecks;
use crate::hit_kind::HitKind;
use crate::routing::{Decision, TransactionId};
use crate::visit::Visit;

/// A first hop's decision, waiting for the visitor's verdicts.
#[derive(Debug)]
pub struct HeldHit {
    pub kind: HitKind,
    pub decision: Decision,
    pub visit: Visit,
    pub checks: ActiveChecks,
    /// When the first hop arrived: the recorded time of the hit.
    pub held_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug)]
enum Slot {
    Held(Box<HeldHit>),
    Taken { expires_at: DateTime<Utc> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TakeError {
    #[error("this second hop was already taken")]
    Replayed,
    #[error("no hit is held for this token here")]
    Unknown,
}

impl TakeError {
    pub fn code(self) -> &'static str {
        match self {
            TakeError::Replayed => "replayed_token",
            TakeError::Unknown => "unknown_hop",
        }
    }
}

#[derive(Debug)]
pub struct PendingHits {
    slots: Mutex<FxHashMap<TransactionId, Slot>>,
    capacity: usize,
}

impl PendingHits {
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: Mutex::new(FxHashMap::default()),
            capacity,
        }
    }

    /// Holds the hit; gives it back when the store is full.
    pub fn hold(&self, hit: HeldHit) -> Result<(), Box<HeldHit>> {
        let mut slots = self.lock();
        if slots.len() >= self.capacity {
            return Err(Box::new(hit));
        }
        slots.insert(hit.decision.transaction_id, Slot::Held(Box::new(hit)));
        metrics::gauge!("switchyard_interstitial_held").set(slots.len() as f64);
        Ok(())
    }

    /// The held hit for a verified token, once.
    pub fn take(&self, id: TransactionId) -> Result<Box<HeldHit>, TakeError> {
        let mut slots = self.lock();
        let slot = slots.get_mut(&id).ok_or(TakeError::Unknown)?;
        let expires_at = match slot {
            Slot::Held(hit) => hit.expires_at,
            Slot::Taken { .. } => return Err(TakeError::Replayed),
        };
        match std::mem::replace(slot, Slot::Taken { expires_at }) {
            Slot::Held(hit) => Ok(hit),
            Slot::Taken { .. } => Err(TakeError::Replayed),
        }
    }

    /// Removes what expired before `cutoff`: the held hits among them, whose
    /// visitors never came back, are returned to be recorded.
    pub fn expire(&self, cutoff: DateTime<Utc>) -> Vec<HeldHit> {
        let mut slots = self.lock();
        let mut abandoned = Vec::new();
        slots.retain(|_, slot| {
            let expires_at = match slot {
                Slot::Held(hit) => hit.expires_at,
                Slot::Taken { expires_at } => *expires_at,
            };
            if expires_at >= cutoff {
                return true;
            }
            if let Slot::Held(hit) = std::mem::replace(slot, Slot::Taken { expires_at }) {
                abandoned.push(*hit);
            }
            false
        });
        metrics::gauge!("switchyard_interstitial_held").set(slots.len() as f64);
        abandoned
    }

    /// Everything still held, for a clean shutdown.
    pub fn drain(&self) -> Vec<HeldHit> {
        self.expire(DateTime::<Utc>::MAX_UTC)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FxHashMap<TransactionId, Slot>> {
        // A panic while holding the lock leaves the map consistent (every
        // operation on it is a single insert, replace or retain): keep going.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::routing::Outcome;
    use crate::visit::TrackingParams;

    fn hit(id: u128, expires: i64) -> HeldHit {
        HeldHit {
            kind: HitKind::Click,
            decision: Decision {
                transaction_id: TransactionId(id),
                requested_offer_id: Some(1),
                smart_link_id: None,
                checks: Vec::new(),
                outcome: Outcome::Redirect {
                    offer_id: 1,
                    advertiser_id: 1,
                    url: "https://adv.example/".into(),
                    unique: true,
                },
            },
            visit: Visit::bare(
                TrackingParams::default(),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                "ua",
            ),
            checks: ActiveChecks::new(),
            held_at: DateTime::from_timestamp(0, 0).unwrap(),
            expires_at: DateTime::from_timestamp(expires, 0).unwrap(),
        }
    }

    #[test]
    fn a_held_hit_is_taken_once() {
        let pending = PendingHits::new(10);
        pending.hold(hit(1, 100)).unwrap();
        assert_eq!(
            pending
                .take(TransactionId(1))
                .unwrap()
                .decision
                .transaction_id
                .0,
            1
        );
        assert_eq!(
            pending.take(TransactionId(1)).unwrap_err(),
            TakeError::Replayed
        );
        assert_eq!(
            pending.take(TransactionId(2)).unwrap_err(),
            TakeError::Unknown
        );
    }

    #[test]
    fn expiry_returns_only_hits_nobody_took() {
        let pending = PendingHits::new(10);
        pending.hold(hit(1, 100)).unwrap();
        pending.hold(hit(2, 100)).unwrap();
        pending.hold(hit(3, 500)).unwrap();
        pending.take(TransactionId(1)).unwrap();
        let abandoned = pending.expire(DateTime::from_timestamp(200, 0).unwrap());
        let ids: Vec<u128> = abandoned
            .iter()
            .map(|h| h.decision.transaction_id.0)
            .collect();
        assert_eq!(ids, vec![2]);
        assert_eq!(
            pending.take(TransactionId(1)).unwrap_err(),
            TakeError::Unknown
        );
        assert_eq!(pending.drain().len(), 1, "hit 3 is still held");
    }

    #[test]
    fn a_full_store_gives_the_hit_back() {
        let pending = PendingHits::new(1);
        pending.hold(hit(1, 100)).unwrap();
        assert!(pending.hold(hit(2, 100)).is_err());
    }
}
