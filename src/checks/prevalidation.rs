//! `ADVERTISER_PREVALIDATION`: before forwarding, ask the advertiser's check
//! URL (the offer URL's macros, `{ip}` and `{user_agent}` included) whether it
//! wants this visitor, and forward only on its configured yes.

use std::time::Instant;

use super::hit::HitChecks;
use super::params::CommonParams;
use super::runner::{CheckRunner, fingerprint};
use super::settings::{Prevalidation, Success};
use super::verdict::{Answer, CheckFailure};
use crate::routing::HitMacros;
use crate::rules::RuleCode;

pub const ACCEPTED: &str = "accepted";
pub const REJECTED: &str = "rejected";

pub async fn ask(
    runner: &CheckRunner,
    hit: &HitChecks<'_>,
    settings: &Prevalidation,
    common: &CommonParams,
    macros: &HitMacros<'_>,
) -> Result<Answer, CheckFailure> {
    let url = settings.url.expand(macros);
    let key = fingerprint(&[url.as_bytes()]);
    if let Some(answer) = runner.prevalidation_answers.get(key, Instant::now()) {
        return Ok(answer);
    }
    let endpoint = settings.url.origin().unwrap_or_default();
    let code = RuleCode::AdvertiserPrevalidation;
    let call = async {
        let (status, body) = super::client::fetch(&runner.client, hyper::Method::GET, &url).await?;
        judge(&settings.success, status, &body)
    };
    let result = runner
        .call(hit, code, endpoint, key, common.timeout, call)
        .await;
    if let Ok(answer) = result {
        runner
            .prevalidation_answers
            .put(key, answer, settings.cache_ttl, Instant::now());
    }
    result
}

/// The advertiser's answer against the rule's idea of yes.
fn judge(success: &Success, status: u16, body: &[u8]) -> Result<Answer, CheckFailure> {
    let yes = match success {
        Success::Status(Some(wanted)) => status == *wanted,
        Success::Status(None) => (200..300).contains(&status),
        Success::JsonField { path, equals } => {
            if !(200..300).contains(&status) {
                false
            } else {
                let json: serde_json::Value =
                    serde_json::from_slice(body).map_err(|_| CheckFailure::BadAnswer)?;
                let mut field = Some(&json);
                for key in path {
                    field = field.and_then(|v| v.get(key));
                }
                field == Some(equals)
            }
        }
    };
    Ok(if yes {
        Answer::Pass(ACCEPTED)
    } else {
        Answer::Refuse(REJECTED)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yes_is_the_configured_status_or_json_field() {
        let any_2xx = Success::Status(None);
        assert_eq!(judge(&any_2xx, 204, b""), Ok(Answer::Pass(ACCEPTED)));
        assert_eq!(judge(&any_2xx, 404, b""), Ok(Answer::Refuse(REJECTED)));
        let field = Success::JsonField {
            path: vec!["data".into(), "valid".into()],
            equals: json!(true),
        };
        assert_eq!(
            judge(&field, 200, br#"{"data":{"valid":true}}"#),
            Ok(Answer::Pass(ACCEPTED))
        );
        assert_eq!(
            judge(&field, 200, br#"{"data":{"valid":"true"}}"#),
            Ok(Answer::Refuse(REJECTED))
        );
        assert_eq!(judge(&field, 200, b"<html>"), Err(CheckFailure::BadAnswer));
    }
}
