//! `GET /metrics`: the Prometheus text, on the admin listener only, so that
//! partners and visitors on the tracking port never see the network's
//! volumes, rules and offers. Never behind the bearer token: Prometheus
//! scrapes it plainly (see docs/OPERATIONS.md).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::AdminState;

pub async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let Some(prometheus) = &state.prometheus else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Gauges that are cheap to read now and would cost every hit to maintain.
    if let Some(queue) = &state.event_queue {
        metrics::gauge!("switchyard_events_queued").set(queue.queued() as f64);
    }
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
