//! Baseline for the load test: the cheapest possible axum 302, no rules, no log.
//! `cargo run --release --example bare_redirect -- 127.0.0.1:18082 [http1]`
//! With `http1`, served by Switchyard's own HTTP/1-only accept loop instead of
//! `axum::serve`, to tell the cost of the loop from the cost of the click path.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

async fn redirect() -> impl IntoResponse {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, "https://example.com/"),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18082".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    // Both click routes, so the harness can send it the same mix as Switchyard.
    let router = Router::new()
        .route("/c", get(redirect))
        .route("/sl/{id}", get(redirect));
    if std::env::args().nth(2).as_deref() == Some("http1") {
        switchyard::http::server::serve(listener, router, std::future::pending()).await;
        return Ok(());
    }
    axum::serve(listener, router).await
}
