//! The offer URL scanner (issue 14): follows each active offer's URL the way a
//! phone's browser would and records where it ends (app store, known tracker,
//! neither, error) in `offer_url_scans`. `DOES_NOT_REACH_STORE` and
//! `DOES_NOT_REACH_TRACKER` read each offer's latest scan from the snapshot.
//!
//! **Architecture invariant:** the redirect path never calls the scanner. A
//! scan reaches routing only through the catalog: the loader reads each
//! offer's latest scan of its current URL into `Offer::last_scan`, and a scan
//! that changes what the rules read NOTIFYs a reload.
//!
//! `hosts` classifies URLs, `page` finds a page's own way on, `walk` follows a
//! chain, `client` is its HTTP client, `test_values` fills macros, `store` is
//! the table, `schedule` runs scans in `serve`, and `command` is `switchyard scan`.

pub mod client;
pub mod command;
pub mod hosts;
pub mod outcome;
pub mod page;
pub mod schedule;
pub mod store;
pub mod test_values;
pub mod walk;

pub use outcome::{ScanError, ScanResult};
pub use schedule::{Outcome, ScanMode, Scanner};
