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

/// The interstitial's shared state, built once in `app::start`.
#[derive(Debug)]
pub struct Interstitial {
    pub key: token::TokenKey,
    pub pending: pending::PendingHits,
    /// How long a second hop may follow its first.
    pub ttl: chrono::Duration,
    pub adscore_key: Option<adscore::ResponseKey>,
}

impl Interstitial {
    pub fn new(config: &crate::config::InterstitialConfig) -> Self {
        let key = match &config.secret {
            Some(secret) => token::TokenKey::new(secret.0.as_bytes()),
            None => {
                tracing::info!(
                    "SWITCHYARD_INTERSTITIAL_SECRET is not set: second-hop tokens are signed with a key of this process only"
                );
                token::TokenKey::random()
            }
        };
        Self {
            key,
            pending: pending::PendingHits::new(config.max_held),
            // Config keeps it within a day; the clamp only guards the conversion.
            ttl: chrono::Duration::seconds(
                i64::try_from(config.ttl_secs.min(86_400)).unwrap_or(60),
            ),
            adscore_key: config
                .adscore_response_key
                .as_ref()
                .and_then(|k| adscore::ResponseKey::from_base64(&k.0)),
        }
    }
}
