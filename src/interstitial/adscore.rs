//! Adscore's signed verdict (signature v4), checked as Adscore's own
//! libraries check it (`Adscore/php-common`, `Signature4::verify`): the
//! browser's `AdscoreInit` callback hands the page a base64url signature; it
//! carries the request and signature times and a token per IP family, the
//! HMAC-SHA256, under the zone's response key, of
//! `result \n requestTime \n signatureTime \n ip \n userAgent`. The verdict is
//! the result (0, 3, 6 or 9) whose token matches the visitor's IP and user
//! agent; none matching means the signature was made for someone else.
//!
//! Only the "Hashing" response signature algorithm (sign type 1) is
//! verified; "Signing" (type 2, a public-key signature) and v5 (encrypted)
//! signatures are reported as unsupported, and refused: a verdict that cannot
//! be verified is no verdict for a clean visitor.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::hmac;

/// Adscore's results and their verdict words (`Judge::RESULTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Ok,
    Junk,
    Proxy,
    Bot,
}

impl Judgement {
    const ALL: [(u32, Judgement); 4] = [
        (0, Judgement::Ok),
        (3, Judgement::Junk),
        (6, Judgement::Proxy),
        (9, Judgement::Bot),
    ];

    pub fn word(self) -> &'static str {
        match self {
            Judgement::Ok => "ok",
            Judgement::Junk => "junk",
            Judgement::Proxy => "proxy",
            Judgement::Bot => "bot",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not a v4 structure: garbage, or cut short.
    #[error("not an Adscore v4 signature: {0}")]
    Malformed(&'static str),
    #[error("unsupported signature: {0}")]
    Unsupported(&'static str),
    #[error("the signature is older than its expiry")]
    Expired,
    /// Well-formed, but made for another IP, user agent or key.
    #[error("no verdict matches this visitor's IP and user agent")]
    Mismatch,
}

/// The zone's response key, as raw bytes.
pub struct ResponseKey(hmac::Key);

impl std::fmt::Debug for ResponseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseKey(..)")
    }
}

impl ResponseKey {
    /// From the base64 text the Adscore dashboard shows ("Zone Response Key").
    pub fn from_base64(text: &str) -> Option<Self> {
        let text = text.trim();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .ok()?;
        (!raw.is_empty()).then(|| Self::from_raw(&raw))
    }

    pub fn from_raw(raw: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, raw))
    }
}

/// The fields of a v4 signature that verification reads.
#[derive(Debug, Default)]
struct Fields<'a> {
    request_time: Option<u32>,
    signature_time: Option<u32>,
    sign_type: Option<u8>,
    token: Option<&'a [u8]>,
    token6: Option<&'a [u8]>,
}

const HASH_SHA256: u8 = 1;

/// Verifies `signature` for this visitor; `max_age` bounds how old its
/// signature time may be (Adscore's libraries default to 60 s).
pub fn verify(
    key: &ResponseKey,
    signature: &str,
    ip: IpAddr,
    user_agent: &str,
    now: DateTime<Utc>,
    max_age: std::time::Duration,
) -> Result<Judgement, SignatureError> {
    let raw = URL_SAFE_NO_PAD
        .decode(signature.trim_end_matches('='))
        .map_err(|_| SignatureError::Malformed("not base64url"))?;
    let fields = parse(&raw)?;
    let (Some(request_time), Some(signature_time)) = (fields.request_time, fields.signature_time)
    else {
        return Err(SignatureError::Malformed("missing times"));
    };
    if fields.sign_type != Some(HASH_SHA256) {
        return Err(SignatureError::Unsupported(
            "only the Hashing response algorithm",
        ));
    }
    let age = now.timestamp() - i64::from(signature_time);
    if age > i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX) {
        return Err(SignatureError::Expired);
    }
    // Adscore signs the canonical text form of the address, per family.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let token = match ip {
        IpAddr::V4(_) => fields.token,
        IpAddr::V6(_) => fields.token6,
    }
    .ok_or(SignatureError::Mismatch)?;
    for (result, judgement) in Judgement::ALL {
        let base = format!("{result}\n{request_time}\n{signature_time}\n{ip}\n{user_agent}");
        if hmac::verify(&key.0, base.as_bytes(), token).is_ok() {
            return Ok(judgement);
        }
    }
    Err(SignatureError::Mismatch)
}

fn take(n: usize, tail: &[u8]) -> Result<(&[u8], &[u8]), SignatureError> {
    tail.split_at_checked(n)
        .ok_or(SignatureError::Malformed("premature end"))
}

