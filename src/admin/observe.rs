//! One span, one debug line and two metrics per admin request, like the
//! tracking handlers' `switchyard_hits_total` and duration histogram.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Route templates, not paths: the label set stays as small as the router.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let span = tracing::info_span!("admin", http.route = %route, http.method = %request.method());
    let response = next.run(request).instrument(span).await;
    let status = response.status();
    let elapsed = started.elapsed();
    metrics::counter!(
        "switchyard_admin_requests_total",
        "route" => route.clone(),
        "status" => status.as_str().to_owned()
    )
    .increment(1);
    metrics::histogram!("switchyard_admin_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    tracing::debug!(
        http.route = %route,
        http.status = status.as_u16(),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "admin request"
    );
    response
}
