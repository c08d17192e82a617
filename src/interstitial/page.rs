//! The interstitial page: a blank page that loads the providers' scripts and
//! continues to the second hop (`page.js`). Without JavaScript a `<noscript>`
//! refresh continues with `ns=1`, so that visitor too ends in a recorded
//! outcome. Values reach the script through `data-` attributes, which `maud`
//! escapes; the script itself is a constant.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::ActiveChecks;
use super::params::BrowserCheck;

const SCRIPT: &str = include_str!("page.js");

/// The second hop's path, relative to the tracking host the page came from.
pub const SECOND_HOP_PATH: &str = "/continue";

/// How long the page waits for the providers before it continues with what
/// it has (a missing verdict counts as the provider's error).
pub const WAIT_MS: u64 = 4_000;

pub fn render(token: &str, checks: &ActiveChecks) -> Markup {
    let next = format!("{SECOND_HOP_PATH}?t={token}");
    let no_script = format!("0;url={next}&ns=1");
    let mut adscore = None;
    let mut anura = None;
    let mut probe = None;
    for (_, params) in checks {
        match &params.check {
            BrowserCheck::Adscore {
                zone, script_url, ..
            } => adscore = Some((zone.as_str(), script_url.as_str())),
            BrowserCheck::Anura {
                instance,
                script_url,
                ..
            } => anura = Some((instance.to_string(), script_url.as_str())),
            BrowserCheck::Latency { probe_url, .. } => probe = Some(probe_url.as_str()),
        }
    }
    html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                meta name="robots" content="noindex, nofollow";
                meta name="referrer" content="no-referrer";
                title { "Redirecting…" }
                noscript { meta http-equiv="refresh" content=(no_script); }
            }
            body {
                div #sy
                    data-next=(next)
                    data-wait-ms=(WAIT_MS)
                    data-adscore-zone=[adscore.map(|a| a.0)]
                    data-adscore-src=[adscore.map(|a| a.1)]
                    data-anura-instance=[anura.as_ref().map(|a| a.0.as_str())]
                    data-anura-src=[anura.as_ref().map(|a| a.1)]
                    data-probe=[probe] {}
                noscript { a href=(format!("{next}&ns=1")) { "Continue" } }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::checks::{CommonParams, Mode, OnError};
    use crate::interstitial::params::BrowserCheckParams;
    use crate::rules::RuleCode;

    #[test]
    fn values_are_escaped_into_attributes() {
        let mut checks = ActiveChecks::new();
        checks.push((
            RuleCode::AdscoreScript,
            Arc::new(BrowserCheckParams {
                check: BrowserCheck::Adscore {
                    zone: "z\"><script>alert(1)</script>".into(),
                    script_url: "https://c.adsco.re/".into(),
                    max_age: Duration::from_secs(60),
                },
                common: CommonParams {
                    mode: Mode::Enforce,
                    on_error: OnError::Open,
                    timeout: Duration::from_millis(80),
                },
            }),
        ));
        let page = render("TOKEN", &checks).into_string();
        assert!(page.contains(r#"data-next="/continue?t=TOKEN""#), "{page}");
        assert!(page.contains("url=/continue?t=TOKEN&amp;ns=1"), "{page}");
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("data-anura-instance"), "{page}");
    }
}
