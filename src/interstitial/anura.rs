//! Anura Script's result lookup (docs.anura.io, "Script Integration -
//! Result"): `GET result.json?instance=..&id=..` answers JSON whose `result`
//! is `good`, `warn` or `bad`. Results stay available for 15 minutes and are
//! removed after a successful query, so a lookup is made once per hit.
//!
//! The browser side (Anura's `request.js` calling back with a response
//! object whose `getId()` gives the id) lives in `page.js`; Anura's public
//! pages show the callback but not the response object's methods, so that
//! one line is the adapter to check against Anura's integration wizard.

use crate::checks::{Answer, CheckFailure};

/// Anura's ids are short opaque tokens; anything else is refused before a
/// call is made, so a visitor cannot make us send arbitrary text to Anura.
pub fn plausible_response_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub fn result_url(base: &str, instance: &str, response_id: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("instance", instance)
        .append_pair("id", response_id)
        .finish();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{query}")
}

#[derive(serde::Deserialize)]
struct ResultAnswer {
    result: String,
}

/// `warn` is "your decision" in Anura's words: the rule's `discard_warn`.
pub fn judge(status: u16, body: &[u8], discard_warn: bool) -> Result<Answer, CheckFailure> {
    if !(200..300).contains(&status) {
        return Err(CheckFailure::BadAnswer);
    }
    let answer: ResultAnswer = serde_json::from_slice(body).map_err(|_| CheckFailure::BadAnswer)?;
    match answer.result.as_str() {
        "good" => Ok(Answer::Pass("good")),
        "warn" if discard_warn => Ok(Answer::Refuse("warn")),
        "warn" => Ok(Answer::Pass("warn")),
        "bad" => Ok(Answer::Refuse("bad")),
        _ => Err(CheckFailure::BadAnswer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_ids_are_looked_up() {
        assert!(plausible_response_id("a1B2-c3_d4.e5"));
        for bad in ["", "a b", "id&instance=2", "ä", &"x".repeat(129)] {
            assert!(!plausible_response_id(bad), "{bad}");
        }
    }

    #[test]
    fn reads_anuras_documented_results_only() {
        let body = |r: &str| format!(r#"{{"result":"{r}","mobile":1,"rule_sets":["UE"]}}"#);
        assert_eq!(
            judge(200, body("good").as_bytes(), false),
            Ok(Answer::Pass("good"))
        );
        assert_eq!(
            judge(200, body("warn").as_bytes(), false),
            Ok(Answer::Pass("warn"))
        );
        assert_eq!(
            judge(200, body("warn").as_bytes(), true),
            Ok(Answer::Refuse("warn"))
        );
        assert_eq!(
            judge(200, body("bad").as_bytes(), false),
            Ok(Answer::Refuse("bad"))
        );
        assert_eq!(
            judge(200, body("meh").as_bytes(), false),
            Err(CheckFailure::BadAnswer)
        );
        assert_eq!(judge(200, b"<html>", false), Err(CheckFailure::BadAnswer));
        assert_eq!(
            judge(404, body("good").as_bytes(), false),
            Err(CheckFailure::BadAnswer)
        );
    }

    #[test]
    fn the_lookup_url_escapes_its_values() {
        assert_eq!(
            result_url("https://script.anura.io/result.json", "123", "a.b"),
            "https://script.anura.io/result.json?instance=123&id=a.b"
        );
    }
}
