//! Credentials the catalog holds (partner API keys, offers' postback
//! verification tokens) are kept as SHA-256 digests, never as the secret.
//!
//! A plain SHA-256 is enough because the keys are high-entropy (32 random
//! bytes from `generate`): nobody can search 2^256 candidates for one that
//! hashes to a stolen digest. Salts and slow KDFs (argon2, bcrypt) defend
//! low-entropy passwords against dictionaries; they would add nothing here
//! but a cost to every partner API request. See docs/MODEL.md, "Secrets".

use std::fmt;
use std::hash::{Hash, Hasher};

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::{Decode, Postgres, Type};
use subtle::ConstantTimeEq;

/// Random bytes in a generated key or token.
pub const SECRET_BYTES: usize = 32;

/// The SHA-256 of a secret. Its `Debug` prints nothing of it, so a logged
/// catalog object leaks neither the secret nor its digest.
#[derive(Clone, Copy, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn of(secret: &[u8]) -> Self {
        Self(Sha256::digest(secret).into())
    }

    /// Whether `presented` is the secret: its digest against this one, in
    /// constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        *self == Self::of(presented)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, as catalog files carry it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

/// A fresh secret: `SECRET_BYTES` from the OS-seeded generator, as 64
/// lowercase hex characters (safe in a header, a query string and a shell).
pub fn generate() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

// Constant time even inside a map lookup: nothing about a stored digest can
// be timed out of a comparison.
impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Hash for SecretHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

impl Serialize for SecretHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // The message names the expected form, never the value.
        Self::from_hex(&text).ok_or_else(|| {
            serde::de::Error::custom("a secret hash is 64 hex characters (the SHA-256 of the key)")
        })
    }
}

impl Type<Postgres> for SecretHash {
    fn type_info() -> PgTypeInfo {
        <[u8; 32] as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <[u8; 32] as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for SecretHash {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <[u8; 32] as Decode<'r, Postgres>>::decode(value).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_its_secret_only() {
        let hash = SecretHash::of(b"partner-key-0123456789");
        assert!(hash.matches(b"partner-key-0123456789"));
        assert!(!hash.matches(b"partner-key-012345678"));
        assert!(!hash.matches(b"partner-key-0123456780"));
        assert!(!hash.matches(b""));
    }

    #[test]
    fn hex_round_trips_and_is_the_sha256() {
        let hash = SecretHash::of(b"abc");
        assert_eq!(
            hash.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(SecretHash::from_hex(&hash.to_hex()) == Some(hash));
        assert!(SecretHash::from_hex("ba7816bf").is_none());
        assert!(SecretHash::from_hex(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn debug_prints_neither_secret_nor_digest() {
        let hash = SecretHash::of(b"abc");
        let printed = format!("{hash:?}");
        assert!(!printed.contains("ba7816bf"), "{printed}");
        assert!(!printed.contains("abc"), "{printed}");
    }

    #[test]
    fn generated_secrets_are_fresh_and_long() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 2 * SECRET_BYTES);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
