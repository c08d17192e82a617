//! Cost of one targeting check on the hot path: a realistic offer whose visit
//! passes every dimension, so every dimension is evaluated.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::targeting::{CompiledTargeting, TargetingSpec};
use switchyard::visit::device::{DeviceType, Version};
use switchyard::visit::{TrackingParams, Visit};

const SPEC: &str = r#"{
    "countries": {"include": ["US", "CA", "GB", "DE", "FR", "AU", "NZ", "IE", "NL", "SE"]},
    "os": {"include": ["iOS", "Android"]},
    "os_versions": [{"os": "iOS", "min": "15.2"}, {"os": "Android", "min": "10"}],
    "device_types": {"include": ["mobile", "tablet"]},
    "ip_ranges": {"exclude": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "2001:db8::/32"]},
    "params": [
        {"name": "sub1", "op": "regex", "value": "^fb_[0-9]+$"},
        {"name": "source_id", "op": "empty", "negate": true}
    ],
    "day_parting": {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": [[8, 22]]}
}"#;

fn passing_visit() -> Option<Visit> {
    let params = TrackingParams::parse("oid=1&affid=2&sub1=fb_123456&source_id=s42", true).ok()?;
    let mut visit = Visit::bare(params, "203.0.113.7".parse().ok()?, "Mozilla/5.0");
    visit.geo.country = Some("NL".into());
    visit.device.os_family = Some("iOS".into());
    visit.device.os_version = Version::from_parts(Some("17"), Some("4"), None);
    visit.device.device_type = DeviceType::Mobile;
    Some(visit)
}

fn bench(c: &mut Criterion) {
    let spec: TargetingSpec = serde_json::from_str(SPEC).expect("bench spec parses");
    let targeting = CompiledTargeting::compile(&spec, chrono_tz::America::New_York)
        .expect("bench spec compiles");
    let visit = passing_visit().expect("bench visit builds");
    // Wednesday 15:00 UTC = 10:00 or 11:00 in New York: inside the schedule.
    let now = Utc
        .with_ymd_and_hms(2024, 5, 15, 15, 0, 0)
        .single()
        .expect("valid instant");
    assert_eq!(
        targeting.check(&visit, now),
        Ok(()),
        "bench visit must pass"
    );

    c.bench_function("targeting_check_passing_visit", |b| {
        b.iter(|| black_box(&targeting).check(black_box(&visit), black_box(now)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
