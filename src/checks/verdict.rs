//! What a check said about a hit: the provider's answer, or why there is none,
//! and the verdict recorded with the hit.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::params::{CommonParams, Mode, OnError};
use crate::rules::RuleCode;

/// A provider's answer, in the provider's own word where it has one
/// (`non-suspect`, `suspect`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Pass(&'static str),
    Refuse(&'static str),
}

/// Why a check has no answer. Each counts against the provider's breaker
/// except those that never reached it (`reached_provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckFailure {
    #[error("no answer within the timeout")]
    Timeout,
    #[error("the provider could not be reached or answered with a server error")]
    Unavailable,
    #[error("the provider's answer could not be read")]
    BadAnswer,
    #[error("the provider's breaker is open")]
    BreakerOpen,
    #[error("the hit's time for checks was used up")]
    OverBudget,
    #[error("the check needs settings this server was not given")]
    NotConfigured,
}

impl CheckFailure {
    /// The recorded verdict word.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckFailure::Timeout => "timeout",
            CheckFailure::Unavailable => "unavailable",
            CheckFailure::BadAnswer => "bad_answer",
            CheckFailure::BreakerOpen => "breaker_open",
            CheckFailure::OverBudget => "over_budget",
            CheckFailure::NotConfigured => "not_configured",
        }
    }

    /// Whether the provider was really asked (and so its breaker learns of it).
    pub fn reached_provider(self) -> bool {
        !matches!(
            self,
            CheckFailure::BreakerOpen | CheckFailure::OverBudget | CheckFailure::NotConfigured
        )
    }
}

/// One check's verdict on one hit, as stored in `clicks.checks` (a JSON array
/// of these) and in the event and spill files. The texts are borrowed on the
/// redirect path and owned when read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckVerdict {
    /// The rule code, e.g. `ANURA_DIRECT`.
    pub check: Cow<'static, str>,
    /// The provider's word (`suspect`), the check's own (`accepted`, `slow`) or
    /// a failure's (`timeout`, `breaker_open`, ...).
    pub verdict: Cow<'static, str>,
    /// Time spent on the check on the redirect path (0 from a cache).
    pub latency_us: u64,
    /// Recorded only: the hit went on whatever the verdict.
    pub monitor: bool,
}

/// A verdict together with whether it refuses the offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub verdict: CheckVerdict,
    /// The check refuses the offer (its answer, or a failure under
    /// `on_error: closed`), monitor mode aside.
    pub refuses: bool,
}

impl Judged {
    /// Applies the rule's settings to an answer or a failure.
    pub fn new(
        check: RuleCode,
        result: Result<Answer, CheckFailure>,
        params: &CommonParams,
        latency_us: u64,
    ) -> Self {
        let (word, refuses) = match result {
            Ok(Answer::Pass(word)) => (word, false),
            Ok(Answer::Refuse(word)) => (word, true),
            Err(failure) => (failure.as_str(), params.on_error == OnError::Closed),
        };
        Self {
            verdict: CheckVerdict {
                check: Cow::Borrowed(check.as_str()),
                verdict: Cow::Borrowed(word),
                latency_us,
                monitor: params.mode == Mode::Monitor,
            },
            refuses,
        }
    }

    /// Whether the hit is discarded on this offer: refused, and enforced.
    pub fn discards(&self) -> bool {
        self.refuses && !self.verdict.monitor
    }
}

/// The verdicts as the `checks` column's JSON text, written by hand: rule codes
/// and verdict words are ASCII identifiers, and this runs once per recorded
/// hit on the writer's thread.
pub fn to_json(verdicts: &[CheckVerdict], out: &mut String) {
    out.push('[');
    for (i, v) in verdicts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"check\":");
        json_string(&v.check, out);
        out.push_str(",\"verdict\":");
        json_string(&v.verdict, out);
        out.push_str(",\"latency_us\":");
        out.push_str(itoa::Buffer::new().format(v.latency_us));
        out.push_str(",\"monitor\":");
        out.push_str(if v.monitor { "true" } else { "false" });
        out.push('}');
    }
    out.push(']');
}

/// Owned words come back from the spill file and could hold anything.
fn json_string(text: &str, out: &mut String) {
    match serde_json::to_string(text) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn params(mode: Mode, on_error: OnError) -> CommonParams {
        CommonParams {
            mode,
            on_error,
            timeout: Duration::from_millis(10),
        }
    }

    #[test]
    fn failures_follow_on_error_and_monitor_never_discards() {
        let closed = params(Mode::Enforce, OnError::Closed);
        let open = params(Mode::Enforce, OnError::Open);
        let timeout = Err(CheckFailure::Timeout);
        assert!(Judged::new(RuleCode::AnuraDirect, timeout, &closed, 1).discards());
        assert!(!Judged::new(RuleCode::AnuraDirect, timeout, &open, 1).discards());
        let suspect = Ok(Answer::Refuse("suspect"));
        let monitored = Judged::new(
            RuleCode::AnuraDirect,
            suspect,
            &params(Mode::Monitor, OnError::Open),
            7,
        );
        assert!(monitored.refuses && !monitored.discards());
        assert_eq!(monitored.verdict.verdict, "suspect");
    }

    #[test]
    fn column_json_is_what_serde_reads_back() {
        let verdicts = vec![
            Judged::new(
                RuleCode::AnuraDirect,
                Ok(Answer::Pass("non-suspect")),
                &params(Mode::Enforce, OnError::Open),
                1234,
            )
            .verdict,
            CheckVerdict {
                check: Cow::Owned("X\"Y".into()),
                verdict: Cow::Borrowed("timeout"),
                latency_us: 0,
                monitor: true,
            },
        ];
        let mut json = String::new();
        to_json(&verdicts, &mut json);
        let back: Vec<CheckVerdict> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, verdicts);
        assert!(json.starts_with(
            r#"[{"check":"ANURA_DIRECT","verdict":"non-suspect","latency_us":1234,"monitor":false}"#
        ));
    }
}
