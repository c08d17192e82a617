//! KPI optimization of smart links (seed 000, issue 11): metric formulas, the
//! ranking, the exploring strategy, and a simulator that drives the real
//! routing decision through simulated hours; in production, a scheduler runs
//! each link at its frequency over the hourly rollups (`scheduler`, `store`).
//!
//! **Boundary:** `metric`, `rank`, `explore`, `carry`, `change`, `gamma` and
//! `record` are pure
//! functions of figures, settings and (for `explore`) an rng: no clock, no I/O,
//! no database. Figures come in through `FiguresSource`; a run goes out as a
//! `RunResult`, which reaches routing only through the catalog snapshot.
//! `history` (runs read back for the admin page) is pure too.
//! `store` (Postgres reads), `scheduler` (locks, clock, rng) and `show` are the
//! I/O around them: they load first, then call the pure code.
//! See docs/KPI.md.

pub mod carry;
mod change;
pub mod explore;
mod gamma;
pub mod history;
pub mod memory;
pub mod metric;
pub mod rank;
pub mod record;
pub mod run;
pub mod scheduler;
pub mod show;
pub mod sim;
pub mod store;
pub mod window;

pub use crate::catalog::source::{KpiMetric, KpiStrategy};
pub use metric::{Figures, value};
pub use rank::{OfferResult, RunResult, rank};
pub use run::{FiguresSource, optimize};

/// A link's KPI settings, as the optimizer reads them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KpiSettings {
    pub metric: KpiMetric,
    /// Rank by closeness to this value instead of highest first.
    pub goal: Option<f64>,
    /// The data collection threshold: clicks over the window, all offers summed.
    pub min_clicks: u64,
    pub frequency_hours: u32,
    pub lookback_hours: u32,
    pub strategy: KpiStrategy,
}

impl Default for KpiSettings {
    fn default() -> Self {
        Self {
            metric: KpiMetric::default(),
            goal: None,
            min_clicks: 100,
            frequency_hours: 6,
            lookback_hours: 24,
            strategy: KpiStrategy::Rank,
        }
    }
}
