//! `GET /admin/smart-links/{id}/kpi` (JSON) and `GET /admin/smart-links/{id}`
//! (the page): the `kpi show` card of the served snapshot, with per-offer
//! series across runs for the chart.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::AdminState;
use super::link_kpi::{LinkKpi, OfferLabel, OfferRole};
use super::page;
use crate::catalog::Catalog;
use crate::http::error::HttpError;
use crate::kpi::history;
use crate::kpi::show::{self, Overview, ShowError};

/// Runs the page lists and charts: two days of hourly runs.
pub const RUNS_ON_PAGE: i64 = 48;

pub async fn kpi_json(
    State(state): State<Arc<AdminState>>,
    Path(id): Path<String>,
) -> Result<Json<LinkKpi>, HttpError> {
    Ok(Json(load(&state, &id).await?))
}

pub async fn kpi_page(
    State(state): State<Arc<AdminState>>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let kpi = load(&state, &id).await?;
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            // Escaping is the defence; this is the second line: the page
            // needs no script, so none may run.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Html(page::render(&kpi).into_string()),
    )
        .into_response())
}

pub async fn not_found() -> HttpError {
    HttpError::NotFound
}

async fn load(state: &AdminState, id: &str) -> Result<LinkKpi, HttpError> {
    // A path that is not an id names no link.
    let id: i64 = id.parse().map_err(|_| HttpError::UnknownSmartLink)?;
    let pool = state.pool.as_ref().ok_or(HttpError::NoDatabase)?;
    let catalog = state.catalog.current().ok_or(HttpError::NotReady)?;
    let overview = show::overview_in(pool, &catalog, id, RUNS_ON_PAGE)
        .await
        .map_err(|error| match error {
            ShowError::UnknownLink(_) => HttpError::UnknownSmartLink,
            other => {
                tracing::warn!(error = %other, smart_link.id = id, "admin: reading KPI runs failed");
                HttpError::DatabaseUnavailable
            }
        })?;
    let offers = offer_labels(&catalog, &overview);
    let ranked: Vec<i64> = offers
        .iter()
        .filter(|o| o.role != OfferRole::CatchAll)
        .map(|o| o.offer_id)
        .collect();
    let series = history::series(&overview.runs, &ranked);
    Ok(LinkKpi {
        overview,
        offers,
        series,
    })
}

fn offer_labels(catalog: &Catalog, overview: &Overview) -> Vec<OfferLabel> {
    let label = |offer_id: i64, role| OfferLabel {
        offer_id,
        name: catalog.offer(offer_id).map(|o| o.name.to_string()),
        role,
    };
    let mut labels: Vec<OfferLabel> = Vec::new();
    if let Some(link) = catalog.smart_link(overview.smart_link_id) {
        labels.extend(
            link.offers
                .iter()
                .map(|o| label(o.offer_id, OfferRole::Regular)),
        );
        labels.extend(
            link.catch_all
                .iter()
                .map(|o| label(o.offer_id, OfferRole::CatchAll)),
        );
    }
    let mut former: Vec<i64> = overview
        .runs
        .iter()
        .flat_map(|run| history::offers(&run.figures))
        .map(|o| o.offer_id)
        .filter(|id| !labels.iter().any(|l| l.offer_id == *id))
        .collect();
    former.sort_unstable();
    former.dedup();
    labels.extend(former.into_iter().map(|id| label(id, OfferRole::Former)));
    labels
}
