//! Liveness, readiness and Prometheus metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready once a snapshot is loaded: before that every hit would be discarded.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.catalog.current() {
        Some(catalog) => Json(serde_json::json!({
            "ready": true,
            "snapshot_version": catalog.version,
            "snapshot_age_seconds": (Utc::now() - catalog.loaded_at).num_seconds(),
            "catalog": catalog.counts(),
        }))
        .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "ready": false })),
        )
            .into_response(),
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let Some(prometheus) = &state.prometheus else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Gauges that are cheap to read now and would cost every hit to maintain.
    metrics::gauge!("switchyard_events_queued").set(state.events.queued() as f64);
    if let Some(catalog) = state.catalog.current() {
        let age = (Utc::now() - catalog.loaded_at).num_milliseconds() as f64 / 1000.0;
        metrics::gauge!("switchyard_snapshot_age_seconds").set(age);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        prometheus.render(),
    )
        .into_response()
}
