//! Checked against the JSON sources the MaxMind test databases were built from.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde_json::Value;

use super::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/maxmind")
        .join(name)
}

fn only(set: impl FnOnce(&mut GeoPaths, PathBuf), name: &str) -> GeoDatabases {
    let mut paths = GeoPaths::default();
    set(&mut paths, data(name));
    GeoDatabases::open(&paths).unwrap()
}

/// Every (network, record) of a source file, with the address to look up:
/// IPv4 networks written as `::a.b.c.d/n` are asked as plain IPv4, as clients are.
fn source(name: &str) -> Vec<(IpAddr, Value)> {
    let text = std::fs::read_to_string(data(name)).unwrap();
    let entries: Vec<serde_json::Map<String, Value>> = serde_json::from_str(&text).unwrap();
    entries
        .into_iter()
        .flatten()
        .map(|(net, record)| {
            let net: IpNet = net.parse().unwrap();
            let ip = match net {
                IpNet::V6(v6) if v6.prefix_len() >= 96 && v6.addr().segments()[..6] == [0; 6] => {
                    let o = v6.addr().octets();
                    IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
                }
                other => other.network(),
            };
            (ip, record)
        })
        .collect()
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

#[test]
fn city_answers_match_the_source_for_every_network() {
    let dbs = only(|p, f| p.city = Some(f), "GeoIP2-City-Test.mmdb");
    let networks = source("GeoIP2-City-Test.json");
    assert!(networks.iter().filter(|(ip, _)| ip.is_ipv6()).count() > 100);
    for (ip, want) in networks {
        let geo = dbs.lookup(ip);
        assert_eq!(geo.country, text(&want, &["country", "iso_code"]), "{ip}");
        let first_subdivision = want.get("subdivisions").and_then(|s| s.get(0));
        assert_eq!(
            geo.region,
            first_subdivision.and_then(|s| text(s, &["iso_code"])),
            "{ip}"
        );
        assert_eq!(geo.city, text(&want, &["city", "names", "en"]), "{ip}");
    }
}

#[test]
fn city_fields_for_known_ipv4_and_ipv6_clients() {
    let dbs = only(|p, f| p.city = Some(f), "GeoIP2-City-Test.mmdb");
    let se = dbs.lookup("89.160.20.130".parse().unwrap());
    assert_eq!(se.country.as_deref(), Some("SE"));
    assert_eq!(se.region.as_deref(), Some("E"));
    assert_eq!(se.city.as_deref(), Some("Linköping"));
    // Two subdivisions (England, West Berkshire): the region is the first.
    let gb = dbs.lookup("2.2.3.1".parse().unwrap());
    assert_eq!(gb.region.as_deref(), Some("ENG"));
    let cz = dbs.lookup("2a02:d280::1".parse().unwrap());
    assert_eq!(cz.country.as_deref(), Some("CZ"));
    assert_eq!(cz.city, None);
}

#[test]
fn ipv4_mapped_ipv6_client_gets_the_ipv4_answer() {
    let dbs = only(|p, f| p.city = Some(f), "GeoIP2-City-Test.mmdb");
    let mapped = dbs.lookup("::ffff:89.160.20.130".parse().unwrap());
    assert_eq!(mapped.city.as_deref(), Some("Linköping"));
}

#[test]
fn anonymous_ip_flags_match_the_source() {
    let dbs = only(
        |p, f| p.anonymous_ip = Some(f),
        "GeoIP2-Anonymous-IP-Test.mmdb",
    );
    let networks = source("GeoIP2-Anonymous-IP-Test.json");
    assert!(networks.iter().any(|(ip, _)| ip.is_ipv6()));
    for (ip, want) in networks {
        let got = dbs.lookup(ip).anonymous;
        let expected = AnonymousIp {
            vpn: flag(&want, "is_anonymous_vpn"),
            public_proxy: flag(&want, "is_public_proxy"),
            tor_exit: flag(&want, "is_tor_exit_node"),
            hosting: flag(&want, "is_hosting_provider"),
            residential_proxy: flag(&want, "is_residential_proxy"),
        };
        assert_eq!(got, expected, "{ip}");
    }
    assert!(dbs.lookup("81.2.69.1".parse().unwrap()).anonymous.tor_exit);
}

#[test]
fn isp_fields_match_the_source() {
    let dbs = only(|p, f| p.isp = Some(f), "GeoIP2-ISP-Test.mmdb");
    for (ip, want) in source("GeoIP2-ISP-Test.json") {
        let geo = dbs.lookup(ip);
        assert_eq!(geo.isp, text(&want, &["isp"]), "{ip}");
        assert_eq!(geo.organization, text(&want, &["organization"]), "{ip}");
        let asn = want["autonomous_system_number"].as_u64().map(|n| n as u32);
        assert_eq!(geo.asn, asn, "{ip}");
        let carrier = want
            .get("mobile_country_code")
            .and(text(&want, &["isp"]).or(text(&want, &["organization"])));
        assert_eq!(geo.mobile_carrier, carrier, "{ip}");
    }
}

#[test]
fn mobile_network_names_its_carrier() {
    let dbs = only(|p, f| p.isp = Some(f), "GeoIP2-ISP-Test.mmdb");
    let (ip, _) = source("GeoIP2-ISP-Test.json")
        .into_iter()
        .find(|(_, r)| r.get("mobile_country_code").is_some())
        .unwrap();
    assert_eq!(
        dbs.lookup(ip).mobile_carrier.as_deref(),
        Some("Verizon Wireless")
    );
}

#[test]
fn asn_database_fills_asn_and_organization_without_an_isp_database() {
    let dbs = only(|p, f| p.asn = Some(f), "GeoLite2-ASN-Test.mmdb");
    let networks = source("GeoLite2-ASN-Test.json");
    assert!(networks.iter().any(|(ip, _)| ip.is_ipv6()));
    for (ip, want) in networks {
        let geo = dbs.lookup(ip);
        let asn = want["autonomous_system_number"].as_u64().map(|n| n as u32);
        assert_eq!(geo.asn, asn, "{ip}");
        assert_eq!(
            geo.organization,
            text(&want, &["autonomous_system_organization"]),
            "{ip}"
        );
        assert_eq!(geo.isp, None);
    }
}

#[test]
fn connection_type_is_lowercase_and_matches_the_source() {
    let dbs = only(
        |p, f| p.connection_type = Some(f),
        "GeoIP2-Connection-Type-Test.mmdb",
    );
    for (ip, want) in source("GeoIP2-Connection-Type-Test.json") {
        let expected = text(&want, &["connection_type"]).map(|c| c.to_lowercase());
        assert_eq!(dbs.lookup(ip).connection_type, expected, "{ip}");
    }
    let cellular = dbs.lookup("1.0.1.1".parse().unwrap());
    assert_eq!(cellular.connection_type.as_deref(), Some("cellular"));
}

fn all() -> GeoPaths {
    GeoPaths {
        city: Some(data("GeoIP2-City-Test.mmdb")),
        anonymous_ip: Some(data("GeoIP2-Anonymous-IP-Test.mmdb")),
        isp: Some(data("GeoIP2-ISP-Test.mmdb")),
        asn: Some(data("GeoLite2-ASN-Test.mmdb")),
        connection_type: Some(data("GeoIP2-Connection-Type-Test.mmdb")),
    }
}

#[test]
fn unknown_ip_is_all_unknown_not_an_error() {
    let dbs = GeoDatabases::open(&all()).unwrap();
    for ip in ["10.1.2.3", "192.0.2.1", "2001:db8::1", "::1"] {
        assert_eq!(dbs.lookup(ip.parse().unwrap()), GeoInfo::default(), "{ip}");
    }
}

#[test]
fn all_databases_together_fill_every_field() {
    let dbs = GeoDatabases::open(&all()).unwrap();
    let geo = dbs.lookup("81.2.69.160".parse().unwrap());
    assert_eq!(geo.country.as_deref(), Some("GB"));
    assert!(geo.anonymous.any());
    // Telstra: in the ISP database with its ASN.
    let au = dbs.lookup("1.128.0.1".parse().unwrap());
    assert_eq!(au.isp.as_deref(), Some("Telstra Internet"));
    assert_eq!(au.asn, Some(1221));
}

#[test]
fn no_databases_answer_unknown() {
    let geo = GeoDatabases::none().lookup("81.2.69.160".parse().unwrap());
    assert_eq!(geo, GeoInfo::default());
}

#[test]
fn missing_database_file_is_unknown_not_an_error() {
    let paths = GeoPaths {
        city: Some(data("no-such-file.mmdb")),
        ..GeoPaths::default()
    };
    let dbs = GeoDatabases::open(&paths).unwrap();
    assert_eq!(dbs.lookup("81.2.69.160".parse().unwrap()).country, None);
}

#[test]
fn corrupt_city_database_is_refused_naming_the_file() {
    for name in [
        "GeoIP2-City-Test-Broken-Double-Format.mmdb",
        "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
    ] {
        let paths = GeoPaths {
            city: Some(data(name)),
            ..GeoPaths::default()
        };
        let err = GeoDatabases::open(&paths).err().unwrap();
        assert!(matches!(err, GeoError::Corrupt { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn database_of_the_wrong_kind_is_refused() {
    let paths = GeoPaths {
        isp: Some(data("GeoIP2-City-Test.mmdb")),
        ..GeoPaths::default()
    };
    let err = GeoDatabases::open(&paths).err().unwrap();
    assert!(
        matches!(
            err,
            GeoError::WrongType {
                expected: "ISP",
                ..
            }
        ),
        "{err}"
    );
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("switchyard-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Replaces `to` the way deploy tools do: write aside, then rename over.
fn install(from: &str, to: &Path) {
    let tmp = to.with_extension("tmp");
    std::fs::copy(data(from), &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[test]
fn database_replaced_on_disk_is_picked_up_by_reload() {
    let dir = TempDir::new("geo-reload");
    let path = dir.0.join("city.mmdb");
    // 214.0.0.0/24 is in the GeoIP2 test database only.
    let singapore: IpAddr = "214.0.0.1".parse().unwrap();
    install("GeoLite2-City-Test.mmdb", &path);
    let dbs = GeoDatabases::open(&GeoPaths {
        city: Some(path.clone()),
        ..GeoPaths::default()
    })
    .unwrap();
    assert_eq!(dbs.lookup(singapore).country, None);
    assert!(dbs.reload_changed().is_empty(), "nothing changed yet");

    install("GeoIP2-City-Test.mmdb", &path);
    let reloaded = dbs.reload_changed();
    assert_eq!(reloaded.len(), 1);
    assert_eq!(reloaded[0].0, path);
    assert!(reloaded[0].1.is_ok());
    assert_eq!(dbs.lookup(singapore).country.as_deref(), Some("SG"));
    assert!(dbs.reload_changed().is_empty(), "reloaded once only");
}

#[test]
fn broken_replacement_keeps_the_previous_database() {
    let dir = TempDir::new("geo-broken");
    let path = dir.0.join("city.mmdb");
    install("GeoIP2-City-Test.mmdb", &path);
    let dbs = GeoDatabases::open(&GeoPaths {
        city: Some(path.clone()),
        ..GeoPaths::default()
    })
    .unwrap();

    install("GeoIP2-City-Test-Invalid-Node-Count.mmdb", &path);
    let reloaded = dbs.reload_changed();
    assert!(matches!(reloaded[..], [(_, Err(GeoError::Corrupt { .. }))]));
    let ip = "214.0.0.1".parse().unwrap();
    assert_eq!(dbs.lookup(ip).country.as_deref(), Some("SG"));
    assert!(
        dbs.reload_changed().is_empty(),
        "a broken file is reported once"
    );

    install("GeoIP2-City-Test.mmdb", &path);
    assert!(matches!(dbs.reload_changed()[..], [(_, Ok(()))]));
}

#[test]
fn database_appearing_after_start_is_picked_up() {
    let dir = TempDir::new("geo-appear");
    let path = dir.0.join("city.mmdb");
    let dbs = GeoDatabases::open(&GeoPaths {
        city: Some(path.clone()),
        ..GeoPaths::default()
    })
    .unwrap();
    assert!(dbs.reload_changed().is_empty());
    install("GeoIP2-City-Test.mmdb", &path);
    assert!(matches!(dbs.reload_changed()[..], [(_, Ok(()))]));
    assert_eq!(
        dbs.lookup("214.0.0.1".parse().unwrap()).country.as_deref(),
        Some("SG")
    );
}

#[tokio::test]
async fn watcher_swaps_a_replaced_database() {
    let dir = TempDir::new("geo-watch");
    let path = dir.0.join("city.mmdb");
    let dbs = Arc::new(
        GeoDatabases::open(&GeoPaths {
            city: Some(path.clone()),
            ..GeoPaths::default()
        })
        .unwrap(),
    );
    let watcher = Arc::clone(&dbs).spawn_watcher(Duration::from_millis(10));
    install("GeoIP2-City-Test.mmdb", &path);
    let ip = "214.0.0.1".parse().unwrap();
    for _ in 0..500 {
        if dbs.lookup(ip).country.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    watcher.abort();
    assert_eq!(dbs.lookup(ip).country.as_deref(), Some("SG"));
}
