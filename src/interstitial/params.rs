//! The parameters of the three browser-side rules, from
//! `optimization_rules.params`, checked when the snapshot loads.

use std::time::Duration;

use serde::Deserialize;

use crate::rules::RuleCode;

/// Whether a failing verdict discards the hit or is only recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Enforce,
    Monitor,
}

/// What a check that could not reach a verdict (provider down or slow, script
/// blocked, no JavaScript) does: let the hit through, or discard it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    Open,
    Closed,
}

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
    /// Anura Script's `request.js` for `instance`; the response id looked up
    /// at `result_url` within `timeout`.
    Anura {
        instance: u64,
        script_url: String,
        result_url: String,
        discard_warn: bool,
        timeout: Duration,
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
    pub mode: Mode,
    pub on_error: OnError,
}

pub const ADSCORE_SCRIPT_URL: &str = "https://c.adsco.re/";
pub const ANURA_SCRIPT_URL: &str = "https://script.anura.io/request.js";
pub const ANURA_RESULT_URL: &str = "https://script.anura.io/result.json";
/// Adscore's own libraries refuse signatures older than this by default.
const ADSCORE_MAX_AGE_SECONDS: u64 = 60;
const ANURA_TIMEOUT_MS: u64 = 80;
/// A lookup slower than this would hold the visitor too long whatever it says.
const MAX_TIMEOUT_MS: u64 = 1_000;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    mode: Option<Mode>,
    on_error: Option<OnError>,
    timeout_ms: Option<u64>,
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
    let raw: Raw = serde_json::from_value(params.clone()).map_err(|e| e.to_string())?;
    let url = |value: Option<String>, default: Option<&str>, name: &str| -> Result<String, String> {
        let value = value
            .or_else(|| default.map(str::to_owned))
            .ok_or_else(|| format!("needs {name}"))?;
        match url::Url::parse(&value) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(value),
            _ => Err(format!("{name} must be an http(s) URL")),
        }
    };
    let refuse_timeout = |code: RuleCode| {
        if raw.timeout_ms.is_some() {
            Err(format!("{code} makes no server-side call: timeout_ms does not apply"))
        } else {
            Ok(())
        }
    };
    let (check, default_on_error) = match code {
        RuleCode::AdscoreScript => {
            refuse_timeout(code)?;
            let zone = raw
                .zone
                .filter(|z| !z.is_empty() && z.len() <= 200)
                .ok_or("needs zone (the zone's public key for AdscoreInit)")?;
            let max_age = raw.max_age_seconds.unwrap_or(ADSCORE_MAX_AGE_SECONDS);
            if max_age == 0 {
                return Err("max_age_seconds must be > 0".into());
            }
            let check = BrowserCheck::Adscore {
                zone,
                script_url: url(raw.script_url, Some(ADSCORE_SCRIPT_URL), "script_url")?,
                max_age: Duration::from_secs(max_age),
            };
            (check, OnError::Open)
        }
        RuleCode::AnuraScript => {
            let instance = raw.instance.ok_or("needs instance")?;
            let timeout = raw.timeout_ms.unwrap_or(ANURA_TIMEOUT_MS);
            if timeout == 0 || timeout > MAX_TIMEOUT_MS {
                return Err(format!("timeout_ms must be 1..={MAX_TIMEOUT_MS}"));
            }
            let check = BrowserCheck::Anura {
                instance,
                script_url: url(raw.script_url, Some(ANURA_SCRIPT_URL), "script_url")?,
                result_url: url(raw.result_url, Some(ANURA_RESULT_URL), "result_url")?,
                discard_warn: raw.discard_warn.unwrap_or(false),
                timeout: Duration::from_millis(timeout),
            };
            (check, OnError::Open)
        }
        RuleCode::ClientSideSearchLatency => {
            refuse_timeout(code)?;
            let threshold = raw
                .threshold_ms
                .filter(|t| *t > 0)
                .ok_or("needs threshold_ms > 0")?;
            let check = BrowserCheck::Latency {
                probe_url: url(raw.probe_url, None, "probe_url")?,
                threshold: Duration::from_millis(threshold),
            };
            // Without a measurement nothing shows the latency is below the threshold.
            (check, OnError::Closed)
        }
        other => return Err(format!("{other} is not a browser-side rule")),
    };
    Ok(BrowserCheckParams {
        check,
        mode: raw.mode.unwrap_or_default(),
        on_error: raw.on_error.unwrap_or(default_on_error),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn defaults_fill_what_the_provider_documents() {
        let anura = parse(RuleCode::AnuraScript, &json!({ "instance": 123 })).unwrap();
        assert_eq!(anura.mode, Mode::Enforce);
        assert_eq!(anura.on_error, OnError::Open);
        assert!(matches!(
            anura.check,
            BrowserCheck::Anura { ref result_url, timeout, .. }
                if result_url == ANURA_RESULT_URL && timeout == Duration::from_millis(80)
        ));
        let latency = parse(
            RuleCode::ClientSideSearchLatency,
            &json!({ "threshold_ms": 300, "probe_url": "https://search.example/ping", "mode": "monitor" }),
        )
        .unwrap();
        assert_eq!(latency.on_error, OnError::Closed);
        assert_eq!(latency.mode, Mode::Monitor);
    }

    #[test]
    fn bad_params_are_refused_at_load() {
        let refused = [
            (RuleCode::AdscoreScript, json!({})),
            (RuleCode::AdscoreScript, json!({ "zone": "z", "timeout_ms": 20 })),
            (RuleCode::AdscoreScript, json!({ "zone": "z", "script_url": "javascript:alert(1)" })),
            (RuleCode::AnuraScript, json!({ "instance": 1, "timeout_ms": 0 })),
            (RuleCode::AnuraScript, json!({ "instance": 1, "on_error": "maybe" })),
            (RuleCode::ClientSideSearchLatency, json!({ "threshold_ms": 300 })),
            (RuleCode::ClientSideSearchLatency, json!({ "probe_url": "https://s.example/", "threshold_ms": 0 })),
            (RuleCode::AnuraScript, json!({ "instance": 1, "color": "blue" })),
        ];
        for (code, params) in refused {
            assert!(parse(code, &params).is_err(), "{code} {params}");
        }
    }
}
