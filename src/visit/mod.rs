//! Everything the server knows about one hit, gathered before any rule runs.
//!
//! A `Visit` is built once per request by the HTTP layer from the query string
//! (`params`), the socket and trusted proxy headers (`client_ip`), the GeoIP
//! databases (`geo`) and the user agent (`device`). Rules and routing only read it.

pub mod client_ip;
pub mod cookie;
pub mod device;
pub mod enrich;
pub mod geo;
pub mod language;
pub mod params;

use std::net::IpAddr;
use std::sync::Arc;

pub use device::DeviceInfo;
pub use geo::GeoInfo;
pub use params::TrackingParams;

/// One hit, as the rules and the router see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Visit {
    pub params: TrackingParams,
    pub ip: IpAddr,
    /// Shared so that the event record and the visit do not each copy it.
    pub user_agent: Arc<str>,
    pub geo: GeoInfo,
    pub device: DeviceInfo,
    /// Primary language subtags from `Accept-Language`, lowercase, by preference.
    pub languages: Vec<String>,
    /// The `Host` header without port, lowercase; smart links bound to a tracking domain check it.
    pub host: Option<String>,
    /// The visitor's `sy_uid` cookie: the identity the duplicate click filter's
    /// `cookie` identifier recognises. `None` when the browser sent none.
    pub click_cookie: Option<String>,
}

impl Visit {
    /// A visit with no enrichment: what tests and the embedded default start from.
    pub fn bare(params: TrackingParams, ip: IpAddr, user_agent: &str) -> Self {
        Self {
            params,
            ip,
            user_agent: Arc::from(user_agent),
            geo: GeoInfo::default(),
            device: DeviceInfo::default(),
            languages: Vec::new(),
            host: None,
            click_cookie: None,
        }
    }
}
