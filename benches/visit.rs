//! Cost of enriching one hit: GeoIP (City + Anonymous-IP + ISP) and user agent,
//! with the user agent cached (the common case) and not (a new user agent).

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::visit::device::DeviceDetector;
use switchyard::visit::enrich::Enricher;
use switchyard::visit::geo::{GeoDatabases, GeoPaths};
use switchyard::visit::{TrackingParams, Visit};

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
];

/// Addresses with data in all three test databases' neighbourhoods, v4 and v6.
const IPS: [&str; 4] = ["81.2.69.160", "89.160.20.130", "1.128.0.1", "2001:218::1"];

fn enricher() -> Enricher {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/maxmind");
    let paths = GeoPaths {
        city: Some(data.join("GeoIP2-City-Test.mmdb")),
        anonymous_ip: Some(data.join("GeoIP2-Anonymous-IP-Test.mmdb")),
        isp: Some(data.join("GeoIP2-ISP-Test.mmdb")),
        ..GeoPaths::default()
    };
    let geo = GeoDatabases::open(&paths).expect("test databases open");
    let started = Instant::now();
    let device = DeviceDetector::embedded().expect("embedded regexes compile");
    eprintln!(
        "embedded uap-core regexes parsed and compiled in {:?}",
        started.elapsed()
    );
    Enricher::new(Arc::new(geo), Arc::new(device))
}

fn enrich(c: &mut Criterion) {
    let enricher = enricher();
    let ips: Vec<IpAddr> = IPS.iter().map(|ip| ip.parse().expect("ip")).collect();
    let mut visits: Vec<Visit> = ips
        .iter()
        .zip(USER_AGENTS)
        .map(|(ip, ua)| Visit::bare(TrackingParams::default(), *ip, ua))
        .collect();
    let lang = Some("en-GB,en;q=0.9,fr;q=0.5");

    let mut i = 0;
    c.bench_function("enrich/cached_ua", |b| {
        b.iter(|| {
            i = (i + 1) % visits.len();
            enricher.enrich(black_box(&mut visits[i]), black_box(lang));
        })
    });

    let mut n = 0u64;
    let mut visit = Visit::bare(TrackingParams::default(), ips[0], "");
    c.bench_function("enrich/new_ua", |b| {
        b.iter(|| {
            n += 1;
            // A build number no cache has seen, on an otherwise real user agent.
            visit.user_agent = Arc::from(format!("{} Build/{n}", USER_AGENTS[n as usize % 4]));
            enricher.enrich(black_box(&mut visit), black_box(lang));
        })
    });

    let mut j = 0;
    c.bench_function("geo/city_anon_isp", |b| {
        b.iter(|| {
            j = (j + 1) % ips.len();
            black_box(enricher.geo().lookup(black_box(ips[j])))
        })
    });
}

criterion_group!(benches, enrich);
criterion_main!(benches);
