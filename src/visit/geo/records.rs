//! The few fields we read from each database, borrowed from the file.
//!
//! `maxminddb::geoip2::City` decodes every language's names and the location;
//! decoding only what `GeoInfo` needs keeps a City lookup well under a microsecond.

use std::fmt;

use serde::Deserialize;
use serde::de::{IgnoredAny, SeqAccess, Visitor};

#[derive(Deserialize, Default)]
pub(super) struct IsoCode<'a> {
    #[serde(default)]
    pub iso_code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub(super) struct EnglishName<'a> {
    #[serde(default)]
    pub en: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub(super) struct Named<'a> {
    #[serde(borrow, default)]
    pub names: EnglishName<'a>,
}

#[derive(Deserialize)]
pub(super) struct City<'a> {
    #[serde(borrow, default)]
    pub country: IsoCode<'a>,
    /// Only the first (largest) subdivision: the state or region, the level
    /// campaigns target; deeper levels (counties) are too fine to be useful.
    #[serde(borrow, default, deserialize_with = "first_only")]
    pub subdivisions: IsoCode<'a>,
    #[serde(borrow, default)]
    pub city: Named<'a>,
}

#[derive(Deserialize)]
pub(super) struct AnonymousIp {
    #[serde(default)]
    pub is_anonymous_vpn: bool,
    #[serde(default)]
    pub is_public_proxy: bool,
    #[serde(default)]
    pub is_tor_exit_node: bool,
    #[serde(default)]
    pub is_hosting_provider: bool,
    #[serde(default)]
    pub is_residential_proxy: bool,
}

#[derive(Deserialize)]
pub(super) struct Isp<'a> {
    #[serde(default)]
    pub isp: Option<&'a str>,
    #[serde(default)]
    pub organization: Option<&'a str>,
    #[serde(default)]
    pub autonomous_system_number: Option<u32>,
    #[serde(default)]
    pub mobile_country_code: Option<&'a str>,
}

#[derive(Deserialize)]
pub(super) struct Asn<'a> {
    #[serde(default)]
    pub autonomous_system_number: Option<u32>,
    #[serde(default)]
    pub autonomous_system_organization: Option<&'a str>,
}

#[derive(Deserialize)]
pub(super) struct ConnectionType<'a> {
    #[serde(default)]
    pub connection_type: Option<&'a str>,
}

/// Decodes the first element of a list and skips the rest, so no `Vec` is
/// allocated per lookup.
fn first_only<'de, D>(deserializer: D) -> Result<IsoCode<'de>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct First;
    impl<'de> Visitor<'de> for First {
        type Value = IsoCode<'de>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of subdivisions")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let first = seq.next_element::<IsoCode<'de>>()?.unwrap_or_default();
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(first)
        }
    }
    deserializer.deserialize_seq(First)
}
