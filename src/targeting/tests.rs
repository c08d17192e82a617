//! Behaviour of whole specs: JSON in, visits checked, mismatches reported.

use std::net::IpAddr;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::visit::device::{DeviceType, Version};
use crate::visit::{TrackingParams, Visit};

fn compile(spec: serde_json::Value) -> CompiledTargeting {
    let spec: TargetingSpec = serde_json::from_value(spec).unwrap();
    CompiledTargeting::compile(&spec, chrono_tz::UTC).unwrap()
}

fn compile_err(spec: serde_json::Value) -> String {
    let spec: TargetingSpec = serde_json::from_value(spec).unwrap();
    CompiledTargeting::compile(&spec, chrono_tz::UTC)
        .unwrap_err()
        .to_string()
}

fn version(major: u32, minor: Option<u32>, patch: Option<u32>) -> Version {
    let text = |part: Option<u32>| part.map(|n| n.to_string());
    Version::from_parts(
        Some(&major.to_string()),
        text(minor).as_deref(),
        text(patch).as_deref(),
    )
}

/// A fully known US iPhone visit on a Monday noon UTC.
fn visit() -> Visit {
    let params = TrackingParams::parse("oid=1&affid=2&sub1=fb_123&sub2=&click=abc", true).unwrap();
    let mut v = Visit::bare(params, "203.0.113.7".parse().unwrap(), "ua");
    v.geo.country = Some("US".into());
    v.geo.region = Some("NY".into());
    v.geo.city = Some("New York".into());
    v.geo.isp = Some("Comcast Cable".into());
    v.geo.mobile_carrier = Some("Verizon".into());
    v.geo.asn = Some(7922);
    v.geo.connection_type = Some("cable/dsl".into());
    v.device.os_family = Some("iOS".into());
    v.device.os_version = version(17, Some(1), None);
    v.device.device_type = DeviceType::Mobile;
    v.device.browser_family = Some("Mobile Safari".into());
    v.languages = vec!["en".into(), "fr".into()];
    v
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 15, 12, 0, 0).unwrap()
}

fn check(t: &CompiledTargeting, v: &Visit) -> Result<(), Mismatch> {
    t.check(v, now())
}

fn offer(dimension: &'static str) -> Result<(), Mismatch> {
    Err(Mismatch {
        scope: TargetingScope::Offer,
        dimension,
    })
}

fn advanced(dimension: &'static str) -> Result<(), Mismatch> {
    Err(Mismatch {
        scope: TargetingScope::Advanced,
        dimension,
    })
}

#[test]
fn empty_spec_passes_any_visit_even_fully_unknown() {
    let t = compile(json!({}));
    assert!(t.is_unrestricted());
    assert_eq!(check(&t, &visit()), Ok(()));
    let bare = Visit::bare(TrackingParams::default(), "::1".parse().unwrap(), "");
    assert_eq!(check(&t, &bare), Ok(()));
}

/// Each string dimension: include match, include non-match, exclude match,
/// exclude non-match, and the unknown-value rule on both sides.
#[test]
fn every_name_dimension_includes_excludes_and_treats_unknown_alike() {
    type Clear = fn(&mut Visit);
    let cases: [(&str, &str, &str, TargetingScope, Clear); 9] = [
        ("countries", "us", "CA", TargetingScope::Offer, |v| {
            v.geo.country = None
        }),
        ("os", "IOS", "Android", TargetingScope::Offer, |v| {
            v.device.os_family = None
        }),
        ("regions", "ny", "CA", TargetingScope::Advanced, |v| {
            v.geo.region = None
        }),
        (
            "cities",
            "new york",
            "Boston",
            TargetingScope::Advanced,
            |v| v.geo.city = None,
        ),
        (
            "browsers",
            "mobile safari",
            "Chrome",
            TargetingScope::Advanced,
            |v| v.device.browser_family = None,
        ),
        ("languages", "EN", "fr", TargetingScope::Advanced, |v| {
            v.languages.clear()
        }),
        (
            "isps",
            "COMCAST cable",
            "AT&T",
            TargetingScope::Advanced,
            |v| v.geo.isp = None,
        ),
        (
            "carriers",
            "verizon",
            "T-Mobile",
            TargetingScope::Advanced,
            |v| v.geo.mobile_carrier = None,
        ),
        (
            "connection_types",
            "Cable/DSL",
            "cellular",
            TargetingScope::Advanced,
            |v| v.geo.connection_type = None,
        ),
    ];
    for (dim, matching, other, scope, clear) in cases {
        let fail = Err(Mismatch {
            scope,
            dimension: dim,
        });
        let known = visit();
        let mut unknown = visit();
        clear(&mut unknown);

        let include_hit = compile(json!({ dim: { "include": [other, matching] } }));
        assert_eq!(check(&include_hit, &known), Ok(()), "{dim} include hit");
        assert_eq!(check(&include_hit, &unknown), fail, "{dim} include unknown");

        let include_miss = compile(json!({ dim: { "include": [other] } }));
        assert_eq!(check(&include_miss, &known), fail, "{dim} include miss");

        let exclude_hit = compile(json!({ dim: { "exclude": [matching] } }));
        assert_eq!(check(&exclude_hit, &known), fail, "{dim} exclude hit");
        assert_eq!(
            check(&exclude_hit, &unknown),
            Ok(()),
            "{dim} exclude unknown"
        );

        let exclude_miss = compile(json!({ dim: { "exclude": [other] } }));
        assert_eq!(check(&exclude_miss, &known), Ok(()), "{dim} exclude miss");
    }
}

