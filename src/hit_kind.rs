//! What a tracking hit is: a click (answered with a redirect) or an
//! impression (answered with a pixel). Routing and the rules decide by it and
//! events record it, so it lives below all three: with it in `events`, routing
//! and events imported each other.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    Click,
    Impression,
}
