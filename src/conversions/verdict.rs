//! What a postback comes to: approved, or rejected with a stable reason code.

use serde::Serialize;

use crate::catalog::money::Micros;
use crate::events::{Attribution, ConversionStatus};
use crate::routing::TransactionId;

/// Why a postback was not approved; the code is stored and answered as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectReason {
    UnknownClick,
    OutsideWindow,
    Duplicate,
    CapReached,
    InactiveOffer,
    BadToken,
}

impl RejectReason {
    pub const ALL: [RejectReason; 6] = [
        RejectReason::UnknownClick,
        RejectReason::OutsideWindow,
        RejectReason::Duplicate,
        RejectReason::CapReached,
        RejectReason::InactiveOffer,
        RejectReason::BadToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::UnknownClick => "UNKNOWN_CLICK",
            RejectReason::OutsideWindow => "OUTSIDE_WINDOW",
            RejectReason::Duplicate => "DUPLICATE",
            RejectReason::CapReached => "CAP_REACHED",
            RejectReason::InactiveOffer => "INACTIVE_OFFER",
            RejectReason::BadToken => "BAD_TOKEN",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Conversion,
    Event,
}

/// The recorded outcome of one postback or pixel, as answered to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    pub status: ConversionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<RejectReason>,
    /// The id of the stored row (`conversion_id`, or `event_id` for an event).
    pub conversion_id: String,
    pub kind: RecordKind,
    pub transaction_id: TransactionId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<i64>,
    pub payout: Micros,
    pub revenue: Micros,
}

/// Why a postback could not be judged now; the advertiser should retry.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    #[error("no catalog loaded yet")]
    NotReady,
    #[error("the click is not in memory and Postgres is unreachable")]
    AttributionUnavailable,
}

/// A judged postback, before it is recorded.
pub(super) struct Judged {
    pub status: Result<(), RejectReason>,
    pub attribution: Attribution,
    pub payout: Micros,
    pub revenue: Micros,
    /// Whether the partner is to be told (approved, and no soft cap exceeded).
    pub notify: bool,
}

impl Judged {
    pub(super) fn rejected(reason: RejectReason, attribution: Attribution) -> Self {
        Self {
            status: Err(reason),
            attribution,
            payout: Micros::ZERO,
            revenue: Micros::ZERO,
            notify: false,
        }
    }
}