#[test]
fn exclude_wins_over_include() {
    let t = compile(json!({"countries": {"include": ["US"], "exclude": ["us"]}}));
    assert_eq!(check(&t, &visit()), offer("countries"));
}

#[test]
fn offer_dimensions_are_reported_before_advanced_ones() {
    let t = compile(json!({
        "cities": {"include": ["Paris"]},
        "countries": {"include": ["FR"]}
    }));
    let err = check(&t, &visit()).unwrap_err();
    assert_eq!(err.dimension, "countries");
    assert_eq!(err.rule_code(), "OFFER_TARGETING_MISMATCH");
    let t = compile(json!({"cities": {"include": ["Paris"]}}));
    assert_eq!(
        check(&t, &visit()).unwrap_err().to_string(),
        "ADVANCED_TARGETING_MISMATCH (cities)"
    );
}

#[test]
fn country_qualified_regions_need_the_country_to_match() {
    let t = compile(json!({"regions": {"include": ["us-ny"]}}));
    assert_eq!(check(&t, &visit()), Ok(()));
    let mut ca = visit();
    ca.geo.country = Some("CA".into());
    assert_eq!(check(&t, &ca), advanced("regions"));
    let mut unknown_country = visit();
    unknown_country.geo.country = None;
    assert_eq!(check(&t, &unknown_country), advanced("regions"));
    let t = compile(json!({"regions": {"exclude": ["US-NY"]}}));
    assert_eq!(check(&t, &unknown_country), Ok(()));
    assert_eq!(check(&t, &visit()), advanced("regions"));
}

#[test]
fn language_uses_the_preferred_one_only() {
    let t = compile(json!({"languages": {"include": ["fr"]}}));
    assert_eq!(check(&t, &visit()), advanced("languages"));
}

#[test]
fn device_types_include_and_exclude() {
    let t = compile(json!({"device_types": {"include": ["Mobile", "tablet"]}}));
    assert_eq!(check(&t, &visit()), Ok(()));
    let mut desktop = visit();
    desktop.device.device_type = DeviceType::Desktop;
    assert_eq!(check(&t, &desktop), advanced("device_types"));
    let t = compile(json!({"device_types": {"exclude": ["bot"]}}));
    assert_eq!(check(&t, &visit()), Ok(()));
    let mut bot = visit();
    bot.device.device_type = DeviceType::Bot;
    assert_eq!(check(&t, &bot), advanced("device_types"));
}

#[test]
fn asns_include_exclude_and_unknown() {
    let t = compile(json!({"asns": {"include": [7018, 7922]}}));
    assert_eq!(check(&t, &visit()), Ok(()));
    let mut unknown = visit();
    unknown.geo.asn = None;
    assert_eq!(check(&t, &unknown), advanced("asns"));
    let t = compile(json!({"asns": {"exclude": [7922]}}));
    assert_eq!(check(&t, &visit()), advanced("asns"));
    assert_eq!(check(&t, &unknown), Ok(()));
}

fn ios(major: u32, minor: Option<u32>, patch: Option<u32>) -> Visit {
    let mut v = visit();
    v.device.os_version = version(major, minor, patch);
    v
}

