//! `ANURA_DIRECT`: Anura's server-side API, as documented at
//! <https://docs.anura.io/integration/direct>: `GET direct.json` with
//! `instance` and `ip` (required), `ua`, `source` and `campaign` (optional, at
//! most 128 characters each); the answer is JSON whose `result` is `suspect` or
//! `non-suspect`. Only `suspect` refuses.
//!
//! The instance id is an account credential: it comes from the environment
//! and is never logged or printed.

use super::hit::HitChecks;
use super::params::CommonParams;
use super::runner::{CheckRunner, fingerprint};
use super::verdict::{Answer, CheckFailure};
use crate::routing::HitMacros;
use crate::rules::RuleCode;

pub const DEFAULT_URL: &str = "https://direct.anura.io/direct.json";

/// Anura's documented limit for `source` and `campaign`.
const MAX_TRACKING_CHARS: usize = 128;

#[derive(Clone, Default)]
pub struct AnuraSettings {
    /// `None`: the check answers `not_configured` (and `on_error` decides).
    pub instance: Option<String>,
    pub url: String,
}

impl std::fmt::Debug for AnuraSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnuraSettings")
            .field("instance", &self.instance.as_ref().map(|_| "<set>"))
            .field("url", &self.url)
            .finish()
    }
}

pub async fn ask(
    runner: &CheckRunner,
    hit: &HitChecks<'_>,
    common: &CommonParams,
    macros: &HitMacros<'_>,
) -> Result<Answer, CheckFailure> {
    let settings = runner.anura();
    let Some(instance) = settings.instance.as_deref() else {
        return Err(CheckFailure::NotConfigured);
    };
    let visit = macros.visit;
    let ip = visit.ip.to_string();
    // `source` is the partner, `campaign` the offer: how Anura's dashboard
    // groups the traffic.
    let source = visit.params.partner_id.unwrap_or_default().to_string();
    let campaign = macros.offer_id.to_string();
    let url = request_url(
        &settings.url,
        instance,
        &ip,
        &visit.user_agent,
        &source,
        &campaign,
    );
    // The verdict is about the visitor: a fail chain's next offer reuses it.
    let request = fingerprint(&[
        ip.as_bytes(),
        visit.user_agent.as_bytes(),
        source.as_bytes(),
    ]);
    let call = async {
        let (status, body) = super::client::fetch(&runner.client, hyper::Method::GET, &url).await?;
        judge(status, &body)
    };
    runner
        .call(
            hit,
            RuleCode::AnuraDirect,
            &settings.url,
            request,
            common.timeout,
            call,
        )
        .await
}

fn request_url(
    base: &str,
    instance: &str,
    ip: &str,
    ua: &str,
    source: &str,
    campaign: &str,
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("instance", instance)
        .append_pair("ip", ip);
    if !ua.is_empty() {
        query.append_pair("ua", ua);
    }
    query
        .append_pair(
            "source",
            crate::columns::truncate_to(source, MAX_TRACKING_CHARS),
        )
        .append_pair(
            "campaign",
            crate::columns::truncate_to(campaign, MAX_TRACKING_CHARS),
        );
    format!("{base}?{}", query.finish())
}

#[derive(serde::Deserialize)]
struct DirectAnswer {
    result: String,
}

/// A 4xx carries Anura's `{"error": ..}` about our request (a bad instance,
/// say): no verdict on the visitor, so it counts as a failure.
fn judge(status: u16, body: &[u8]) -> Result<Answer, CheckFailure> {
    if !(200..300).contains(&status) {
        return Err(CheckFailure::BadAnswer);
    }
    let answer: DirectAnswer = serde_json::from_slice(body).map_err(|_| CheckFailure::BadAnswer)?;
    match answer.result.as_str() {
        "non-suspect" => Ok(Answer::Pass("non-suspect")),
        "suspect" => Ok(Answer::Refuse("suspect")),
        _ => Err(CheckFailure::BadAnswer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_anuras_documented_answers_only() {
        assert_eq!(
            judge(200, br#"{"result":"non-suspect","mobile":null}"#),
            Ok(Answer::Pass("non-suspect"))
        );
        assert_eq!(
            judge(
                200,
                br#"{"result":"suspect","mobile":1,"rule_sets":["UE"]}"#
            ),
            Ok(Answer::Refuse("suspect"))
        );
        assert_eq!(
            judge(200, br#"{"result":"maybe"}"#),
            Err(CheckFailure::BadAnswer)
        );
        assert_eq!(judge(200, b"suspect"), Err(CheckFailure::BadAnswer));
        assert_eq!(
            judge(400, br#"{"error":"invalid instance"}"#),
            Err(CheckFailure::BadAnswer)
        );
    }

    #[test]
    fn the_request_carries_the_documented_parameters() {
        let url = request_url(
            "https://direct.anura.io/direct.json",
            "123",
            "203.0.113.9",
            "Mozilla/5.0 (X11)",
            "7",
            "42",
        );
        assert_eq!(
            url,
            "https://direct.anura.io/direct.json?instance=123&ip=203.0.113.9&ua=Mozilla%2F5.0+%28X11%29&source=7&campaign=42"
        );
    }
}
