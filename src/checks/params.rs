//! The parameters every third-party check accepts in `optimization_rules.params`,
//! beside its own: `mode`, `on_error` and `timeout_ms`.

use std::time::Duration;

use serde::Deserialize;

/// What a refusal does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A refusal discards the hit on this offer.
    #[default]
    Enforce,
    /// The verdict is recorded on the hit, which goes on as if the check passed:
    /// for trying a provider out before trusting it.
    Monitor,
}

/// What a check without an answer (timeout, provider down, breaker open,
/// garbage) counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The hit passes: the provider's trouble must not stop the traffic.
    Open,
    /// The hit is refused: nothing goes through unchecked.
    Closed,
}

/// The common part of a check rule's settings, resolved with the rule's own
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommonParams {
    pub mode: Mode,
    pub on_error: OnError,
    /// The whole call, connect to last body byte.
    pub timeout: Duration,
}

/// A rule's defaults for the common parameters (documented in docs/RULES.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    pub on_error: OnError,
    pub timeout: Duration,
}

/// A check call must stay in the tens of milliseconds: it holds the redirect.
pub const MAX_TIMEOUT: Duration = Duration::from_millis(1_000);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommon {
    mode: Option<Mode>,
    on_error: Option<OnError>,
    timeout_ms: Option<u64>,
}

impl CommonParams {
    /// Splits `params` (a JSON object) into the common parameters and the rest,
    /// which the rule parses itself (with `deny_unknown_fields`, so a typo is
    /// refused at load rather than silently ignored).
    pub fn split(
        params: &serde_json::Value,
        defaults: Defaults,
    ) -> Result<(Self, serde_json::Value), String> {
        let mut rest = match params {
            serde_json::Value::Object(map) => map.clone(),
            serde_json::Value::Null => serde_json::Map::new(),
            _ => return Err("params must be a JSON object".into()),
        };
        let mut common = serde_json::Map::new();
        for key in ["mode", "on_error", "timeout_ms"] {
            if let Some(value) = rest.remove(key) {
                common.insert(key.to_owned(), value);
            }
        }
        let raw: RawCommon =
            serde_json::from_value(serde_json::Value::Object(common)).map_err(|e| e.to_string())?;
        let timeout = match raw.timeout_ms {
            None => defaults.timeout,
            Some(0) => return Err("timeout_ms must be > 0".into()),
            Some(ms) if Duration::from_millis(ms) > MAX_TIMEOUT => {
                return Err(format!(
                    "timeout_ms must be at most {} (it holds the redirect)",
                    MAX_TIMEOUT.as_millis()
                ));
            }
            Some(ms) => Duration::from_millis(ms),
        };
        Ok((
            Self {
                mode: raw.mode.unwrap_or_default(),
                on_error: raw.on_error.unwrap_or(defaults.on_error),
                timeout,
            },
            serde_json::Value::Object(rest),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEFAULTS: Defaults = Defaults {
        on_error: OnError::Open,
        timeout: Duration::from_millis(50),
    };

    #[test]
    fn common_params_default_per_rule_and_leave_the_rest() {
        let (common, rest) = CommonParams::split(&json!({ "url": "x" }), DEFAULTS).unwrap();
        assert_eq!(common.mode, Mode::Enforce);
        assert_eq!(common.on_error, OnError::Open);
        assert_eq!(common.timeout, Duration::from_millis(50));
        assert_eq!(rest, json!({ "url": "x" }));
        let (common, rest) = CommonParams::split(
            &json!({ "mode": "monitor", "on_error": "closed", "timeout_ms": 20 }),
            DEFAULTS,
        )
        .unwrap();
        assert_eq!(common.mode, Mode::Monitor);
        assert_eq!(common.on_error, OnError::Closed);
        assert_eq!(common.timeout, Duration::from_millis(20));
        assert_eq!(rest, json!({}));
    }

    #[test]
    fn bad_common_params_are_refused() {
        for params in [
            json!({ "mode": "loud" }),
            json!({ "on_error": "maybe" }),
            json!({ "timeout_ms": 0 }),
            json!({ "timeout_ms": 60000 }),
            json!([1]),
        ] {
            assert!(CommonParams::split(&params, DEFAULTS).is_err(), "{params}");
        }
    }
}
