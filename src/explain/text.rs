//! `explain --format text`: the same explanation, short enough to read at a
//! glance. The JSON stays the complete form.

use std::fmt::Write;

use super::{COUNTERS_NOTE, Candidate, Explanation};
use crate::routing::Outcome;
use crate::visit::Visit;

/// The verdicts in the order they are listed, with their label.
const VERDICTS: [(&str, &str); 5] = [
    ("pass", "pass"),
    (
        "not_run",
        "not run (third-party checks: explain never calls them)",
    ),
    (
        "interstitial",
        "interstitial (browser-side: judged on the second hop)",
    ),
    ("refused", "refused"),
    ("not_reached", "not reached"),
];

pub(super) fn render(explanation: &Explanation<'_>) -> String {
    let mut out = String::new();
    // Writing to a `String` cannot fail.
    let _ = write_all(&mut out, explanation);
    out
}

fn write_all(out: &mut String, explanation: &Explanation<'_>) -> std::fmt::Result {
    writeln!(out, "hit: {}", explanation.url)?;
    writeln!(out, "visit: {}", visit_summary(explanation.visit))?;
    if explanation.candidates.is_empty() {
        writeln!(
            out,
            "candidates: none (refused before any offer was judged)"
        )?;
    } else {
        writeln!(out, "candidates:")?;
    }
    for (index, candidate) in explanation.candidates.iter().enumerate() {
        write_candidate(out, index + 1, candidate)?;
    }
    match &explanation.decision.outcome {
        Outcome::Redirect {
            offer_id,
            url,
            unique,
            ..
        } => {
            let unique = if *unique { "" } else { " (not unique)" };
            writeln!(out, "outcome: redirect to offer {offer_id}{unique}: {url}")?;
        }
        Outcome::Discard {
            rule,
            detail,
            offer_id,
            ..
        } => {
            write!(out, "outcome: discarded by {}", rule.as_str())?;
            if let Some(detail) = detail {
                write!(out, " ({})", detail.as_str())?;
            }
            if let Some(offer_id) = offer_id {
                write!(out, ", offer {offer_id}")?;
            }
            writeln!(out)?;
        }
    }
    writeln!(out, "note: {COUNTERS_NOTE}")
}

fn write_candidate(out: &mut String, number: usize, c: &Candidate) -> std::fmt::Result {
    write!(out, "  {number}. offer {}", c.offer_id)?;
    if let Some(name) = &c.offer_name {
        write!(out, " {name:?}")?;
    }
    write!(out, " via {}", c.via)?;
    if let Some(detail) = c.detail {
        write!(out, " [{detail}]")?;
    }
    match c.refused_by {
        _ if c.took_the_hit => writeln!(out, ": took the hit")?,
        Some(rule) => writeln!(out, ": refused by {}", rule.as_str())?,
        None => writeln!(out, ": refused")?,
    }
    for (verdict, label) in VERDICTS {
        let rules: Vec<String> = c
            .rules
            .iter()
            .filter(|r| r.verdict == verdict)
            .map(|r| match r.detail {
                Some(detail) => format!("{}({detail})", r.rule.as_str()),
                None => r.rule.as_str().to_owned(),
            })
            .collect();
        if !rules.is_empty() {
            writeln!(out, "       {label}: {}", rules.join(" "))?;
        }
    }
    Ok(())
}

