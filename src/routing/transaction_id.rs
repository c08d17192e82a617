//! Transaction ids: 128 bits as 32 lowercase hex characters, laid out as a
//! UUIDv7 (RFC 9562) without the dashes: the first 48 bits are the click's
//! Unix time in milliseconds, then the version nibble 7, 12 random bits, the
//! variant bits `10` and 62 random bits.
//!
//! The time is there so that Postgres finds a click from its id in one index
//! probe on one day's partition (`conversions::lookup`), and so that a day's
//! ids arrive in order at the right edge of its primary key's btree. 74
//! random bits per millisecond keep ids unguessable and collisions out of
//! reach. Ids drawn before this layout were 128 random bits; they still parse,
//! and `click_time` cannot tell all of them apart (1 in 64 has the version and
//! variant bits by chance), so a lookup that misses on the time falls back to
//! the id alone.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::Rng;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId(pub u128);

const VERSION_MASK: u128 = 0xf << 76;
const VERSION_7: u128 = 0x7 << 76;
const VARIANT_MASK: u128 = 0b11 << 62;
const VARIANT_RFC: u128 = 0b10 << 62;

impl TransactionId {
    /// A new id for a hit at `now`: its time, then 74 random bits.
    pub fn new(now: DateTime<Utc>, rng: &mut impl Rng) -> Self {
        // Before 1970 or after the year 10889 the 48 bits cannot hold the
        // time; such a clock is wrong anyway, and the id is then random.
        let millis = u64::try_from(now.timestamp_millis())
            .ok()
            .filter(|m| *m < 1 << 48)
            .unwrap_or_else(|| rng.next_u64() & ((1 << 48) - 1));
        let high = u128::from(rng.next_u64());
        let low = u128::from(rng.next_u64());
        let random = (high << 64) | low;
        let time = u128::from(millis) << 80;
        let bits =
            time | VERSION_7 | (random & (0xfff << 64)) | VARIANT_RFC | (random & ((1 << 62) - 1));
        Self(bits)
    }

    /// 128 random bits: the layout of ids drawn before time-ordered ones.
    pub fn random(rng: &mut impl Rng) -> Self {
        let high = u128::from(rng.next_u64());
        let low = u128::from(rng.next_u64());
        Self((high << 64) | low)
    }

    /// The time the id says it was drawn at, to the millisecond, when it has
    /// the time-ordered layout. A random id has it by chance once in 64, so a
    /// caller must treat the time as a hint that may be wrong.
    pub fn click_time(self) -> Option<DateTime<Utc>> {
        if self.0 & VERSION_MASK != VERSION_7 || self.0 & VARIANT_MASK != VARIANT_RFC {
            return None;
        }
        let millis = i64::try_from(self.0 >> 80).ok()?;
        DateTime::from_timestamp_millis(millis)
    }

    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 32 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        u128::from_str_radix(text, 16).ok().map(Self)
    }
}

impl TransactionId {
    /// The 32 hex digits without going through the formatting machinery, which
    /// showed up in profiles of the click path.
    pub fn to_hex(self) -> Hex {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, byte) in self.0.to_be_bytes().iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(byte >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(byte & 0x0f)];
        }
        Hex(out)
    }
}

/// A transaction id's 32 lowercase hex digits, on the stack.
#[derive(Clone, Copy)]
pub struct Hex([u8; 32]);

impl Hex {
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into it.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_hex().as_str())
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionId({self})")
    }
}

impl serde::Serialize for TransactionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_id_carries_its_time_to_the_millisecond() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T18:22:03.456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = TransactionId::new(now, &mut rand::rng());
        assert_eq!(
            id.click_time().unwrap().to_rfc3339(),
            "2026-12-03T18:22:03.456+00:00"
        );
        let text = id.to_string();
        assert_eq!(&text[12..13], "7", "version nibble: {text}");
        assert!(
            matches!(&text[16..17], "8" | "9" | "a" | "b"),
            "variant: {text}"
        );
        assert_eq!(TransactionId::parse(&text), Some(id));
    }

    #[test]
    fn ids_sort_by_time_as_text() {
        let mut rng = rand::rng();
        let earlier = Utc::now();
        let later = earlier + chrono::TimeDelta::milliseconds(1);
        let a = TransactionId::new(earlier, &mut rng).to_string();
        let b = TransactionId::new(later, &mut rng).to_string();
        assert!(a < b, "{a} then {b}");
    }

    #[test]
    fn random_ids_mostly_name_no_time() {
        let mut rng = rand::rng();
        let timed = (0..6400)
            .filter(|_| TransactionId::random(&mut rng).click_time().is_some())
            .count();
        // One in 64 on average: 100 expected; far from 0 and from 6400.
        assert!((20..400).contains(&timed), "{timed}");
    }

    #[test]
    fn is_32_lowercase_hex_and_round_trips() {
        let id = TransactionId::random(&mut rand::rng());
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(TransactionId::parse(&text), Some(id));
        assert_eq!(
            TransactionId(1).to_string(),
            "00000000000000000000000000000001"
        );
        assert_eq!(
            TransactionId::parse("ABCDEF00000000000000000000000000"),
            None
        );
    }
}
