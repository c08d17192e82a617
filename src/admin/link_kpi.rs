//! What the admin KPI routes answer (JSON) and the page draws: the page
//! renders it and the routes build it, so it sits apart from both.

use serde::Serialize;

use crate::kpi::history::OfferSeries;
use crate::kpi::show::Overview;

/// The admin JSON: `kpi show --json` plus names and series.
#[derive(Debug, Serialize)]
pub struct LinkKpi {
    #[serde(flatten)]
    pub overview: Overview,
    /// The link's offers (then any that only its listed runs name).
    pub offers: Vec<OfferLabel>,
    /// One per offer that can be ranked, oldest run first.
    pub series: Vec<OfferSeries>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OfferLabel {
    pub offer_id: i64,
    /// `None`: the offer is no longer in the catalog.
    pub name: Option<String>,
    pub role: OfferRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferRole {
    Regular,
    CatchAll,
    /// Named by a listed run, no longer among the link's offers.
    Former,
}

impl LinkKpi {
    pub fn is_kpi(&self) -> bool {
        self.overview.mechanism == crate::catalog::source::RedirectMechanism::Kpi
    }

    pub fn name_of(&self, offer_id: i64) -> Option<&str> {
        self.offers
            .iter()
            .find(|o| o.offer_id == offer_id)
            .and_then(|o| o.name.as_deref())
    }
}