#[test]
fn os_version_min_is_inclusive_and_missing_parts_count_as_zero() {
    let t = compile(json!({"os_versions": [{"os": "ios", "min": "15.2"}]}));
    assert_eq!(check(&t, &ios(15, Some(2), None)), Ok(()));
    assert_eq!(check(&t, &ios(15, Some(2), Some(0))), Ok(()));
    assert_eq!(check(&t, &ios(15, Some(1), Some(9))), offer("os_versions"));
    assert_eq!(check(&t, &ios(16, None, None)), Ok(()));
    assert_eq!(check(&t, &ios(15, None, None)), offer("os_versions"));
}

#[test]
fn os_version_max_is_inclusive() {
    let t = compile(json!({"os_versions": [{"os": "iOS", "min": "15", "max": "16.1"}]}));
    assert_eq!(check(&t, &ios(16, Some(1), None)), Ok(()));
    assert_eq!(check(&t, &ios(16, Some(1), Some(1))), offer("os_versions"));
    assert_eq!(check(&t, &ios(15, None, None)), Ok(()));
    assert_eq!(check(&t, &ios(14, Some(9), None)), offer("os_versions"));
}

#[test]
fn android_14_and_14_0_1_compare_by_patch() {
    let android = |minor, patch| {
        let mut v = visit();
        v.device.os_family = Some("Android".into());
        v.device.os_version = version(14, minor, patch);
        v
    };
    let max_14 = compile(json!({"os_versions": [{"os": "Android", "max": "14"}]}));
    assert_eq!(check(&max_14, &android(None, None)), Ok(()));
    assert_eq!(
        check(&max_14, &android(Some(0), Some(1))),
        offer("os_versions")
    );
    let min_14_0_1 = compile(json!({"os_versions": [{"os": "Android", "min": "14.0.1"}]}));
    assert_eq!(
        check(&min_14_0_1, &android(None, None)),
        offer("os_versions")
    );
    assert_eq!(check(&min_14_0_1, &android(Some(0), Some(1))), Ok(()));
}

#[test]
fn os_version_ranges_only_constrain_their_own_os() {
    let t = compile(json!({"os_versions": [
        {"os": "iOS", "max": "12"},
        {"os": "iOS", "min": "17"},
        {"os": "Android", "min": "10"}
    ]}));
    assert_eq!(check(&t, &ios(17, Some(1), None)), Ok(()));
    assert_eq!(check(&t, &ios(13, None, None)), offer("os_versions"));
    let mut windows = visit();
    windows.device.os_family = Some("Windows".into());
    assert_eq!(check(&t, &windows), Ok(()));
    let mut unknown_os = visit();
    unknown_os.device.os_family = None;
    assert_eq!(check(&t, &unknown_os), Ok(()));
    let mut unknown_version = visit();
    unknown_version.device.os_version = Version::default();
    assert_eq!(check(&t, &unknown_version), offer("os_versions"));
}

fn at_ip(ip: &str) -> Visit {
    let mut v = visit();
    v.ip = ip.parse::<IpAddr>().unwrap();
    v
}

#[test]
fn ip_ranges_cover_ipv4_ipv6_single_addresses_and_mapped_ipv4() {
    let t =
        compile(json!({"ip_ranges": {"exclude": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]}}));
    assert_eq!(check(&t, &at_ip("10.1.2.3")), advanced("ip_ranges"));
    assert_eq!(check(&t, &at_ip("::ffff:10.1.2.3")), advanced("ip_ranges"));
    assert_eq!(check(&t, &at_ip("2001:db8:ffff::1")), advanced("ip_ranges"));
    assert_eq!(check(&t, &at_ip("192.0.2.1")), advanced("ip_ranges"));
    assert_eq!(check(&t, &at_ip("192.0.2.2")), Ok(()));
    assert_eq!(check(&t, &at_ip("2001:db9::1")), Ok(()));
    assert_eq!(check(&t, &at_ip("11.0.0.1")), Ok(()));

    let t = compile(json!({"ip_ranges": {"include": ["2a00:1450::/29"]}}));
    assert_eq!(check(&t, &at_ip("2a00:1450:4001::1")), Ok(()));
    assert_eq!(check(&t, &at_ip("2a00:1460::1")), advanced("ip_ranges"));
    assert_eq!(check(&t, &at_ip("10.0.0.1")), advanced("ip_ranges"));
}

