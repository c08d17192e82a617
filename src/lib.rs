//! Switchyard: a click-redirect server for affiliate networks.
//!
//! See `docs/ARCHITECTURE.md` for the bird's-eye view and the invariants.

pub mod admin;
pub mod app;
pub mod catalog;
pub mod checks;
pub mod cli;
pub mod columns;
pub mod config;
pub mod conversions;
pub mod counters;
pub mod credentials;
pub mod events;
pub mod explain;
pub mod hit_kind;
pub mod http;
pub mod interstitial;
pub mod kpi;
pub mod observability;
pub mod partitions;
pub mod postbacks;
pub mod rollups;
pub mod routing;
pub mod rules;
pub mod scanner;
pub mod targeting;
pub mod visit;
