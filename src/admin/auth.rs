//! The admin bearer token, compared in constant time.
//!
//! Both sides are hashed first, so the comparison takes the same time
//! whatever the length of the token presented.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AdminToken;
use crate::http::error::HttpError;

/// The SHA-256 of the configured token; the token itself is not kept.
#[derive(Clone)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub fn of(token: &AdminToken) -> Self {
        Self(Sha256::digest(token.0.as_bytes()).into())
    }

    /// Whether an `Authorization` header value carries the token.
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(presented) = authorization.and_then(bearer) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.0).into()
    }
}

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(<redacted>)")
    }
}

/// The credentials of `Bearer <token>`; the scheme is case-insensitive
/// (RFC 9110, 11.1).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
}

pub async fn require_token(
    State(token): State<Option<TokenDigest>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = token {
        let header = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
        if !token.admits(header) {
            return HttpError::AdminUnauthorized.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> TokenDigest {
        TokenDigest::of(&AdminToken("s3cret-token".to_owned()))
    }

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let token = digest();
        assert!(token.admits(Some(b"Bearer s3cret-token")));
        assert!(token.admits(Some(b"bearer s3cret-token")));
        assert!(!token.admits(None));
        assert!(!token.admits(Some(b"s3cret-token")));
        assert!(!token.admits(Some(b"Basic s3cret-token")));
        assert!(!token.admits(Some(b"Bearer s3cret-token ")));
        assert!(!token.admits(Some(b"Bearer s3cret")));
        assert!(!token.admits(Some(b"Bearer ")));
        assert!(!token.admits(Some(b"Bear")));
    }

    #[test]
    fn the_digest_does_not_print_the_token() {
        assert!(!format!("{:?}", digest()).contains("s3cret"));
    }
}