fn visit_summary(visit: &Visit) -> String {
    let unknown = "?";
    let device = &visit.device;
    let named = |family: &Option<String>, version: &crate::visit::device::Version| {
        let family = family.as_deref().unwrap_or(unknown);
        match version.major {
            Some(_) => format!("{family} {version}"),
            None => family.to_owned(),
        }
    };
    format!(
        "ip {}, country {}, os {}, {}, browser {}, language {}",
        visit.ip,
        visit.geo.country.as_deref().unwrap_or(unknown),
        named(&device.os_family, &device.os_version),
        device.device_type.as_str(),
        named(&device.browser_family, &device.browser_version),
        visit.languages.first().map_or(unknown, String::as_str),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{self, Catalog, Origin};
    use crate::explain::candidate;
    use crate::routing::{Decision, TraceStep, TransactionId};
    use crate::rules::RuleCode;
    use crate::visit::TrackingParams;
    use crate::visit::device::Version;

    fn demo() -> Catalog {
        Catalog::build(
            catalog::file::parse(catalog::file::DEMO_CATALOG, "demo").unwrap(),
            Origin::Test,
            1,
        )
        .unwrap()
    }

    fn step(offer_id: i64, via: &'static str, rejected_by: Option<RuleCode>) -> TraceStep {
        TraceStep {
            offer_id,
            via,
            rejected_by,
            detail: None,
        }
    }

    #[test]
    fn lists_candidates_with_each_rules_verdict_then_the_outcome() {
        let catalog = demo();
        let params = TrackingParams::parse("oid=1&affid=1", true).unwrap();
        let mut visit = Visit::bare(params, "203.0.113.9".parse().unwrap(), "ua");
        visit.device.os_family = Some("Windows".into());
        visit.device.os_version = Version::from_parts(Some("RT 8"), Some("1"), None);
        let steps = [
            step(1, "candidate", Some(RuleCode::OfferTargetingMismatch)),
            step(2, "fail_offer", None),
        ];
        let decision = Decision {
            transaction_id: TransactionId::random(&mut rand::rng()),
            requested_offer_id: Some(1),
            smart_link_id: None,
            checks: Vec::new(),
            outcome: Outcome::Redirect {
                offer_id: 2,
                advertiser_id: 1,
                url: "https://acme.example/x".to_owned(),
                unique: true,
            },
        };
        let explanation = Explanation {
            url: "/c?oid=1&affid=1",
            counters: COUNTERS_NOTE,
            visit: &visit,
            candidates: steps
                .iter()
                .map(|s| candidate(&catalog, Some(1), s))
                .collect(),
            decision: &decision,
        };
        let text = render(&explanation);
        let lines: Vec<&str> = text.lines().map(str::trim_start).collect();
        assert_eq!(lines[0], "hit: /c?oid=1&affid=1", "{text}");
        assert!(lines[1].contains(", os Windows RT 8.1, other, "), "{text}");
        assert_eq!(lines[2], "candidates:", "{text}");
        assert!(lines[3].starts_with("1. offer 1 "), "{text}");
        assert!(
            lines[3].ends_with(" via candidate: refused by OFFER_TARGETING_MISMATCH"),
            "{text}"
        );
        assert!(lines[4].starts_with("pass: "), "{text}");
        assert!(lines[4].contains(" INACTIVE_OFFER "), "{text}");
        assert!(lines[4].ends_with(" TRAFFIC_CONTROL"), "{text}");
        assert_eq!(lines[5], "refused: OFFER_TARGETING_MISMATCH", "{text}");
        assert!(
            lines[6].starts_with("not reached: ADVANCED_TARGETING_MISMATCH "),
            "{text}"
        );
        assert!(
            lines[6].ends_with(
                " DUPLICATE_CLICK ADSCORE_SCRIPT ANURA_SCRIPT CLIENT_SIDE_SEARCH_LATENCY"
            ),
            "{text}"
        );
        assert!(
            lines[7].starts_with("2. offer 2 ")
                && lines[7].ends_with(" via fail_offer: took the hit"),
            "{text}"
        );
        assert!(
            lines[8].starts_with("pass: ")
                && lines[8].ends_with(
                    " DUPLICATE_CLICK ADSCORE_SCRIPT ANURA_SCRIPT CLIENT_SIDE_SEARCH_LATENCY"
                ),
            "{text}"
        );
        assert_eq!(
            lines[9],
            "outcome: redirect to offer 2: https://acme.example/x"
        );
        assert!(lines[10].starts_with("note: caps, budgets"), "{text}");
        assert_eq!(lines.len(), 11, "{text}");
    }

    #[test]
    fn a_discard_names_its_rule_and_offer() {
        let catalog = demo();
        let params = TrackingParams::parse("oid=1&affid=2", true).unwrap();
        let visit = Visit::bare(params, "203.0.113.9".parse().unwrap(), "");
        let decision = Decision {
            transaction_id: TransactionId::random(&mut rand::rng()),
            requested_offer_id: Some(1),
            smart_link_id: None,
            checks: Vec::new(),
            outcome: Outcome::Discard {
                rule: RuleCode::PublisherNotApproved,
                detail: None,
                offer_id: Some(1),
                advertiser_id: Some(1),
            },
        };
        let explanation = Explanation {
            url: "/c?oid=1&affid=2",
            counters: COUNTERS_NOTE,
            visit: &visit,
            candidates: vec![candidate(
                &catalog,
                Some(1),
                &step(1, "requested", Some(RuleCode::PublisherNotApproved)),
            )],
            decision: &decision,
        };
        let text = render(&explanation);
        assert!(text.contains("os ?, other, browser ?"), "{text}");
        assert!(
            text.contains("via requested: refused by PUBLISHER_NOT_APPROVED\n"),
            "{text}"
        );
        assert!(
            text.contains("\noutcome: discarded by PUBLISHER_NOT_APPROVED, offer 1\n"),
            "{text}"
        );
    }
}
