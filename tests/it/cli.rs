//! The command line as a user meets it: each subcommand's `--help` lists the
//! options it uses, not every server flag, and `explain --format text` prints
//! the short trace.

use std::collections::BTreeSet;
use std::process::Command;

const GEO_AND_UA: &[&str] = &[
    "--geoip-city",
    "--geoip-anonymous-ip",
    "--geoip-isp",
    "--geoip-asn",
    "--geoip-connection-type",
    "--ua-regexes",
];

/// Flags only a running server reads.
const SERVE_ONLY: &[&str] = &[
    "--listen",
    "--admin-listen",
    "--migrate",
    "--events-file",
    "--trusted-proxies",
    "--fallback-url",
    "--event-queue",
    "--spill-dir",
    "--postback-attempts",
    "--reload-secs",
    "--db-pool",
    "--redis-url",
    "--public-host",
];

fn switchyard(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        // The catalog must be the embedded demo, whatever the caller's shell has.
        .env_remove("DATABASE_URL")
        .env_remove("SWITCHYARD_CATALOG_FILE")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "switchyard {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The long flags of the option lines, not flags mentioned in descriptions.
fn flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .filter_map(|line| {
            line.split([' ', ',', '='])
                .find(|word| word.starts_with("--"))
                .map(str::to_owned)
        })
        .collect()
}

fn set(names: &[&[&str]]) -> BTreeSet<String> {
    names
        .iter()
        .flat_map(|n| n.iter())
        .map(|n| (*n).to_owned())
        .chain(["--help".to_owned()])
        .collect()
}

#[test]
fn each_subcommand_help_lists_only_its_own_options() {
    let serve = flags(&switchyard(&["serve", "--help"]));
    for flag in SERVE_ONLY.iter().chain(GEO_AND_UA) {
        assert!(
            serve.contains(*flag),
            "serve --help lacks {flag}: {serve:?}"
        );
    }
    assert!(serve.len() > 30, "{serve:?}");

    let visit = flags(&switchyard(&["visit", "--help"]));
    let explain = flags(&switchyard(&["explain", "--help"]));
    let migrate = flags(&switchyard(&["migrate", "--help"]));
    for (name, flags) in [
        ("visit", &visit),
        ("explain", &explain),
        ("migrate", &migrate),
    ] {
        let leaked: Vec<_> = SERVE_ONLY.iter().filter(|f| flags.contains(**f)).collect();
        assert!(
            leaked.is_empty(),
            "{name} --help lists serve flags {leaked:?}"
        );
    }
    assert_eq!(visit, set(&[&["--ip", "--ua", "--header"], GEO_AND_UA]));
    assert_eq!(
        explain,
        set(&[
            &[
                "--ip",
                "--ua",
                "--header",
                "--format",
                "--database-url",
                "--catalog-file"
            ],
            GEO_AND_UA
        ])
    );
    assert_eq!(migrate, set(&[&["--database-url"]]));
}

#[test]
fn explain_prints_text_on_request_and_json_by_default() {
    const XP: &str = "Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US; rv:1.9.0.11) Gecko/2009060215 Firefox/3.0.11";
    let refused = switchyard(&[
        "explain",
        "/c?oid=1&affid=2",
        "--ua",
        XP,
        "--format",
        "text",
    ]);
    let lines: Vec<&str> = refused.lines().map(str::trim_start).collect();
    assert_eq!(lines[0], "hit: /c?oid=1&affid=2", "{refused}");
    assert!(
        lines[1].contains(", os Windows XP, desktop, browser Firefox 3.0.11,"),
        "{refused}"
    );
    assert_eq!(lines[2], "candidates:", "{refused}");
    assert!(
        lines[3].starts_with("1. offer 1 ")
            && lines[3].ends_with(" via requested: refused by PUBLISHER_NOT_APPROVED"),
        "{refused}"
    );
    assert!(
        lines.contains(&"refused: PUBLISHER_NOT_APPROVED"),
        "{refused}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("not reached: ")),
        "{refused}"
    );
    assert!(
        lines.contains(&"outcome: discarded by PUBLISHER_NOT_APPROVED, offer 1"),
        "{refused}"
    );
    assert!(serde_json::from_str::<serde_json::Value>(&refused).is_err());

    let json: serde_json::Value =
        serde_json::from_str(&switchyard(&["explain", "/c?oid=1&affid=1"])).unwrap();
    assert_eq!(json["decision"]["outcome"]["outcome"], "redirect");
    assert_eq!(json["candidates"][0]["took_the_hit"], true);
}
