//! What a scan found: the vocabulary shared by the scanner, the `offer_url_scans`
//! table and the snapshot.

use serde::{Deserialize, Serialize};

/// Where a chain ended, as stored in `offer_url_scans.result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "scan_result", rename_all = "snake_case")]
pub enum ScanResult {
    Store,
    Tracker,
    Neither,
    Error,
}

impl ScanResult {
    pub const ALL: [ScanResult; 4] = [
        ScanResult::Store,
        ScanResult::Tracker,
        ScanResult::Neither,
        ScanResult::Error,
    ];

    /// The `result` label of the scanner's metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanResult::Store => "store",
            ScanResult::Tracker => "tracker",
            ScanResult::Neither => "neither",
            ScanResult::Error => "error",
        }
    }
}

/// Why a chain could not be followed to its end (`offer_url_scans.error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanError {
    /// A URL came back a second time.
    Loop,
    /// More hops than the scanner follows.
    TooManyHops,
    /// A hop, or the whole chain, took longer than allowed.
    Timeout,
    /// No connection: DNS, refused, TLS.
    Connect,
    /// The server failed (5xx): it may answer later.
    Http5xx,
    /// A redirect to something that is not a URL.
    BadLocation,
    /// The answer was not HTTP we could read.
    BadResponse,
    /// A hop led to a loopback, private or link-local address: the scanner
    /// does not go there (no offer's chain does either, for a visitor).
    PrivateAddress,
}

impl ScanError {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanError::Loop => "loop",
            ScanError::TooManyHops => "too_many_hops",
            ScanError::Timeout => "timeout",
            ScanError::Connect => "connect",
            ScanError::Http5xx => "http_5xx",
            ScanError::BadLocation => "bad_location",
            ScanError::BadResponse => "bad_response",
            ScanError::PrivateAddress => "private_address",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ScanError::Loop,
            ScanError::TooManyHops,
            ScanError::Timeout,
            ScanError::Connect,
            ScanError::Http5xx,
            ScanError::BadLocation,
            ScanError::BadResponse,
            ScanError::PrivateAddress,
        ]
        .into_iter()
        .find(|e| e.as_str() == text)
    }

    /// The scanner could not tell where the chain goes (our network, or the
    /// advertiser's server down for now); the rules' `on_error` decides. A loop,
    /// too many hops or a bad redirect is what a browser would meet too: the
    /// offer URL is broken. So is a chain into a private network.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ScanError::Timeout | ScanError::Connect | ScanError::Http5xx | ScanError::BadResponse
        )
    }
}
