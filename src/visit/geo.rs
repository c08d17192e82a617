//! What the GeoIP databases say about the client IP. Every field is optional:
//! a missing database or an unknown network means "unknown", never an error.

mod records;
mod slot;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::Guard;
use serde::{Deserialize, Serialize};

use crate::visit::client_ip::canonical;
use slot::{Db, Kind, Slot};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2, uppercase.
    pub country: Option<String>,
    /// ISO 3166-2 subdivision code without the country prefix (e.g. "NY"), uppercase.
    pub region: Option<String>,
    /// English city name.
    pub city: Option<String>,
    pub anonymous: AnonymousIp,
    pub isp: Option<String>,
    pub organization: Option<String>,
    pub asn: Option<u32>,
    pub mobile_carrier: Option<String>,
    /// MaxMind connection type, lowercase: "cable/dsl", "cellular", "corporate", "satellite".
    pub connection_type: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AnonymousIp {
    pub vpn: bool,
    pub public_proxy: bool,
    pub tor_exit: bool,
    pub hosting: bool,
    pub residential_proxy: bool,
}

impl AnonymousIp {
    pub fn any(&self) -> bool {
        self.vpn || self.public_proxy || self.tor_exit || self.hosting || self.residential_proxy
    }
}

/// Where each database lives; an unset path means that database is not used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeoPaths {
    pub city: Option<PathBuf>,
    pub anonymous_ip: Option<PathBuf>,
    pub isp: Option<PathBuf>,
    /// GeoLite2-ASN: fills `asn` and `organization` where the ISP database does not.
    pub asn: Option<PathBuf>,
    pub connection_type: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot read GeoIP database {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("GeoIP database {} is corrupt: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        source: maxminddb::MaxMindDbError,
    },
    #[error("GeoIP database {} is a {found} database, expected {expected}", path.display())]
    WrongType {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },
}

/// The GeoIP databases, each optional and each replaceable on disk while running.
pub struct GeoDatabases {
    city: Option<Slot>,
    anonymous_ip: Option<Slot>,
    isp: Option<Slot>,
    asn: Option<Slot>,
    connection_type: Option<Slot>,
}

impl GeoDatabases {
    /// Opens every configured database. A configured file that does not exist
    /// yet is not an error (see `reload_changed`); one that is corrupt is.
    pub fn open(paths: &GeoPaths) -> Result<Self, GeoError> {
        let open = |kind, path: &Option<PathBuf>| {
            path.as_ref()
                .map(|p| Slot::open(kind, p.clone()))
                .transpose()
        };
        Ok(Self {
            city: open(Kind::City, &paths.city)?,
            anonymous_ip: open(Kind::AnonymousIp, &paths.anonymous_ip)?,
            isp: open(Kind::Isp, &paths.isp)?,
            asn: open(Kind::Asn, &paths.asn)?,
            connection_type: open(Kind::ConnectionType, &paths.connection_type)?,
        })
    }

    /// No databases: every lookup answers "unknown".
    pub fn none() -> Self {
        Self {
            city: None,
            anonymous_ip: None,
            isp: None,
            asn: None,
            connection_type: None,
        }
    }