fn param(cond: serde_json::Value) -> CompiledTargeting {
    compile(json!({ "params": [cond] }))
}

#[test]
fn param_equals_in_and_their_case_handling() {
    let eq = param(json!({"name": "sub1", "op": "equals", "value": "fb_123"}));
    assert_eq!(check(&eq, &visit()), Ok(()));
    let eq_case = param(json!({"name": "sub1", "op": "equals", "value": "FB_123"}));
    assert_eq!(check(&eq_case, &visit()), advanced("params"));
    let eq_folded =
        param(json!({"name": "sub1", "op": "equals", "value": "FB_123", "ignore_case": true}));
    assert_eq!(check(&eq_folded, &visit()), Ok(()));

    let within = param(json!({"name": "click", "op": "in", "values": ["x", "abc"]}));
    assert_eq!(check(&within, &visit()), Ok(()));
    let outside = param(json!({"name": "click", "op": "in", "values": ["x", "ABC"]}));
    assert_eq!(check(&outside, &visit()), advanced("params"));
    let folded =
        param(json!({"name": "click", "op": "in", "values": ["ABC"], "ignore_case": true}));
    assert_eq!(check(&folded, &visit()), Ok(()));
}

#[test]
fn param_contains_and_regex() {
    let contains = param(json!({"name": "sub1", "op": "contains", "value": "_12"}));
    assert_eq!(check(&contains, &visit()), Ok(()));
    let absent = param(json!({"name": "sub1", "op": "contains", "value": "FB"}));
    assert_eq!(check(&absent, &visit()), advanced("params"));
    let folded =
        param(json!({"name": "sub1", "op": "contains", "value": "B_1", "ignore_case": true}));
    assert_eq!(check(&folded, &visit()), Ok(()));
    // Special characters are literal for `contains`, even case-insensitively.
    let literal =
        param(json!({"name": "sub1", "op": "contains", "value": ".*", "ignore_case": true}));
    assert_eq!(check(&literal, &visit()), advanced("params"));

    let regex = param(json!({"name": "sub1", "op": "regex", "value": "^fb_\\d+$"}));
    assert_eq!(check(&regex, &visit()), Ok(()));
    let no_match = param(json!({"name": "sub1", "op": "regex", "value": "^tt_"}));
    assert_eq!(check(&no_match, &visit()), advanced("params"));
}

#[test]
fn param_empty_covers_missing_and_blank_values() {
    let empty = |name: &str| param(json!({"name": name, "op": "empty"}));
    assert_eq!(check(&empty("sub2"), &visit()), Ok(())); // `sub2=` in the query
    assert_eq!(check(&empty("sub3"), &visit()), Ok(())); // absent
    assert_eq!(check(&empty("sub1"), &visit()), advanced("params"));
    let mut blank_extra = visit();
    blank_extra
        .params
        .extra
        .push(("zone".into(), String::new()));
    assert_eq!(check(&empty("zone"), &blank_extra), Ok(()));
}

#[test]
fn param_negation_inverts_and_lets_missing_values_pass() {
    let not_empty = param(json!({"name": "sub1", "op": "empty", "negate": true}));
    assert_eq!(check(&not_empty, &visit()), Ok(()));
    let sub3_not_empty = param(json!({"name": "sub3", "op": "empty", "negate": true}));
    assert_eq!(check(&sub3_not_empty, &visit()), advanced("params"));

    let not_fb = param(json!({"name": "sub1", "op": "regex", "value": "^fb_", "negate": true}));
    assert_eq!(check(&not_fb, &visit()), advanced("params"));
    let not_tt = param(json!({"name": "sub1", "op": "contains", "value": "tt", "negate": true}));
    assert_eq!(check(&not_tt, &visit()), Ok(()));
    // Missing values do not match `equals`, so its negation passes them.
    let missing_not_x =
        param(json!({"name": "sub4", "op": "equals", "value": "x", "negate": true}));
    assert_eq!(check(&missing_not_x, &visit()), Ok(()));
    let missing_equals = param(json!({"name": "sub4", "op": "equals", "value": "x"}));
    assert_eq!(check(&missing_equals, &visit()), advanced("params"));
}

#[test]
fn all_param_conditions_must_hold() {
    let t = compile(json!({"params": [
        {"name": "sub1", "op": "regex", "value": "^fb_"},
        {"name": "sub2", "op": "empty", "negate": true}
    ]}));
    assert_eq!(check(&t, &visit()), advanced("params"));
}

