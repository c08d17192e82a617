//! Judges what the page reported on the second hop, one check at a time, in
//! the order `active_checks` gives. Words a check can end in:
//!
//! | check | passes | refuses | no verdict (`on_error` decides) |
//! | --- | --- | --- | --- |
//! | `ADSCORE_SCRIPT` | `ok` | `junk`, `proxy`, `bot`, `mismatch`, `expired`, `invalid`, `unsupported` | `not_configured` |
//! | `ANURA_SCRIPT` | `good`, `warn` | `bad` (`warn` with `discard_warn`), `invalid` | the lookup's `timeout`, `unavailable`, `bad_answer`, `breaker_open` |
//! | `CLIENT_SIDE_SEARCH_LATENCY` | `fast` | `slow`, `invalid` | |
//!
//! and for every check `no_script` (the `<noscript>` hop), `script_error`
//! (the provider's script failed in the browser) and `no_verdict` (the page
//! gave up waiting), which have no verdict either. A verdict that fails
//! verification (a signature for another visitor, an id that is not one) is
//! a refusal, not an error: a bot must not pass by sending garbage to a rule
//! that fails open.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::ActiveChecks;
use super::adscore::{self, ResponseKey, SignatureError};
use super::anura;
use super::params::{BrowserCheck, BrowserCheckParams};
use crate::checks::{Answer, CheckRunner, CheckVerdict, Judged, OnError};
use crate::rules::RuleCode;

/// What the page sent on the second hop, besides the token.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HopReport {
    pub no_script: bool,
    pub adscore: Option<String>,
    pub adscore_error: bool,
    pub anura: Option<String>,
    pub anura_error: bool,
    pub latency_ms: Option<String>,
    pub latency_error: bool,
}

/// What a check came to before its rule's settings apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    Answer(Answer),
    /// No verdict; `Some` when a provider call failed (its breaker and
    /// metrics already know).
    Nothing(&'static str),
}

/// The server's side of the judging.
pub struct Verifier<'a> {
    pub runner: &'a CheckRunner,
    pub adscore_key: Option<&'a ResponseKey>,
    /// The first hop's visitor: Adscore signed for this IP and user agent.
    pub ip: IpAddr,
    pub user_agent: &'a str,
    pub now: DateTime<Utc>,
}

/// Every check's verdict, in order.
pub async fn judge(
    verifier: &Verifier<'_>,
    checks: &ActiveChecks,
    report: &HopReport,
) -> Vec<Judged> {
    let mut judged = Vec::with_capacity(checks.len());
    for (code, params) in checks {
        let started = Instant::now();
        let said = if report.no_script {
            Said::Nothing("no_script")
        } else {
            match &params.check {
                BrowserCheck::Adscore { max_age, .. } => adscore_said(verifier, report, *max_age),
                BrowserCheck::Anura {
                    instance,
                    result_url,
                    discard_warn,
                    ..
                } => {
                    anura_said(
                        verifier,
                        params,
                        report,
                        *instance,
                        result_url,
                        *discard_warn,
                    )
                    .await
                }
                BrowserCheck::Latency { threshold, .. } => latency_said(report, *threshold),
            }
        };
        let waited = started.elapsed();
        let one = settle(*code, said, params, waited);
        crate::checks::metrics::record(*code, word(said), Some(waited));
        judged.push(one);
    }
    judged
}

/// The verdicts of checks that never got a report: the hit could not be
/// held (`on_error` decides), or its visitor never came back (`always`
/// refuses: nothing was redirected).
pub fn without_report(checks: &ActiveChecks, word: &'static str, always: bool) -> Vec<Judged> {
    checks
        .iter()
        .map(|(code, params)| {
            crate::checks::metrics::record(*code, word, None);
            Judged {
                verdict: verdict(*code, word, 0, params),
                refuses: always || params.common.on_error == OnError::Closed,
            }
        })
        .collect()
}

