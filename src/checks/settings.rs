//! Each check rule's own parameters, parsed once when the snapshot loads.

use std::time::Duration;

use serde::Deserialize;

use super::params::{CommonParams, Defaults, OnError};
use crate::catalog::url_template::UrlTemplate;
use crate::rules::RuleCode;

/// The rules that call a third party from the redirect path, in the order they
/// run for an offer: cached and cheap first.
pub const CHECKS: [RuleCode; 3] = [
    RuleCode::SearchLatency,
    RuleCode::AdvertiserPrevalidation,
    RuleCode::AnuraDirect,
];

pub fn is_check(code: RuleCode) -> bool {
    CHECKS.contains(&code)
}

/// One check rule row, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSettings {
    pub common: CommonParams,
    pub kind: CheckKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    Prevalidation(Prevalidation),
    AnuraDirect,
    SearchLatency(SearchLatency),
}

/// `ADVERTISER_PREVALIDATION`: the advertiser's check URL and what counts as yes.
#[derive(Debug, Clone, PartialEq)]
pub struct Prevalidation {
    pub url: UrlTemplate,
    pub success: Success,
    /// Answers are kept per expanded URL this long; zero: never kept.
    pub cache_ttl: Duration,
}

/// What the advertiser answers for a visitor it accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Success {
    /// This status code (any 2xx when not configured).
    Status(Option<u16>),
    /// A 2xx whose JSON body has `field` (a dotted path) equal to `equals`.
    JsonField {
        path: Vec<String>,
        equals: serde_json::Value,
    },
}

/// `SEARCH_LATENCY`: the slowest upstream hop that still passes.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchLatency {
    pub max_latency: Duration,
    /// A host's measurement is reused this long; zero: measured on every hit.
    pub cache_ttl: Duration,
}

const PREVALIDATION_DEFAULTS: Defaults = Defaults {
    // Lead generation forwards only what the advertiser confirmed.
    on_error: OnError::Closed,
    timeout: Duration::from_millis(80),
};
const ANURA_DEFAULTS: Defaults = Defaults {
    // A fraud screen that is down must not stop the traffic.
    on_error: OnError::Open,
    timeout: Duration::from_millis(50),
};
const LATENCY_DEFAULTS: Defaults = Defaults {
    on_error: OnError::Open,
    // Replaced by `max_latency_ms`: waiting longer would tell nothing more.
    timeout: Duration::from_millis(50),
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrevalidation {
    url: String,
    success_status: Option<u16>,
    success_field: Option<String>,
    success_value: Option<serde_json::Value>,
    cache_ttl_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnura {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLatency {
    max_latency_ms: u64,
    cache_ttl_seconds: Option<u64>,
}

/// Parses a check rule's params; `Err` is the reason, for the catalog's report.
pub fn parse(code: RuleCode, params: &serde_json::Value) -> Result<CheckSettings, String> {
    let defaults = match code {
        RuleCode::AdvertiserPrevalidation => PREVALIDATION_DEFAULTS,
        RuleCode::AnuraDirect => ANURA_DEFAULTS,
        RuleCode::SearchLatency => LATENCY_DEFAULTS,
        other => return Err(format!("{other} is not a check")),
    };
    if code == RuleCode::SearchLatency && params.get("timeout_ms").is_some() {
        return Err("takes max_latency_ms, which is also how long it waits".into());
    }
    let (mut common, rest) = CommonParams::split(params, defaults)?;
    let kind = match code {
        RuleCode::AdvertiserPrevalidation => {
            let raw: RawPrevalidation = serde_json::from_value(rest).map_err(|e| e.to_string())?;
            let url = UrlTemplate::parse(&raw.url).map_err(|e| format!("url {e}"))?;
            let success = match (raw.success_status, raw.success_field, raw.success_value) {
                (status, None, None) => Success::Status(status),
                (None, Some(field), Some(equals)) if !field.is_empty() => Success::JsonField {
                    path: field.split('.').map(str::to_owned).collect(),
                    equals,
                },
                _ => {
                    return Err(
                        "give success_status, or success_field with success_value, not both".into(),
                    );
                }
            };
            CheckKind::Prevalidation(Prevalidation {
                url,
                success,
                cache_ttl: Duration::from_secs(raw.cache_ttl_seconds.unwrap_or(60)),
            })
        }
        RuleCode::AnuraDirect => {
            let _: RawAnura = serde_json::from_value(rest).map_err(|e| e.to_string())?;
            CheckKind::AnuraDirect
        }
        _ => {
            let raw: RawLatency = serde_json::from_value(rest).map_err(|e| e.to_string())?;
            let max_latency = Duration::from_millis(raw.max_latency_ms);
            if raw.max_latency_ms == 0 || max_latency > super::params::MAX_TIMEOUT {
                return Err(format!(
                    "max_latency_ms must be between 1 and {}",
                    super::params::MAX_TIMEOUT.as_millis()
                ));
            }
            common.timeout = max_latency;
            CheckKind::SearchLatency(SearchLatency {
                max_latency,
                cache_ttl: Duration::from_secs(raw.cache_ttl_seconds.unwrap_or(10)),
            })
        }
    };
    Ok(CheckSettings { common, kind })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_check_reads_its_own_params_beside_the_common_ones() {
        let s = parse(
            RuleCode::AdvertiserPrevalidation,
            &json!({ "url": "https://adv.example/check?ip={ip}", "success_field": "data.ok", "success_value": true, "mode": "monitor" }),
        )
        .unwrap();
        assert_eq!(s.common.on_error, OnError::Closed);
        assert!(matches!(
            s.kind,
            CheckKind::Prevalidation(Prevalidation { success: Success::JsonField { ref path, .. }, .. }) if path == &["data", "ok"]
        ));
        let s = parse(RuleCode::SearchLatency, &json!({ "max_latency_ms": 30 })).unwrap();
        assert_eq!(s.common.timeout, Duration::from_millis(30));
        assert_eq!(
            parse(RuleCode::AnuraDirect, &json!({}))
                .unwrap()
                .common
                .timeout,
            Duration::from_millis(50)
        );
    }

    #[test]
    fn bad_check_params_are_refused() {
        for (code, params) in [
            (RuleCode::AdvertiserPrevalidation, json!({})),
            (
                RuleCode::AdvertiserPrevalidation,
                json!({ "url": "ftp://x/" }),
            ),
            (
                RuleCode::AdvertiserPrevalidation,
                json!({ "url": "https://a.example/", "success_status": 200, "success_field": "x", "success_value": 1 }),
            ),
            (RuleCode::AnuraDirect, json!({ "instance": 1 })),
            (RuleCode::SearchLatency, json!({})),
            (
                RuleCode::SearchLatency,
                json!({ "max_latency_ms": 20, "timeout_ms": 10 }),
            ),
        ] {
            assert!(parse(code, &params).is_err(), "{code} {params}");
        }
    }
}
