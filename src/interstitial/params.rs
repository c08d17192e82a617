//! The parameters of the three browser-side rules, from
//! `optimization_rules.params`, checked when the snapshot loads.

use std::time::Duration;

use serde::Deserialize;

use crate::checks::OnError;
use crate::checks::params::{CommonParams, Defaults};
use crate::rules::RuleCode;

/// One browser-side check, configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserCheck {
    /// `AdscoreInit(zone, ..)` from `script_url`; the signature verified
    /// against `SWITCHYARD_ADSCORE_RESPONSE_KEY`, no older than `max_age`.
    Adscore {
        zone: String,
        script_url: String,
        max_age: Duration,
    },
    /// Anura Script's `request.js` for `instance` (public: every page shows
    /// it); the response id looked up at `result_url` within `timeout_ms`.
    Anura {
        instance: u64,
        script_url: String,
        result_url: String,
        discard_warn: bool,
    },
    /// The page times a fetch of `probe_url`; above `threshold` discards.
    Latency {
        probe_url: String,
        threshold: Duration,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserCheckParams {
    pub check: BrowserCheck,
    /// `timeout_ms` only matters to `ANURA_SCRIPT`, whose lookup is the one call.
    pub common: CommonParams,
}

pub const ADSCORE_SCRIPT_URL: &str = "https://c.adsco.re/";
pub const ANURA_SCRIPT_URL: &str = "https://script.anura.io/request.js";
pub const ANURA_RESULT_URL: &str = "https://script.anura.io/result.json";
/// Adscore's own libraries refuse signatures older than this by default.
const ADSCORE_MAX_AGE_SECONDS: u64 = 60;

/// A fraud screen that is down must not stop the traffic.
const SCREEN_DEFAULTS: Defaults = Defaults {
    on_error: OnError::Open,
    timeout: Duration::from_millis(80),
};
/// Without a measurement nothing shows the latency is below the threshold.
const LATENCY_DEFAULTS: Defaults = Defaults {
    on_error: OnError::Closed,
    timeout: Duration::from_millis(80),
};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    script_url: Option<String>,
    zone: Option<String>,
    max_age_seconds: Option<u64>,
    instance: Option<u64>,
    result_url: Option<String>,
    discard_warn: Option<bool>,
    probe_url: Option<String>,
    threshold_ms: Option<u64>,
}

/// Whether `code` is one of the rules this module runs.
pub fn is_browser_rule(code: RuleCode) -> bool {
    matches!(
        code,
        RuleCode::AdscoreScript | RuleCode::AnuraScript | RuleCode::ClientSideSearchLatency
    )
}

/// The rule's parameters, or why they are refused.
pub fn parse(code: RuleCode, params: &serde_json::Value) -> Result<BrowserCheckParams, String> {
    let defaults = match code {
        RuleCode::ClientSideSearchLatency => LATENCY_DEFAULTS,
        _ => SCREEN_DEFAULTS,
    };
    if code != RuleCode::AnuraScript && params.get("timeout_ms").is_some() {
        return Err(format!(
            "{code} makes no server-side call: timeout_ms does not apply"
        ));
    }
    let (common, rest) = CommonParams::split(params, defaults)?;
    let raw: Raw = serde_json::from_value(rest).map_err(|e| e.to_string())?;
    let url =
        |value: Option<String>, default: Option<&str>, name: &str| -> Result<String, String> {
            let value = value
                .or_else(|| default.map(str::to_owned))
                .ok_or_else(|| format!("needs {name}"))?;
            match url::Url::parse(&value) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(value),
                _ => Err(format!("{name} must be an http(s) URL")),
            }
        };
    let check = match code {
        RuleCode::AdscoreScript => {
            let zone = raw
                .zone
                .filter(|z| !z.is_empty() && z.len() <= 200)
                .ok_or("needs zone (the zone's public key for AdscoreInit)")?;
            let max_age = raw.max_age_seconds.unwrap_or(ADSCORE_MAX_AGE_SECONDS);
            if max_age == 0 {
                return Err("max_age_seconds must be > 0".into());
            }
            BrowserCheck::Adscore {
                zone,
                script_url: url(raw.script_url, Some(ADSCORE_SCRIPT_URL), "script_url")?,
                max_age: Duration::from_secs(max_age),
            }
        }
        RuleCode::AnuraScript => {
            let instance = raw.instance.ok_or("needs instance")?;
            BrowserCheck::Anura {
                instance,
                script_url: url(raw.script_url, Some(ANURA_SCRIPT_URL), "script_url")?,
                result_url: url(raw.result_url, Some(ANURA_RESULT_URL), "result_url")?,
                discard_warn: raw.discard_warn.unwrap_or(false),
            }
        }
        RuleCode::ClientSideSearchLatency => {
            let threshold = raw
                .threshold_ms
                .filter(|t| *t > 0)
                .ok_or("needs threshold_ms > 0")?;
            BrowserCheck::Latency {
                probe_url: url(raw.probe_url, None, "probe_url")?,
                threshold: Duration::from_millis(threshold),
            }
        }
        other => return Err(format!("{other} is not a browser-side rule")),
    };
    Ok(BrowserCheckParams { check, common })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::checks::Mode;

    #[test]
    fn defaults_fill_what_the_provider_documents() {
        let anura = parse(RuleCode::AnuraScript, &json!({ "instance": 123 })).unwrap();
        assert_eq!(anura.common.mode, Mode::Enforce);
        assert_eq!(anura.common.on_error, OnError::Open);
        assert_eq!(anura.common.timeout, Duration::from_millis(80));
        assert!(matches!(
            anura.check,
            BrowserCheck::Anura { ref result_url, .. } if result_url == ANURA_RESULT_URL
        ));
        let latency = parse(
            RuleCode::ClientSideSearchLatency,
            &json!({ "threshold_ms": 300, "probe_url": "https://search.example/ping", "mode": "monitor" }),
        )
        .unwrap();
        assert_eq!(latency.common.on_error, OnError::Closed);
        assert_eq!(latency.common.mode, Mode::Monitor);
    }

    #[test]
    fn bad_params_are_refused_at_load() {
        let refused = [
            (RuleCode::AdscoreScript, json!({})),
            (
                RuleCode::AdscoreScript,
                json!({ "zone": "z", "timeout_ms": 20 }),
            ),
            (
                RuleCode::AdscoreScript,
                json!({ "zone": "z", "script_url": "javascript:alert(1)" }),
            ),
            (
                RuleCode::AnuraScript,
                json!({ "instance": 1, "timeout_ms": 0 }),
            ),
            (
                RuleCode::AnuraScript,
                json!({ "instance": 1, "on_error": "maybe" }),
            ),
            (
                RuleCode::ClientSideSearchLatency,
                json!({ "threshold_ms": 300 }),
            ),
            (
                RuleCode::ClientSideSearchLatency,
                json!({ "probe_url": "https://s.example/", "threshold_ms": 0 }),
            ),
            (
                RuleCode::AnuraScript,
                json!({ "instance": 1, "color": "blue" }),
            ),
        ];
        for (code, params) in refused {
            assert!(parse(code, &params).is_err(), "{code} {params}");
        }
    }
}
