//! Anura Script's result lookup (docs.anura.io, "Script Integration -
//! Result"): `GET result.json?instance=..&id=..` answers JSON whose `result`
//! is `good`, `warn` or `bad`. Results stay available for 15 minutes and are
//! removed after a successful query, so a lookup is made once per hit.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use serde::Deserialize;

use crate::postbacks::client::HttpClient;

/// Anura's verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnuraResult {
    Good,
    Warn,
    Bad,
}

impl AnuraResult {
    pub fn word(self) -> &'static str {
        match self {
            AnuraResult::Good => "good",
            AnuraResult::Warn => "warn",
            AnuraResult::Bad => "bad",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("no answer within the timeout")]
    Timeout,
    #[error("the lookup failed: {0}")]
    Failed(String),
    #[error("the answer is not Anura's result JSON")]
    Garbage,
}

impl LookupError {
    /// The verdict word recorded for it.
    pub fn word(&self) -> &'static str {
        match self {
            LookupError::Timeout => "timeout",
            LookupError::Failed(_) => "error",
            LookupError::Garbage => "garbage",
        }
    }
}

/// Anura's ids are short opaque tokens; anything else is refused before a
/// call is made, so a visitor cannot make us send arbitrary text to Anura.
pub fn plausible_response_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A result answer is small; more than this is not one.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
struct Answer {
    result: String,
}

pub async fn lookup(
    client: &HttpClient,
    result_url: &str,
    instance: u64,
    response_id: &str,
    timeout: Duration,
) -> Result<AnuraResult, LookupError> {
    let mut url = url::Url::parse(result_url).map_err(|e| LookupError::Failed(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("instance", &instance.to_string())
        .append_pair("id", response_id);
    let request = hyper::Request::get(url.as_str())
        .body(Empty::<Bytes>::new())
        .map_err(|e| LookupError::Failed(e.to_string()))?;
    let call = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| LookupError::Failed(format!("{e:#}")))?;
        if !response.status().is_success() {
            return Err(LookupError::Failed(format!("HTTP {}", response.status())));
        }
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|_| LookupError::Garbage)?
            .to_bytes();
        let answer: Answer = serde_json::from_slice(&body).map_err(|_| LookupError::Garbage)?;
        match answer.result.as_str() {
            "good" => Ok(AnuraResult::Good),
            "warn" => Ok(AnuraResult::Warn),
            "bad" => Ok(AnuraResult::Bad),
            _ => Err(LookupError::Garbage),
        }
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| LookupError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_ids_are_looked_up() {
        assert!(plausible_response_id("a1B2-c3_d4.e5"));
        for bad in ["", "a b", "id&instance=2", "ä", &"x".repeat(129)] {
            assert!(!plausible_response_id(bad), "{bad}");
        }
    }
}
