//! Fills a `Visit` with what the IP, the user agent and `Accept-Language` say.

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use super::Visit;
use super::device::{DeviceDetector, DeviceInfo};
use super::geo::{GeoDatabases, GeoInfo};
use super::language::languages;

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher").finish_non_exhaustive()
    }
}

pub struct Enricher {
    geo: Arc<GeoDatabases>,
    device: Arc<DeviceDetector>,
}

/// The visitor facts derived from one hit, as `switchyard visit` prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisitFacts {
    pub ip: IpAddr,
    pub geo: GeoInfo,
    pub device: DeviceInfo,
    pub languages: Vec<String>,
}

impl Enricher {
    /// `geo` is shared so its reload watcher can hold it too.
    pub fn new(geo: Arc<GeoDatabases>, device: Arc<DeviceDetector>) -> Self {
        Self { geo, device }
    }

    pub fn geo(&self) -> &Arc<GeoDatabases> {
        &self.geo
    }

    pub fn enrich(&self, visit: &mut Visit, accept_language: Option<&str>) {
        visit.geo = self.geo.lookup(visit.ip);
        visit.device = self.device.detect(&visit.user_agent);
        visit.languages = accept_language.map(languages).unwrap_or_default();
    }

    pub fn facts(&self, ip: IpAddr, user_agent: &str, accept_language: Option<&str>) -> VisitFacts {
        VisitFacts {
            ip,
            geo: self.geo.lookup(ip),
            device: self.device.detect(user_agent),
            languages: accept_language.map(languages).unwrap_or_default(),
        }
    }

    /// For `switchyard visit --ip IP --ua UA [--header 'Name: value']...`.
    /// Header names match case-insensitively; repeated `Accept-Language`
    /// headers count as one comma-joined list, as HTTP defines.
    pub fn visit_json(
        &self,
        ip: IpAddr,
        user_agent: &str,
        headers: &[(String, String)],
    ) -> serde_json::Value {
        let accept_language: Vec<&str> = headers
            .iter()
            .filter(|(name, _)| name.trim().eq_ignore_ascii_case("accept-language"))
            .map(|(_, value)| value.trim())
            .collect();
        let accept_language = (!accept_language.is_empty()).then(|| accept_language.join(", "));
        json(&self.facts(ip, user_agent, accept_language.as_deref()))
    }

    /// For bulk checks of a user agent list: one user agent per input line,
    /// one JSON object `{"user_agent": .., "device": ..}` per output line.
    /// Returns the number of lines written. Input that is not UTF-8 is read
    /// lossily rather than stopping the run at one bad line.
    pub fn user_agents_jsonl(
        &self,
        mut input: impl BufRead,
        mut output: impl Write,
    ) -> std::io::Result<usize> {
        #[derive(Serialize)]
        struct Line<'a> {
            user_agent: &'a str,
            device: DeviceInfo,
        }
        let mut raw = Vec::new();
        let mut count = 0;
        while input.read_until(b'\n', &mut raw)? > 0 {
            let text = String::from_utf8_lossy(&raw);
            let user_agent = text.trim_end_matches(['\n', '\r']);
            let line = Line {
                user_agent,
                device: self.device.detect(user_agent),
            };
            serde_json::to_writer(&mut output, &line)?;
            output.write_all(b"\n")?;
            count += 1;
            raw.clear();
        }
        output.flush()?;
        Ok(count)
    }
}

fn json(facts: &VisitFacts) -> serde_json::Value {
    // Plain data with string keys: serialization cannot fail; `Null` would only
    // hide a bug in the types above, which the tests would catch.
    serde_json::to_value(facts).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::LazyLock;

    use super::*;
    use crate::visit::TrackingParams;
    use crate::visit::device::DeviceType;
    use crate::visit::geo::GeoPaths;

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1";

    static ENRICHER: LazyLock<Enricher> = LazyLock::new(|| {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/maxmind");
        let paths = GeoPaths {
            city: Some(data.join("GeoIP2-City-Test.mmdb")),
            anonymous_ip: Some(data.join("GeoIP2-Anonymous-IP-Test.mmdb")),
            isp: Some(data.join("GeoIP2-ISP-Test.mmdb")),
            ..GeoPaths::default()
        };
        Enricher::new(
            Arc::new(GeoDatabases::open(&paths).unwrap()),
            DeviceDetector::shared_embedded().unwrap(),
        )
    });

    #[test]
    fn enrich_fills_geo_device_and_languages() {
        let ip = "81.2.69.160".parse().unwrap();
        let mut visit = Visit::bare(TrackingParams::default(), ip, IPHONE);
        ENRICHER.enrich(&mut visit, Some("en-GB,en;q=0.9,fr;q=0.5"));
        assert_eq!(visit.geo.country.as_deref(), Some("GB"));
        assert!(visit.geo.anonymous.tor_exit);
        assert_eq!(visit.device.device_type, DeviceType::Mobile);
        assert_eq!(visit.languages, ["en", "fr"]);
    }

    #[test]
    fn enrich_without_accept_language_has_no_languages() {
        let ip = "10.0.0.1".parse().unwrap();
        let mut visit = Visit::bare(TrackingParams::default(), ip, "");
        visit.languages = vec!["stale".into()];
        ENRICHER.enrich(&mut visit, None);
        assert!(visit.languages.is_empty());
        assert_eq!(visit.geo, GeoInfo::default());
    }

    #[test]
    fn visit_json_reads_accept_language_from_headers_in_any_case() {
        let headers = vec![
            ("Host".to_owned(), "t.example".to_owned()),
            ("accept-LANGUAGE".to_owned(), "de-DE, de;q=0.9".to_owned()),
            ("Accept-Language".to_owned(), "en;q=0.8".to_owned()),
        ];
        let json = ENRICHER.visit_json("89.160.20.130".parse().unwrap(), IPHONE, &headers);
        assert_eq!(json["ip"], "89.160.20.130");
        assert_eq!(json["geo"]["country"], "SE");
        assert_eq!(json["geo"]["city"], "Linköping");
        assert_eq!(json["device"]["device_type"], "mobile");
        assert_eq!(json["device"]["os_family"], "iOS");
        assert_eq!(json["device"]["os_version"]["major"], "17");
        assert_eq!(json["languages"], serde_json::json!(["de", "en"]));
    }

    #[test]
    fn user_agent_lines_become_json_lines() {
        let input = format!("{IPHONE}\r\ncurl/8.5.0\n\nno newline at end");
        let mut out = Vec::new();
        let n = ENRICHER
            .user_agents_jsonl(input.as_bytes(), &mut out)
            .unwrap();
        assert_eq!(n, 4);
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["user_agent"], IPHONE);
        assert_eq!(lines[0]["device"]["device_type"], "mobile");
        assert_eq!(lines[1]["device"]["device_type"], "bot");
        assert_eq!(lines[2]["user_agent"], "");
        assert_eq!(lines[3]["user_agent"], "no newline at end");
    }
}
