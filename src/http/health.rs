//! Liveness and readiness, on the tracking port where load balancers probe.
//! `/metrics` is on the admin listener (`admin::metrics`).

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