#[test]
fn day_parting_uses_the_offer_timezone() {
    let spec: TargetingSpec =
        serde_json::from_value(json!({"day_parting": {"days": ["mon"], "hours": [[20, 24]]}}))
            .unwrap();
    let t = CompiledTargeting::compile(&spec, chrono_tz::America::New_York).unwrap();
    // Tue 01:30 UTC is Mon 20:30 in New York.
    let monday_evening = Utc.with_ymd_and_hms(2024, 1, 16, 1, 30, 0).unwrap();
    assert_eq!(t.check(&visit(), monday_evening), Ok(()));
    // Mon 21:00 UTC is Mon 16:00 in New York: right day, wrong hour.
    let monday_afternoon = Utc.with_ymd_and_hms(2024, 1, 15, 21, 0, 0).unwrap();
    assert_eq!(t.check(&visit(), monday_afternoon), advanced("day_parting"));
    // Tue 05:00 UTC is Tue 00:00 in New York: past local midnight.
    let tuesday = Utc.with_ymd_and_hms(2024, 1, 16, 5, 0, 0).unwrap();
    assert_eq!(t.check(&visit(), tuesday), advanced("day_parting"));
}

#[test]
fn compile_rejects_bad_values_naming_field_and_value() {
    let cases = [
        (
            json!({"countries": {"include": ["USA"]}}),
            "countries.include: `USA`",
        ),
        (
            json!({"countries": {"exclude": ["U1"]}}),
            "countries.exclude: `U1`",
        ),
        (
            json!({"ip_ranges": {"exclude": ["10.0.0.0/33"]}}),
            "ip_ranges.exclude: `10.0.0.0/33`",
        ),
        (
            json!({"ip_ranges": {"include": ["not-an-ip"]}}),
            "ip_ranges.include: `not-an-ip`",
        ),
        (
            json!({"params": [{"name": "sub1", "op": "regex", "value": "(fb"}]}),
            "params: `sub1` has an invalid regex `(fb`",
        ),
        (
            json!({"day_parting": {"hours": [[18, 9]]}}),
            "day_parting.hours: [18, 9]",
        ),
        (
            json!({"day_parting": {"hours": [[0, 25]]}}),
            "day_parting.hours: [0, 25]",
        ),
        (
            json!({"device_types": {"include": ["phone"]}}),
            "device_types.include: `phone`",
        ),
        (
            json!({"languages": {"include": ["en-US"]}}),
            "languages.include: `en-US`",
        ),
        (
            json!({"regions": {"include": ["USA-NY"]}}),
            "regions.include: `USA-NY`",
        ),
        (
            json!({"cities": {"include": [" "]}}),
            "cities.include: empty value",
        ),
        (
            json!({"os_versions": [{"os": "iOS", "min": "15.2.x"}]}),
            "os_versions: `15.2.x`",
        ),
        (
            json!({"params": [{"name": "sub1", "op": "in", "value": "x"}]}),
            "params: `sub1` with op `in` takes no `value`",
        ),
        (
            json!({"params": [{"name": "sub1", "op": "in"}]}),
            "params: `sub1` with op `in` needs a non-empty `values` list",
        ),
        (
            json!({"params": [{"name": "sub1", "op": "equals"}]}),
            "params: `sub1` with op `equals` needs `value`",
        ),
        (
            json!({"params": [{"name": "affid", "op": "empty"}]}),
            "params: `affid` is not available",
        ),
    ];
    for (spec, expected) in cases {
        let message = compile_err(spec.clone());
        assert!(message.starts_with(expected), "{spec}: got `{message}`");
    }
}

