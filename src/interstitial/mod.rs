//! Browser-side checks (`ADSCORE_SCRIPT`, `ANURA_SCRIPT`,
//! `CLIENT_SIDE_SEARCH_LATENCY`): when the offer that takes a click has one
//! active, the tracking link answers a small page instead of the redirect.
//! The page runs the providers' scripts (and times the latency probe) and
//! continues to a second hop, `GET /continue?t=TOKEN&...`, carrying what
//! they said; the server judges that and only then redirects or discards.
//!
//! How the two hops are recorded (invariant: one outcome per hit): the first
//! hop's decision is *held* here (`pending`), not recorded, under its
//! transaction id; the signed token names it. Exactly one of these takes the
//! held hit out and records it: the second hop (redirected, or discarded by
//! the failing check), or the sweeper once the token has expired (discarded
//! by the check, detail `abandoned`: the visitor never came back), or a clean
//! shutdown (the same). A second hop that names no held hit (forged, expired,
//! replayed, or held by another instance) is a request of its own, recorded
//! as `INVALID_REQUEST` with its own transaction id.
//!
//! **Architecture invariant:** the first hop does no I/O for these checks;
//! the second hop makes at most one provider call (Anura's result lookup),
//! bounded by the rule's timeout and a circuit breaker.

pub mod adscore;
pub mod anura;
pub mod page;
pub mod params;
pub mod pending;
pub mod token;
pub mod verdict;

use std::sync::Arc;

use smallvec::SmallVec;

use crate::catalog::{Catalog, Offer};
use crate::rules::RuleCode;

pub use params::BrowserCheckParams;

/// The browser-side rules active for one (offer, partner), in a fixed order.
pub type ActiveChecks = SmallVec<[(RuleCode, Arc<BrowserCheckParams>); 3]>;

const BROWSER_RULES: [RuleCode; 3] = [
    RuleCode::AdscoreScript,
    RuleCode::AnuraScript,
    RuleCode::ClientSideSearchLatency,
];

/// Which browser-side checks the offer taking a hit asks for; empty (the
/// common case, no allocation) when none is active.
pub fn active_checks(catalog: &Catalog, offer: &Offer, partner_id: Option<i64>) -> ActiveChecks {
    let table = &catalog.rule_table;
    let overrides = partner_id.map_or(&[][..], |id| table.partner_overrides(id));
    let mut checks = ActiveChecks::new();
    for code in BROWSER_RULES {
        // The offer's setting, unless a partner row beats it (as `with_partner` decides).
        let mut setting = offer.rules.get(code);
        for (overridden, partner_setting) in overrides {
            if *overridden == code && partner_setting.specificity >= setting.specificity {
                setting = *partner_setting;
            }
        }
        if setting.active
            && let Some(params) = table.browser_params(&setting)
        {
            checks.push((code, params.clone()));
        }
    }
    checks
}
