//! The GeoIP and user-agent settings: `serve` enriches hits with them, and
//! `visit` and `explain` must enrich the same way, so all three share this.

use std::path::PathBuf;

use clap::Args;

use crate::visit::geo::GeoPaths;

#[derive(Debug, Clone, Default, Args)]
pub struct EnrichmentConfig {
    /// MaxMind GeoIP2/GeoLite2 City database.
    #[arg(long, env = "SWITCHYARD_GEOIP_CITY")]
    pub geoip_city: Option<PathBuf>,

    /// MaxMind GeoIP2 Anonymous-IP database.
    #[arg(long, env = "SWITCHYARD_GEOIP_ANONYMOUS_IP")]
    pub geoip_anonymous_ip: Option<PathBuf>,

    /// MaxMind GeoIP2 ISP database.
    #[arg(long, env = "SWITCHYARD_GEOIP_ISP")]
    pub geoip_isp: Option<PathBuf>,

    /// MaxMind GeoLite2 ASN database (used where the ISP database is absent).
    #[arg(long, env = "SWITCHYARD_GEOIP_ASN")]
    pub geoip_asn: Option<PathBuf>,

    /// MaxMind GeoIP2 Connection-Type database.
    #[arg(long, env = "SWITCHYARD_GEOIP_CONNECTION_TYPE")]
    pub geoip_connection_type: Option<PathBuf>,

    /// uap-core regexes.yaml; default: the copy compiled into the binary.
    #[arg(long, env = "SWITCHYARD_UA_REGEXES")]
    pub ua_regexes: Option<PathBuf>,
}

impl EnrichmentConfig {
    pub fn geo_paths(&self) -> GeoPaths {
        GeoPaths {
            city: self.geoip_city.clone(),
            anonymous_ip: self.geoip_anonymous_ip.clone(),
            isp: self.geoip_isp.clone(),
            asn: self.geoip_asn.clone(),
            connection_type: self.geoip_connection_type.clone(),
        }
    }
}
