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

/// A catalog file carries the SHA-256 of a partner's key, never the key
/// (docs/MODEL.md, "Secrets"), and no error message repeats either.
#[test]
fn a_catalog_file_holds_key_digests_not_keys() {
    use switchyard::catalog::{Catalog, Origin, SecretHash, file};
    let key = "file-partner-key-0123456789abcdef";
    let digest = SecretHash::of(key.as_bytes()).to_hex();
    let catalog =
        |partners: &str| format!("advertisers: [{{ id: 1, name: A }}]\npartners:\n{partners}");

    let good = catalog(&format!(
        "  - {{ id: 1, name: P, api_key_sha256: '{digest}' }}\n  - {{ id: 2, name: Q }}\n"
    ));
    let source = file::parse(&good, "good.yaml").unwrap();
    let built = Catalog::build(source, Origin::Test, 1).unwrap();
    assert_eq!(
        built.partner_by_api_key(key.as_bytes()).map(|p| p.id),
        Some(1)
    );
    assert!(built.partner_by_api_key(digest.as_bytes()).is_none());
    assert!(built.partner_by_api_key(b"").is_none());

    let (ok, text) = check(&catalog(&format!(
        "  - {{ id: 1, name: P, api_key: '{key}' }}\n"
    )));
    assert!(
        !ok && text.contains("api_key"),
        "a plain key is refused: {text}"
    );
    assert!(!text.contains(key), "{text}");

    let (ok, text) = check(&catalog(&format!(
        "  - {{ id: 1, name: P, api_key_sha256: '{digest}' }}\n  - {{ id: 2, name: Q, api_key_sha256: '{digest}' }}\n"
    )));
    assert!(
        !ok && text.contains("api_key_sha256 is also partner"),
        "{text}"
    );
    assert!(!text.contains(&digest), "{text}");

    let (ok, text) = check(&catalog(&format!(
        "  - {{ id: 1, name: P, api_key_sha256: '{key}' }}\n"
    )));
    assert!(!ok && text.contains("64 hex characters"), "{text}");
    assert!(!text.contains(key), "{text}");
}
