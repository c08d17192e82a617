//! `SEARCH_LATENCY`: the latency of the upstream hop, measured by this server.
//! The upstream hop is the one the visitor takes next: from us to the offer's
//! destination. We time a `HEAD` of the offer URL's origin (scheme, host and
//! port, path `/`), never the expanded URL, which the advertiser's tracker
//! would count as a click. A host's measurement is kept `cache_ttl_seconds`.
//! No answer within `max_latency_ms` is the measurement itself: `slow`.

use std::time::{Duration, Instant};

use super::hit::HitChecks;
use super::runner::{CheckRunner, fingerprint};
use super::settings::SearchLatency;
use super::verdict::{Answer, CheckFailure};
use crate::catalog::url_template::UrlTemplate;
use crate::rules::RuleCode;

pub const FAST: &str = "fast";
pub const SLOW: &str = "slow";

pub async fn ask(
    runner: &CheckRunner,
    hit: &HitChecks<'_>,
    settings: &SearchLatency,
    offer_url: &UrlTemplate,
) -> Result<Answer, CheckFailure> {
    let Some(origin) = offer_url.origin() else {
        return Err(CheckFailure::BadAnswer);
    };
    let key = fingerprint(&[origin.as_bytes()]);
    if let Some(answer) = runner.latency_answers.get(key, Instant::now()) {
        return Ok(answer);
    }
    let url = format!("{origin}/");
    let max = settings.max_latency;
    let call = async {
        // Our own clock, inside the guard's: running out is an answer here.
        match tokio::time::timeout(
            max,
            super::client::fetch(&runner.client, hyper::Method::HEAD, &url),
        )
        .await
        {
            Ok(Ok(_)) => Ok(Answer::Pass(FAST)),
            Ok(Err(failure)) => Err(failure),
            Err(_) => Ok(Answer::Refuse(SLOW)),
        }
    };
    // The guard's timeout is a backstop only: ours fires first.
    let backstop = max + Duration::from_millis(5);
    let result = runner
        .call(hit, RuleCode::SearchLatency, origin, key, backstop, call)
        .await;
    if let Ok(answer) = result {
        runner
            .latency_answers
            .put(key, answer, settings.cache_ttl, Instant::now());
    }
    result
}
