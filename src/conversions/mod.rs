//! Conversions: server-to-server postbacks and the cookie pixel, attributed to
//! their click by transaction id, checked, priced, recorded, and passed on to
//! the partner. See `docs/CONVERSIONS.md`.
//!
//! **API boundary:** `Conversions::record` is the way in; it knows nothing of
//! HTTP. It never waits on Postgres longer than the lookup timeout, and only
//! asks it about clicks and conversions memory cannot answer.

mod caps;
mod click_index;
mod duplicates;
mod lookup;
mod notify;
mod params;
mod pricing;
mod recent;
mod record;
mod rows;
mod verdict;

pub use click_index::{ClickFacts, ClickIndex, NewClick};
pub use lookup::{CLICK_AT_SQL, CLICK_SQL};
pub use params::{PostbackParamError, PostbackParams};
pub use pricing::price;
pub use record::{ConversionSettings, Conversions};
pub use verdict::{ConversionError, RecordKind, Recorded, RejectReason};