    pub fn lookup(&self, ip: IpAddr) -> GeoInfo {
        // Dual-stack sockets report IPv4 clients as `::ffff:a.b.c.d`, which the
        // databases file under their IPv4 subtree, not the mapped range.
        let ip = canonical(ip);
        let (city, anonymous_ip, isp, connection_type) = (
            load(&self.city),
            load(&self.anonymous_ip),
            load(&self.isp),
            load(&self.connection_type),
        );
        let mut geo = GeoInfo::default();
        if let Some(city) = decode::<records::City>(&city, ip) {
            geo.country = city.country.iso_code.map(str::to_ascii_uppercase);
            geo.region = city.subdivisions.iso_code.map(str::to_ascii_uppercase);
            geo.city = city.city.names.en.map(str::to_owned);
        }
        if let Some(anon) = decode::<records::AnonymousIp>(&anonymous_ip, ip) {
            geo.anonymous = AnonymousIp {
                vpn: anon.is_anonymous_vpn,
                public_proxy: anon.is_public_proxy,
                tor_exit: anon.is_tor_exit_node,
                hosting: anon.is_hosting_provider,
                residential_proxy: anon.is_residential_proxy,
            };
        }
        if let Some(isp) = decode::<records::Isp>(&isp, ip) {
            geo.isp = isp.isp.map(str::to_owned);
            geo.organization = isp.organization.map(str::to_owned);
            geo.asn = isp.autonomous_system_number;
            // The ISP database names no carrier; a mobile country code means the
            // network is a mobile operator's, and its ISP name is the carrier's.
            if isp.mobile_country_code.is_some() {
                geo.mobile_carrier = isp.isp.or(isp.organization).map(str::to_owned);
            }
        }
        if geo.asn.is_none() || geo.organization.is_none() {
            let asn_db = load(&self.asn);
            if let Some(asn) = decode::<records::Asn>(&asn_db, ip) {
                geo.asn = geo.asn.or(asn.autonomous_system_number);
                if geo.organization.is_none() {
                    geo.organization = asn.autonomous_system_organization.map(str::to_owned);
                }
            }
        }
        if let Some(ct) = decode::<records::ConnectionType>(&connection_type, ip) {
            geo.connection_type = ct.connection_type.map(str::to_ascii_lowercase);
        }
        geo
    }

    /// Re-reads every database whose file changed since it was last tried and
    /// swaps it in. A file that fails to load leaves the previous reader in
    /// service. Only databases that were tried are reported.
    pub fn reload_changed(&self) -> Vec<(PathBuf, Result<(), GeoError>)> {
        self.slots()
            .filter_map(|slot| {
                let result = slot.reload_if_changed()?;
                Some((slot.path().to_owned(), result))
            })
            .collect()
    }

    /// Polls the files every `interval`. Polling rather than inotify: it works
    /// the same on every filesystem, and databases change weekly at most.
    pub fn spawn_watcher(self: Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick fires at once, and `open` has just loaded everything.
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let dbs = Arc::clone(&self);
                // Reading and verifying a City database takes long enough to stall
                // a runtime worker.
                let results = match tokio::task::spawn_blocking(move || dbs.reload_changed()).await
                {
                    Ok(results) => results,
                    Err(e) => {
                        tracing::warn!(error = %e, "GeoIP reload task failed");
                        continue;
                    }
                };
                for (path, result) in results {
                    match result {
                        Ok(()) => tracing::info!(path = %path.display(), "GeoIP database reloaded"),
                        Err(e) => {
                            tracing::warn!(error = %e, "GeoIP database not reloaded; keeping the previous one")
                        }
                    }
                }
            }
        })
    }

    fn slots(&self) -> impl Iterator<Item = &Slot> {
        [
            &self.city,
            &self.anonymous_ip,
            &self.isp,
            &self.asn,
            &self.connection_type,
        ]
        .into_iter()
        .flatten()
    }
}

/// A database as one lookup sees it: the reader stays alive until the guard
/// drops, even if a reload swaps in a new one meanwhile.
type Loaded = Option<Guard<Option<Arc<Db>>>>;

fn load(slot: &Option<Slot>) -> Loaded {
    slot.as_ref().map(Slot::reader)
}

/// Looks `ip` up and decodes the record. Every failure is "unknown": no
/// database, an IPv6 address asked of an IPv4-only database, a network with no
/// data, a record that does not decode.
fn decode<'a, T: Deserialize<'a>>(loaded: &'a Loaded, ip: IpAddr) -> Option<T> {
    let db: &'a Db = loaded.as_ref()?.as_deref()?;
    if ip.is_ipv6() && db.metadata().ip_version == 4 {
        return None;
    }
    match db.lookup(ip).and_then(|found| found.decode::<T>()) {
        Ok(record) => record,
        Err(e) => {
            // Debug, not warn: one bad record would log on every hit that lands on it.
            tracing::debug!(%ip, error = %e, "GeoIP record not decoded");
            None
        }
    }
}
