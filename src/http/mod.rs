//! The HTTP edge: parse, call the core, map the result. Handlers hold no logic
//! that a test of `routing` could not reach.

mod click;
mod cookies;
pub mod error;
mod health;
mod hit;
mod hit_metrics;
mod interstitial;
mod partner;
mod postback;
pub mod server;
mod smart_link;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::{MethodRouter, get};

use crate::catalog::CatalogHandle;
use crate::checks::CheckRunner;
use crate::conversions::Conversions;
use crate::counters::CounterStore;
use crate::events::EventSender;
use crate::interstitial::Interstitial;
use crate::visit::client_ip::TrustedProxies;
use crate::visit::enrich::Enricher;

pub use cookies::CookiePolicy;
pub use interstitial::{
    HopRefusal, drain as drain_interstitial, spawn_sweeper as spawn_interstitial_sweeper,
};

/// What every handler shares; built once in `app::start`.
#[derive(Debug)]
pub struct AppState {
    pub catalog: Arc<CatalogHandle>,
    pub counters: Arc<CounterStore>,
    pub enricher: Arc<Enricher>,
    pub events: EventSender,
    /// Attribution and recording of postbacks and pixels; fed by every click.
    pub conversions: Arc<Conversions>,
    pub trusted_proxies: TrustedProxies,
    /// Where discarded hits go; `None`: a blank 404.
    pub fallback_url: Option<HeaderValue>,
    /// Host of partners' tracking links for smart links without a tracking domain.
    pub public_host: Option<String>,
    /// Domain and SameSite of the click cookies.
    pub cookies: CookiePolicy,
    /// The third-party checks' client, breakers and caches.
    pub checks: Arc<CheckRunner>,
    /// Hits held between the interstitial and its second hop.
    pub interstitial: Arc<Interstitial>,
}

/// Every route of the tracking listener. The router is built from this list,
/// and the docs test checks it against the docs.
pub fn routes() -> Vec<(&'static str, MethodRouter<Arc<AppState>>)> {
    vec![
        ("/c", get(click::offer_click)),
        ("/i", get(click::impression)),
        ("/sl/{id}", get(smart_link::smart_link_click)),
        (
            crate::interstitial::page::SECOND_HOP_PATH,
            get(interstitial::second_hop),
        ),
        ("/partner/smart-links", get(partner::smart_links)),
        ("/postback", get(postback::postback)),
        ("/pixel", get(postback::pixel)),
        ("/healthz", get(health::healthz)),
        ("/readyz", get(health::readyz)),
    ]
}

pub fn router(state: Arc<AppState>) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, method)| {
            router.route(path, method)
        })
        .with_state(state)
}
