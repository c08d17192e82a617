//! Per-click matching of a visit against compiled targeting. Runs on every hit,
//! so it only reads precomputed structures and never allocates.

use chrono::{DateTime, Utc};

use super::compile::{CompiledTargeting, Region};
use super::os_name::names_os;
use super::sets::{eq_folded, parse_country};
use super::{Mismatch, TargetingScope};
use crate::visit::Visit;

impl CompiledTargeting {
    /// Ok when the visit satisfies every dimension; otherwise the first failing one,
    /// offer-level dimensions (country, OS, OS version) first.
    pub fn check(&self, visit: &Visit, now: DateTime<Utc>) -> Result<(), Mismatch> {
        self.check_offer(visit)?;
        self.check_advanced(visit, now)
    }

    /// True when no dimension restricts anything, so callers may skip the check.
    pub fn is_unrestricted(&self) -> bool {
        !self.countries.is_active()
            && !self.os.is_active()
            && self.os_versions.0.is_empty()
            && !self.regions.is_active()
            && !self.cities.is_active()
            && !self.device_types.is_active()
            && !self.browsers.is_active()
            && !self.languages.is_active()
            && !self.isps.is_active()
            && !self.carriers.is_active()
            && !self.asns.is_active()
            && !self.connection_types.is_active()
            && !self.ip_ranges.is_active()
            && self.params.is_empty()
            && self.day_parting.is_none()
    }

    /// Country, OS and OS version only (rule `OFFER_TARGETING_MISMATCH`).
    pub fn check_offer(&self, visit: &Visit) -> Result<(), Mismatch> {
        let offer = |ok: bool, dimension| ok.then_some(()).ok_or(Mismatch::offer(dimension));
        let geo = &visit.geo;
        let device = &visit.device;
        offer(
            self.countries
                .allows(geo.country.as_deref(), |s, v| s.contains(v)),
            "countries",
        )?;
        offer(
            self.os
                .allows(device.os_family.as_deref(), |names, family| {
                    names_os(names, family, &device.os_version)
                }),
            "os",
        )?;
        offer(
            self.os_versions
                .allows(device.os_family.as_deref(), &device.os_version),
            "os_versions",
        )
    }

    /// Every other dimension (rule `ADVANCED_TARGETING_MISMATCH`).
    pub fn check_advanced(&self, visit: &Visit, now: DateTime<Utc>) -> Result<(), Mismatch> {
        let advanced = |ok: bool, dimension| ok.then_some(()).ok_or(Mismatch::advanced(dimension));
        let geo = &visit.geo;
        let device = &visit.device;
        let names = |s: &super::sets::NameSet, v: &str| s.contains(v);

        let country = geo.country.as_deref().and_then(parse_country);
        advanced(
            self.regions.allows(geo.region.as_deref(), |regions, code| {
                regions.iter().any(|r| region_matches(r, country, code))
            }),
            "regions",
        )?;
        advanced(self.cities.allows(geo.city.as_deref(), names), "cities")?;
        advanced(
            self.device_types
                .allows(Some(&device.device_type), |s, t| s.contains(*t)),
            "device_types",
        )?;
        advanced(
            self.browsers
                .allows(device.browser_family.as_deref(), names),
            "browsers",
        )?;
        // The most preferred language is the one the landing page should speak.
        advanced(
            self.languages
                .allows(visit.languages.first().map(String::as_str), names),
            "languages",
        )?;
        advanced(self.isps.allows(geo.isp.as_deref(), names), "isps")?;
        advanced(
            self.carriers.allows(geo.mobile_carrier.as_deref(), names),
            "carriers",
        )?;
        advanced(
            self.asns
                .allows(geo.asn.as_ref(), |s, a| s.binary_search(a).is_ok()),
            "asns",
        )?;
        advanced(
            self.connection_types
                .allows(geo.connection_type.as_deref(), names),
            "connection_types",
        )?;
        // Proxies may hand us `::ffff:a.b.c.d`; IPv4 ranges must still apply.
        let ip = visit.ip.to_canonical();
        advanced(
            self.ip_ranges
                .allows(Some(&ip), |nets, ip| nets.iter().any(|n| n.contains(ip))),
            "ip_ranges",
        )?;
        advanced(
            self.params.iter().all(|p| p.allows(&visit.params)),
            "params",
        )?;
        advanced(
            self.day_parting.as_ref().is_none_or(|s| s.allows(now)),
            "day_parting",
        )
    }
}

fn region_matches(region: &Region, visit_country: Option<[u8; 2]>, code: &str) -> bool {
    region.country.is_none_or(|c| visit_country == Some(c)) && eq_folded(code, &region.code)
}

impl Mismatch {
    fn offer(dimension: &'static str) -> Self {
        Self {
            scope: TargetingScope::Offer,
            dimension,
        }
    }

    fn advanced(dimension: &'static str) -> Self {
        Self {
            scope: TargetingScope::Advanced,
            dimension,
        }
    }
}
