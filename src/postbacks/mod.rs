//! Partner postbacks: telling a partner that a conversion it sent was approved,
//! by calling its `postback_url` with the conversion's macros.
//!
//! **Architecture invariant:** nothing here runs on the request path; the
//! postback handler only `PostbackQueue::enqueue`s.

mod dispatcher;
pub mod macros;

pub use dispatcher::{
    PostbackError, PostbackJob, PostbackQueue, PostbackSettings, spawn_dispatcher,
};
pub use macros::{PostbackValues, expand};
