//! The second hop's token: which first hop it continues and until when,
//! signed with the server's secret (HMAC-SHA256), so that nobody can forge a
//! hop for a hit that never was or stretch one past its deadline. Replay is
//! refused elsewhere (`pending`): a token names a held hit, which only one
//! second hop can take.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::hmac;

use crate::routing::TransactionId;

/// Transaction id (16 bytes) and expiry (8 bytes, Unix seconds, big-endian).
const PAYLOAD_BYTES: usize = 24;
const TAG_BYTES: usize = 32;
/// base64url of 56 bytes, without padding.
const TOKEN_CHARS: usize = 75;

/// Why a presented token is refused; each is a stable code in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed or its signature does not match")]
    Forged,
    #[error("the token has expired")]
    Expired,
}

impl TokenError {
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Forged => "forged_token",
            TokenError::Expired => "expired_token",
        }
    }
}

/// The server's signing key.
pub struct TokenKey(hmac::Key);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// A key of 32 random bytes: tokens are then good on this process only.
    pub fn random() -> Self {
        let secret: [u8; 32] = rand::random();
        Self::new(&secret)
    }

    pub fn sign(&self, transaction_id: TransactionId, expires_at: DateTime<Utc>) -> String {
        let mut bytes = [0u8; PAYLOAD_BYTES + TAG_BYTES];
        bytes[..16].copy_from_slice(&transaction_id.0.to_be_bytes());
        let expiry = u64::try_from(expires_at.timestamp()).unwrap_or(0);
        bytes[16..PAYLOAD_BYTES].copy_from_slice(&expiry.to_be_bytes());
        let tag = hmac::sign(&self.0, &bytes[..PAYLOAD_BYTES]);
        bytes[PAYLOAD_BYTES..].copy_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The transaction id a genuine, unexpired token names.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<TransactionId, TokenError> {
        if token.len() != TOKEN_CHARS {
            return Err(TokenError::Forged);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Forged)?;
        let (payload, tag) = bytes
            .split_at_checked(PAYLOAD_BYTES)
            .ok_or(TokenError::Forged)?;
        // Constant-time: a timing difference must not reveal a tag byte by byte.
        hmac::verify(&self.0, payload, tag).map_err(|_| TokenError::Forged)?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&payload[..16]);
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&payload[16..]);
        let expiry = i64::try_from(u64::from_be_bytes(expiry)).map_err(|_| TokenError::Forged)?;
        if now.timestamp() > expiry {
            return Err(TokenError::Expired);
        }
        Ok(TransactionId(u128::from_be_bytes(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn a_signed_token_names_its_hit_until_it_expires() {
        let key = TokenKey::new(b"secret");
        let id = TransactionId(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        let token = key.sign(id, at(1_000));
        assert_eq!(token.len(), TOKEN_CHARS);
        assert_eq!(key.verify(&token, at(999)), Ok(id));
        assert_eq!(key.verify(&token, at(1_000)), Ok(id));
        assert_eq!(key.verify(&token, at(1_001)), Err(TokenError::Expired));
    }

    #[test]
    fn another_key_or_an_edited_token_is_refused() {
        let key = TokenKey::new(b"secret");
        let token = key.sign(TransactionId(7), at(1_000));
        assert_eq!(
            TokenKey::new(b"other").verify(&token, at(0)),
            Err(TokenError::Forged)
        );
        // Stretching the expiry means re-encoding the payload: the tag no longer matches.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[23] ^= 0x40;
        let stretched = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(key.verify(&stretched, at(0)), Err(TokenError::Forged));
        for garbage in ["", "abc", &"A".repeat(TOKEN_CHARS), &format!("{token}x")] {
            assert_eq!(key.verify(garbage, at(0)), Err(TokenError::Forged));
        }
    }
}
