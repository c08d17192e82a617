//! Hourly rollups: per-hour clicks, unique clicks, conversions, events, payout
//! and revenue per (smart link, offer) and per (offer, partner), so that the
//! optimizer and the reports never scan raw clicks (`migrations/0009_rollups.sql`,
//! `docs/ROLLUPS.md`).
//!
//! **Invariant:** a raw row counts in the rollups once, however often it is
//! written. The event writer adds to the rollups in the statement that inserts
//! the raw rows, from that statement's `RETURNING` (only the rows it actually
//! inserted), so a retried batch, a replayed spill file or a split batch adds
//! nothing twice; `rebuild` recomputes them from the raw tables.

pub mod counted;
pub mod rebuild;

pub use counted::Source;
pub use rebuild::{RebuildError, RebuildReport, rebuild};