/// Version byte 4, a field count, then fields: an id byte whose top two bits
/// give the type (`00` u32, `01` u16, `10` u8, `11` a u16-length string), big-endian.
fn parse(raw: &[u8]) -> Result<Fields<'_>, SignatureError> {
    let short = SignatureError::Malformed("premature end");
    let [version, count, rest @ ..] = raw else {
        return Err(short);
    };
    if *version != 4 {
        return Err(SignatureError::Unsupported("only version 4"));
    }
    let mut fields = Fields::default();
    let mut rest = rest;
    for _ in 0..*count {
        let [id, tail @ ..] = rest else {
            return Err(short);
        };
        match id & 0xC0 {
            0x00 => {
                let (value, tail) = take(4, tail)?;
                let value = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
                match id {
                    0x00 => fields.request_time = Some(value),
                    0x01 => fields.signature_time = Some(value),
                    _ => {}
                }
                rest = tail;
            }
            0x40 => rest = take(2, tail)?.1,
            0x80 => {
                let (value, tail) = take(1, tail)?;
                if *id == 0x81 {
                    fields.sign_type = Some(value[0]);
                }
                rest = tail;
            }
            _ => {
                let (length, tail) = take(2, tail)?;
                let mut length = u16::from_be_bytes([length[0], length[1]]);
                // Reserved by Adscore "for future use": only the low byte counts.
                if length & 0x8000 != 0 {
                    length &= 0xFF;
                }
                let (value, tail) = take(usize::from(length), tail)?;
                match id {
                    0xC1 => fields.token = Some(value),
                    0xC3 => fields.token6 = Some(value),
                    _ => {}
                }
                rest = tail;
            }
        }
    }
    Ok(fields)
}

/// Builds a v4 "Hashing" signature as Adscore's servers do: for the tests'
/// stand-in of Adscore's script.
pub fn sign_for_test(
    key: &[u8],
    result: u32,
    request_time: u32,
    signature_time: u32,
    ip: IpAddr,
    user_agent: &str,
) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let base = format!("{result}\n{request_time}\n{signature_time}\n{ip}\n{user_agent}");
    let token = hmac::sign(&key, base.as_bytes());
    let token_id = if ip.is_ipv4() { 0xC1 } else { 0xC3 };
    let mut raw = vec![4u8, 4];
    raw.push(0x00);
    raw.extend_from_slice(&request_time.to_be_bytes());
    raw.push(0x01);
    raw.extend_from_slice(&signature_time.to_be_bytes());
    raw.extend_from_slice(&[0x81, HASH_SHA256]);
    raw.push(token_id);
    raw.extend_from_slice(&32u16.to_be_bytes());
    raw.extend_from_slice(token.as_ref());
    URL_SAFE_NO_PAD.encode(raw)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const UA: &str = "Mozilla/5.0 (X11; Linux x86_64)";

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn check(signature: &str, visitor: &str, ua: &str) -> Result<Judgement, SignatureError> {
        let now = DateTime::from_timestamp(1_700_000_010, 0).unwrap();
        verify(
            &ResponseKey::from_raw(b"zone key"),
            signature,
            ip(visitor),
            ua,
            now,
            Duration::from_secs(60),
        )
    }

    #[test]
    fn each_result_is_read_back_for_the_visitor_it_was_signed_for() {
        for (result, judgement) in Judgement::ALL {
            let signature = sign_for_test(
                b"zone key",
                result,
                1_700_000_000,
                1_700_000_001,
                ip("203.0.113.9"),
                UA,
            );
            assert_eq!(check(&signature, "203.0.113.9", UA), Ok(judgement));
        }
        let v6 = sign_for_test(b"zone key", 9, 1, 1_700_000_001, ip("2001:db8::1"), UA);
        assert_eq!(check(&v6, "2001:db8::1", UA), Ok(Judgement::Bot));
    }

    #[test]
    fn another_ip_user_agent_or_key_does_not_match() {
        let signature = sign_for_test(b"zone key", 0, 1, 1_700_000_001, ip("203.0.113.9"), UA);
        assert_eq!(
            check(&signature, "203.0.113.10", UA),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&signature, "203.0.113.9", "curl/8"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&signature, "2001:db8::1", UA),
            Err(SignatureError::Mismatch),
            "no IPv6 token in it"
        );
        let other = sign_for_test(b"other", 0, 1, 1_700_000_001, ip("203.0.113.9"), UA);
        assert_eq!(
            check(&other, "203.0.113.9", UA),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn old_garbage_and_unsupported_signatures_are_refused() {
        let old = sign_for_test(b"zone key", 0, 1, 1_699_999_000, ip("203.0.113.9"), UA);
        assert_eq!(check(&old, "203.0.113.9", UA), Err(SignatureError::Expired));
        for garbage in ["", "!!!", "BAQ", "BAEAAAAB"] {
            assert!(
                matches!(
                    check(garbage, "203.0.113.9", UA),
                    Err(SignatureError::Malformed(_))
                ),
                "{garbage}"
            );
        }
        let v5 = URL_SAFE_NO_PAD.encode([5u8, 0]);
        assert!(matches!(
            check(&v5, "203.0.113.9", UA),
            Err(SignatureError::Unsupported(_))
        ));
    }

    #[test]
    fn the_dashboard_key_is_base64() {
        assert!(ResponseKey::from_base64("em9uZSBrZXk=").is_some());
        assert!(ResponseKey::from_base64("").is_none());
        assert!(ResponseKey::from_base64("not base64 !").is_none());
    }
}
