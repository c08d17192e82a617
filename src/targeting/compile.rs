//! Turning an admin's [`TargetingSpec`] into [`CompiledTargeting`]: every string is
//! validated and parsed here, once per catalog load, so matching cannot fail.

use std::net::IpAddr;

use chrono_tz::Tz;
use ipnet::IpNet;

use super::TargetingError;
use super::dayparting::Schedule;
use super::params::ParamRule;
use super::sets::{CountrySet, Filter, NameSet, fold, parse_country};
use super::spec::{IncludeExclude, TargetingSpec};
use super::version::{VersionRule, VersionRules};
use crate::visit::device::DeviceType;

/// A targeting spec ready for per-click matching. Cheap to share behind an `Arc`.
#[derive(Debug, Clone, Default)]
pub struct CompiledTargeting {
    pub(crate) countries: Filter<CountrySet>,
    pub(crate) os: Filter<NameSet>,
    pub(crate) os_versions: VersionRules,
    pub(crate) regions: Filter<Vec<Region>>,
    pub(crate) cities: Filter<NameSet>,
    pub(crate) device_types: Filter<DeviceTypes>,
    pub(crate) browsers: Filter<NameSet>,
    pub(crate) languages: Filter<NameSet>,
    pub(crate) isps: Filter<NameSet>,
    pub(crate) carriers: Filter<NameSet>,
    pub(crate) asns: Filter<Vec<u32>>,
    pub(crate) connection_types: Filter<NameSet>,
    pub(crate) ip_ranges: Filter<Vec<IpNet>>,
    pub(crate) params: Vec<ParamRule>,
    pub(crate) day_parting: Option<Schedule>,
}

/// A subdivision code, optionally qualified by its country (`US-NY`).
#[derive(Debug, Clone)]
pub(crate) struct Region {
    pub country: Option<[u8; 2]>,
    pub code: Box<str>,
}

/// Bit set over [`DeviceType`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DeviceTypes(u8);

impl DeviceTypes {
    pub fn contains(self, t: DeviceType) -> bool {
        self.0 & device_bit(t) != 0
    }
}

fn device_bit(t: DeviceType) -> u8 {
    1 << t as u8
}

impl CompiledTargeting {
    /// Validates and compiles `spec`; `tz` is the offer's timezone, used by day parting.
    pub fn compile(spec: &TargetingSpec, tz: Tz) -> Result<Self, TargetingError> {
        Ok(Self {
            countries: filter(&spec.countries, "countries", |field, values| {
                let mut set = CountrySet::default();
                for v in values {
                    let code =
                        parse_country(v.trim()).ok_or_else(|| TargetingError::InvalidCountry {
                            field,
                            value: v.clone(),
                        })?;
                    set.insert(code);
                }
                Ok(set)
            })?,
            os: names(&spec.os, "os")?,
            os_versions: VersionRules(
                spec.os_versions
                    .iter()
                    .map(VersionRule::compile)
                    .collect::<Result<_, _>>()?,
            ),
            regions: filter(&spec.regions, "regions", |field, values| {
                values.iter().map(|v| region(field, v)).collect()
            })?,
            cities: names(&spec.cities, "cities")?,
            device_types: filter(&spec.device_types, "device_types", device_types)?,
            browsers: names(&spec.browsers, "browsers")?,
            languages: filter(&spec.languages, "languages", |field, values| {
                for v in values {
                    let v = v.trim();
                    if !(2..=3).contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err(TargetingError::InvalidLanguage {
                            field,
                            value: v.to_owned(),
                        });
                    }
                }
                Ok(NameSet::new(values.iter().map(|v| v.trim().to_owned())))
            })?,
            isps: names(&spec.isps, "isps")?,
            carriers: names(&spec.carriers, "carriers")?,
            asns: filter(&spec.asns, "asns", |_, values| {
                let mut asns = values.to_vec();
                asns.sort_unstable();
                asns.dedup();
                Ok(asns)
            })?,
            connection_types: names(&spec.connection_types, "connection_types")?,
            ip_ranges: filter(&spec.ip_ranges, "ip_ranges", |field, values| {
                let nets = values
                    .iter()
                    .map(|v| ip_net(field, v))
                    .collect::<Result<Vec<_>, _>>()?;
                // Merged ranges keep the per-click scan short.
                Ok(IpNet::aggregate(&nets))
            })?,
            params: spec
                .params
                .iter()
                .map(ParamRule::compile)
                .collect::<Result<_, _>>()?,
            day_parting: match &spec.day_parting {
                Some(dp) => Schedule::compile(dp, tz)?,
                None => None,
            },
        })
    }
}

/// Builds both sides of a dimension; `field` in errors is e.g. `countries.include`.
fn filter<T, S>(
    spec: &IncludeExclude<T>,
    name: &'static str,
    build: impl Fn(&'static str, &[T]) -> Result<S, TargetingError>,
) -> Result<Filter<S>, TargetingError> {
    let side = |values: &[T], field| {
        if values.is_empty() {
            Ok(None)
        } else {
            build(field, values).map(Some)
        }
    };
    Ok(Filter {
        include: side(&spec.include, field_name(name, true))?,
        exclude: side(&spec.exclude, field_name(name, false))?,
    })
}

fn names(spec: &IncludeExclude, name: &'static str) -> Result<Filter<NameSet>, TargetingError> {
    filter(spec, name, |field, values| {
        if values.iter().any(|v| v.trim().is_empty()) {
            return Err(TargetingError::EmptyValue { field });
        }
        Ok(NameSet::new(values.iter().map(|v| v.trim().to_owned())))
    })
}

fn region(field: &'static str, value: &str) -> Result<Region, TargetingError> {
    let invalid = || TargetingError::InvalidRegion {
        field,
        value: value.to_owned(),
    };
    let trimmed = value.trim();
    let (country, code) = match trimmed.split_once('-') {
        Some((country, code)) => (Some(parse_country(country).ok_or_else(invalid)?), code),
        None => (None, trimmed),
    };
    if code.is_empty() || code.len() > 3 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid());
    }
    Ok(Region {
        country,
        code: fold(code).into(),
    })
}

fn device_types(field: &'static str, values: &[String]) -> Result<DeviceTypes, TargetingError> {
    let mut set = 0;
    for v in values {
        let t = [
            DeviceType::Desktop,
            DeviceType::Mobile,
            DeviceType::Tablet,
            DeviceType::Bot,
            DeviceType::Other,
        ]
        .into_iter()
        .find(|t| v.trim().eq_ignore_ascii_case(t.as_str()))
        .ok_or_else(|| TargetingError::InvalidDeviceType {
            field,
            value: v.clone(),
        })?;
        set |= device_bit(t);
    }
    Ok(DeviceTypes(set))
}

fn ip_net(field: &'static str, value: &str) -> Result<IpNet, TargetingError> {
    let trimmed = value.trim();
    trimmed
        .parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|e| trimmed.parse::<IpAddr>().map(IpNet::from).map_err(|_| e))
        .map_err(|e| TargetingError::InvalidCidr {
            field,
            value: value.to_owned(),
            reason: e.to_string(),
        })
}

fn field_name(name: &'static str, include: bool) -> &'static str {
    macro_rules! pick {
        ($($n:literal),*) => {
            match (name, include) {
                $(($n, true) => concat!($n, ".include"), ($n, false) => concat!($n, ".exclude"),)*
                _ => name,
            }
        };
    }
    pick!(
        "countries",
        "os",
        "regions",
        "cities",
        "device_types",
        "browsers",
        "languages",
        "isps",
        "carriers",
        "asns",
        "connection_types",
        "ip_ranges"
    )
}