#[test]
fn spec_round_trips_through_json_and_reads_from_yaml() {
    let text = r#"{
        "countries": {"include": ["US", "CA"]},
        "os": {"include": ["iOS"]},
        "os_versions": [{"os": "iOS", "min": "15.2"}],
        "device_types": {"exclude": ["bot"]},
        "asns": {"exclude": [64512]},
        "ip_ranges": {"exclude": ["10.0.0.0/8"]},
        "params": [
            {"name": "sub1", "op": "regex", "value": "^fb_"},
            {"name": "sub2", "op": "empty", "negate": true},
            {"name": "source_id", "op": "in", "values": ["a", "b"], "ignore_case": true}
        ],
        "day_parting": {"days": ["mon", "tue"], "hours": [[9, 17]]}
    }"#;
    let spec: TargetingSpec = serde_json::from_str(text).unwrap();
    let back: TargetingSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
    assert_eq!(back, spec);
    // Empty fields are left out, so stored JSON stays as terse as the admin wrote it.
    let value = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        value,
        serde_json::from_str::<serde_json::Value>(text).unwrap()
    );
    assert_eq!(
        serde_json::to_string(&TargetingSpec::default()).unwrap(),
        "{}"
    );

    let yaml = "countries:\n  include: [US, CA]\nday_parting:\n  hours: [[9, 17]]\n";
    let from_yaml: TargetingSpec = serde_yaml_ng::from_str(yaml).unwrap();
    assert_eq!(from_yaml.countries.include, ["US", "CA"]);
    assert_eq!(from_yaml.day_parting.unwrap().hours, [[9, 17]]);
}

#[test]
fn spec_refuses_unknown_fields_at_every_level() {
    for text in [
        r#"{"country": {"include": ["US"]}}"#,
        r#"{"countries": {"includes": ["US"]}}"#,
        r#"{"params": [{"name": "sub1", "op": "empty", "negated": true}]}"#,
        r#"{"day_parting": {"hour": [[9, 17]]}}"#,
        r#"{"os_versions": [{"os": "iOS", "minimum": "15"}]}"#,
        r#"{"params": [{"name": "sub1", "op": "startswith", "value": "x"}]}"#,
    ] {
        let err = serde_json::from_str::<TargetingSpec>(text);
        assert!(err.is_err(), "{text}");
    }
    let err = serde_json::from_str::<TargetingSpec>(r#"{"country": {}}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `country`"), "{err}");
}

fn windows(major: &str, minor: Option<&str>) -> Visit {
    let mut v = visit();
    v.device.os_family = Some("Windows".into());
    v.device.os_version = Version::from_parts(Some(major), minor, None);
    v
}

#[test]
fn os_names_a_word_version_after_the_family() {
    let xp_only = compile(json!({"os": {"include": ["windows xp"]}}));
    assert_eq!(check(&xp_only, &windows("XP", None)), Ok(()));
    assert_eq!(check(&xp_only, &windows("Vista", None)), offer("os"));
    assert_eq!(check(&xp_only, &windows("10", None)), offer("os"));
    assert_eq!(check(&xp_only, &visit()), offer("os"));

    let no_old_windows = compile(json!({"os": {"exclude": ["Windows XP", "Windows RT 8.1"]}}));
    assert_eq!(check(&no_old_windows, &windows("XP", None)), offer("os"));
    assert_eq!(
        check(&no_old_windows, &windows("RT 8", Some("1"))),
        offer("os")
    );
    assert_eq!(check(&no_old_windows, &windows("RT", None)), Ok(()));
    assert_eq!(check(&no_old_windows, &windows("10", None)), Ok(()));
}

#[test]
fn os_version_prefixes_match_whole_parts_only() {
    let ios_17 = compile(json!({"os": {"include": ["iOS 17"]}}));
    assert_eq!(check(&ios_17, &ios(17, Some(1), None)), Ok(()));
    assert_eq!(check(&ios_17, &ios(16, None, None)), offer("os"));
    let ios_1 = compile(json!({"os": {"include": ["iOS 1", "iOS 17.2"]}}));
    assert_eq!(check(&ios_1, &ios(17, Some(1), None)), offer("os"));
    assert_eq!(check(&ios_1, &ios(17, Some(2), Some(3))), Ok(()));
    // The family alone still selects every version, word or number.
    let any_windows = compile(json!({"os": {"include": ["Windows"]}}));
    assert_eq!(check(&any_windows, &windows("XP", None)), Ok(()));
}

#[test]
fn word_versions_are_in_no_numeric_range_but_dotted_majors_are() {
    let t = compile(json!({"os_versions": [{"os": "Windows", "min": "8"}]}));
    assert_eq!(check(&t, &windows("XP", None)), offer("os_versions"));
    assert_eq!(check(&t, &windows("8.1", None)), Ok(()));
    assert_eq!(check(&t, &windows("3.1", None)), offer("os_versions"));
    let upto_8 = compile(json!({"os_versions": [{"os": "Windows", "max": "8"}]}));
    assert_eq!(check(&upto_8, &windows("8.1", None)), offer("os_versions"));
}
