//! `GET /partner/smart-links`: the smart links a partner may use, with its
//! tracking link for each, authenticated by the partner's `X-Api-Key`: the
//! key is hashed and looked up among the catalog's digests, so no plain key
//! is stored or compared (`catalog::secret`).
//!
//! Read from the catalog snapshot like everything else at the edge; the
//! `partner_smart_links` SQL view answers the same question for admins.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde::Serialize;

use crate::catalog::source::RedirectMechanism;
use crate::catalog::{Catalog, SmartLink, Status};
use crate::rules::status::is_approved;

use super::AppState;
use super::error::HttpError;

#[derive(Debug, Serialize)]
pub struct PartnerSmartLinks {
    partner_id: i64,
    smart_links: Vec<PartnerSmartLink>,
}

#[derive(Debug, Serialize)]
struct PartnerSmartLink {
    id: i64,
    name: String,
    mechanism: RedirectMechanism,
    tracking_link: String,
}

pub async fn smart_links(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<PartnerSmartLinks>, HttpError> {
    let catalog = state.catalog.current().ok_or(HttpError::NotReady)?;
    let key = headers.get("x-api-key").ok_or(HttpError::Unauthorized)?;
    let partner = catalog
        .partner_by_api_key(key.as_bytes())
        .filter(|p| p.status == Status::Active)
        .ok_or(HttpError::Unauthorized)?;
    let request_host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let default_host = state
        .public_host
        .as_deref()
        .or(request_host)
        .unwrap_or("localhost");
    let mut smart_links: Vec<PartnerSmartLink> = catalog
        .smart_links()
        .filter(|link| open_to(&catalog, link, partner.id))
        .map(|link| PartnerSmartLink {
            id: link.id,
            name: link.name.clone(),
            mechanism: link.mechanism,
            tracking_link: format!(
                "https://{}/sl/{}?affid={}",
                link.tracking_domain.as_deref().unwrap_or(default_host),
                link.id,
                partner.id
            ),
        })
        .collect();
    smart_links.sort_by_key(|l| l.id);
    Ok(Json(PartnerSmartLinks {
        partner_id: partner.id,
        smart_links,
    }))
}

/// Visible links the partner can send traffic through: approved for one of the
/// regular offers, or anyone when there is a Catch All (it needs no approval).
fn open_to(catalog: &Catalog, link: &SmartLink, partner_id: i64) -> bool {
    link.status == Status::Active
        && link.partner_visible
        && (link.catch_all.is_some()
            || link.offers.iter().any(|entry| {
                catalog
                    .offer(entry.offer_id)
                    .is_some_and(|offer| is_approved(catalog, offer, partner_id))
            }))
}
