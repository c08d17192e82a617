//! The HTTP edge: parse, call the core, map the result. Handlers hold no logic
//! that a test of `routing` could not reach.

mod click;
mod cookies;
pub mod error;
mod health;
mod hit;
mod hit_metrics;
mod partner;
mod postback;
pub mod server;
mod smart_link;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::get;

use crate::catalog::CatalogHandle;
use crate::conversions::Conversions;
use crate::counters::CounterStore;
use crate::events::EventSender;
use crate::visit::client_ip::TrustedProxies;
use crate::visit::enrich::Enricher;

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
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/c", get(click::offer_click))
        .route("/i", get(click::impression))
        .route("/sl/{id}", get(smart_link::smart_link_click))
        .route("/partner/smart-links", get(partner::smart_links))
        .route("/postback", get(postback::postback))
        .route("/pixel", get(postback::pixel))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}
