//! `switchyard check-catalog FILE` names every problem and fails, or says ok.

use std::process::Command;

fn check(yaml: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-check-{}-{}",
        std::process::id(),
        yaml.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("catalog.yaml");
    std::fs::write(&path, yaml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("check-catalog")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn the_shipped_demo_catalog_passes() {
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("check-catalog")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/demo-catalog.yaml"
        ))
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("ok (3 advertisers"));
}

#[test]
fn every_problem_is_listed() {
    let (ok, text) = check(
        "
advertisers: [{ id: 1, name: A }]
partners: [{ id: 1, name: P }]
offers:
  - { id: 1, advertiser_id: 9, name: O, offer_url: 'https://{sub1}.example/' }
  - { id: 2, advertiser_id: 1, name: O2, offer_url: 'https://ok.example/', timezone: Nowhere/City, fail_offer_id: 44 }
offer_approvals: [{ offer_id: 2, partner_id: 5 }]
",
    );
    assert!(!ok);
    for expected in [
        "unknown advertiser 9",
        "has a macro or brace in its scheme or host",
        "timezone `Nowhere/City`",
        "unknown fail offer 44",
        "unknown partner 5",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

#[test]
fn unknown_columns_are_refused_not_ignored() {
    let (ok, text) = check("advertisers: [{ id: 1, name: A, colour: blue }]");
    assert!(!ok);
    assert!(text.contains("colour"), "{text}");
}
