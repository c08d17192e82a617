//! Transaction ids: 128 random bits as 32 lowercase hex characters.

use std::fmt;

use rand::Rng;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId(pub u128);

impl TransactionId {
    pub fn random(rng: &mut impl Rng) -> Self {
        let high = u128::from(rng.next_u64());
        let low = u128::from(rng.next_u64());
        Self((high << 64) | low)
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
