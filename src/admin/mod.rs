//! The admin listener: pages and JSON for people who run the network, and
//! the Prometheus `/metrics`, on an address of their own
//! (`SWITCHYARD_ADMIN_LISTEN`), never on the tracking port. Every route but
//! `/metrics` sits behind `auth` when a token is configured.
//!
//! Handlers read the served catalog snapshot and Postgres, never the
//! redirect path's state: the admin listener can be slow without slowing a
//! redirect. See docs/KPI.md, "The admin page".

mod auth;
mod chart;
mod link_kpi;
mod metrics;
mod observe;
mod page;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodRouter, get};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::catalog::CatalogHandle;
use crate::config::AdminToken;
use crate::events::QueueDepth;

pub use auth::TokenDigest;

/// What the admin handlers share; built once in `app::start`.
#[derive(Debug)]
pub struct AdminState {
    pub catalog: Arc<CatalogHandle>,
    /// `None` without DATABASE_URL: the routes answer `503 no_database`.
    pub pool: Option<PgPool>,
    /// `None`: `/metrics` answers 404 (a server built without the recorder).
    pub prometheus: Option<PrometheusHandle>,
    /// The event channel's depth, read at scrape time.
    pub event_queue: Option<QueueDepth>,
}

/// The admin routes behind the token. The router is built from this list,
/// and the docs test checks it against the docs.
pub fn guarded_routes() -> Vec<(&'static str, MethodRouter<Arc<AdminState>>)> {
    vec![
        ("/admin/smart-links/{id}/kpi", get(routes::kpi_json)),
        ("/admin/smart-links/{id}", get(routes::kpi_page)),
    ]
}

/// `token`: every route but `/metrics` requires it as `Authorization:
/// Bearer`; `None`: no check (start-up allows that on loopback only).
pub fn router(state: Arc<AdminState>, token: Option<&AdminToken>) -> Router {
    guarded_routes()
        .into_iter()
        .fold(Router::new(), |router, (path, method)| {
            router.route(path, method)
        })
        .route_layer(axum::middleware::from_fn_with_state(
            token.map(TokenDigest::of),
            auth::require_token,
        ))
        // Added after the token layer, which covers only the routes above:
        // Prometheus scrapes without credentials, on any admin address.
        .route("/metrics", get(metrics::metrics))
        .route_layer(axum::middleware::from_fn(observe::observe))
        .fallback(routes::not_found)
        .with_state(state)
}