/// The rule of the first verdict that discards the hit.
pub fn discarding(judged: &[Judged], checks: &ActiveChecks) -> Option<RuleCode> {
    judged
        .iter()
        .zip(checks)
        .find(|(j, _)| j.discards())
        .map(|(_, (code, _))| *code)
}

fn word(said: Said) -> &'static str {
    match said {
        Said::Answer(Answer::Pass(w) | Answer::Refuse(w)) | Said::Nothing(w) => w,
    }
}

fn settle(
    code: RuleCode,
    said: Said,
    params: &BrowserCheckParams,
    waited: std::time::Duration,
) -> Judged {
    let refuses = match said {
        Said::Answer(Answer::Pass(_)) => false,
        Said::Answer(Answer::Refuse(_)) => true,
        Said::Nothing(_) => params.common.on_error == OnError::Closed,
    };
    let latency_us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
    Judged {
        verdict: verdict(code, word(said), latency_us, params),
        refuses,
    }
}

fn verdict(
    code: RuleCode,
    word: &'static str,
    latency_us: u64,
    params: &BrowserCheckParams,
) -> CheckVerdict {
    CheckVerdict {
        check: Cow::Borrowed(code.as_str()),
        verdict: Cow::Borrowed(word),
        latency_us,
        monitor: params.common.mode == crate::checks::Mode::Monitor,
    }
}

fn adscore_said(verifier: &Verifier<'_>, report: &HopReport, max_age: std::time::Duration) -> Said {
    let Some(signature) = &report.adscore else {
        return Said::Nothing(if report.adscore_error {
            "script_error"
        } else {
            "no_verdict"
        });
    };
    let Some(key) = verifier.adscore_key else {
        return Said::Nothing("not_configured");
    };
    match adscore::verify(
        key,
        signature,
        verifier.ip,
        verifier.user_agent,
        verifier.now,
        max_age,
    ) {
        Ok(adscore::Judgement::Ok) => Said::Answer(Answer::Pass("ok")),
        Ok(other) => Said::Answer(Answer::Refuse(other.word())),
        Err(SignatureError::Mismatch) => Said::Answer(Answer::Refuse("mismatch")),
        Err(SignatureError::Expired) => Said::Answer(Answer::Refuse("expired")),
        Err(SignatureError::Malformed(_)) => Said::Answer(Answer::Refuse("invalid")),
        // Unverifiable is not clean: else any byte but 4 up front would pass.
        Err(SignatureError::Unsupported(_)) => Said::Answer(Answer::Refuse("unsupported")),
    }
}

async fn anura_said(
    verifier: &Verifier<'_>,
    params: &BrowserCheckParams,
    report: &HopReport,
    instance: u64,
    result_url: &str,
    discard_warn: bool,
) -> Said {
    let Some(id) = &report.anura else {
        return Said::Nothing(if report.anura_error {
            "script_error"
        } else {
            "no_verdict"
        });
    };
    if !anura::plausible_response_id(id) {
        return Said::Answer(Answer::Refuse("invalid"));
    }
    let url = anura::result_url(result_url, &instance.to_string(), id);
    let answer = verifier
        .runner
        .lookup(
            RuleCode::AnuraScript,
            result_url,
            &url,
            params.common.timeout,
            move |status, body| anura::judge(status, body, discard_warn),
        )
        .await;
    match answer {
        Ok(answer) => Said::Answer(answer),
        Err(failure) => Said::Nothing(failure.as_str()),
    }
}

fn latency_said(report: &HopReport, threshold: std::time::Duration) -> Said {
    let Some(text) = &report.latency_ms else {
        return Said::Nothing(if report.latency_error {
            "script_error"
        } else {
            "no_verdict"
        });
    };
    match text.parse::<u64>() {
        Ok(ms) if u128::from(ms) > threshold.as_millis() => Said::Answer(Answer::Refuse("slow")),
        Ok(_) => Said::Answer(Answer::Pass("fast")),
        Err(_) => Said::Answer(Answer::Refuse("invalid")),
    }
}
