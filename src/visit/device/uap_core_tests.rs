//! uap-core's own test cases, run through `DeviceDetector::parse`: the OS and
//! browser family and version parts must be what uap-core expects, word
//! versions (`XP`, `RT 8`) included.

use std::time::Instant;

use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
struct Cases {
    test_cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    user_agent_string: String,
    family: String,
    major: Option<String>,
    minor: Option<String>,
    patch: Option<String>,
}

/// Family and versions as uap-core writes them: "Other" where nothing is known.
type Expected = (String, Option<String>, Option<String>, Option<String>);

fn cases(file: &str) -> Vec<Case> {
    let path = format!("{}/data/uap-core/tests/{file}", env!("CARGO_MANIFEST_DIR"));
    let yaml = std::fs::read_to_string(&path).unwrap();
    serde_yaml_ng::from_str::<Cases>(&yaml).unwrap().test_cases
}

fn expected(case: &Case) -> Expected {
    (
        case.family.clone(),
        case.major.clone(),
        case.minor.clone(),
        case.patch.clone(),
    )
}

fn found(family: &Option<String>, version: &Version) -> Expected {
    let text = |part: &Option<Arc<str>>| part.as_deref().map(str::to_owned);
    (
        family.clone().unwrap_or_else(|| "Other".to_owned()),
        text(&version.major),
        text(&version.minor),
        text(&version.patch),
    )
}

/// Runs every case; lists every mismatch at once rather than the first.
fn check_all(file: &str, minimum: usize, pick: impl Fn(&DeviceInfo) -> Expected) {
    let detector = DeviceDetector::shared_embedded().unwrap();
    let cases = cases(file);
    assert!(cases.len() >= minimum, "{file}: only {} cases", cases.len());
    let started = Instant::now();
    let mismatches: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let got = pick(&detector.parse(&case.user_agent_string));
            let want = expected(case);
            (got != want).then(|| {
                format!(
                    "{:?}\n    want {want:?}\n    got  {got:?}",
                    case.user_agent_string
                )
            })
        })
        .collect();
    eprintln!("{file}: {} cases in {:.1?}", cases.len(), started.elapsed());
    assert!(
        mismatches.is_empty(),
        "{file}: {} of {} cases differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn every_uap_core_os_case_parses_as_uap_core_expects() {
    check_all("test_os.yaml", 480, |d| found(&d.os_family, &d.os_version));
}

#[test]
fn every_uap_core_browser_case_parses_as_uap_core_expects() {
    check_all("test_ua.yaml", 1600, |d| {
        found(&d.browser_family, &d.browser_version)
    });
}
