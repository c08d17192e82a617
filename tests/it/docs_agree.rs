//! The docs say what the server does (issue 15, part 6): every rule code,
//! route, offer-URL macro and environment variable named in `docs/*.md` and
//! the README exists in the code, and every one the code has is documented.
//! The code's side comes from the lists the code itself runs on (the
//! `RuleCode` enum, the routers' route tables, the URL template's macro table,
//! the command line's `env` names), and routes are also asked for over real
//! sockets, so the check holds whichever listener serves a route.

use std::collections::BTreeSet;
use std::path::Path;

use clap::CommandFactory;
use regex::Regex;
use switchyard::conversions::RejectReason;
use switchyard::rules::RuleCode;

use crate::common;

/// (file, text) of README.md and every docs/*.md.
fn documents() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            (name, text)
        })
        .collect()
}

/// Inline code spans outside fenced blocks, with the file they are in.
fn spans(docs: &[(String, String)]) -> Vec<(String, String)> {
    let span = Regex::new(r"`([^`\n]+)`").unwrap();
    let mut out = Vec::new();
    for (file, text) in docs {
        let mut fenced = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            if !fenced {
                for capture in span.captures_iter(line) {
                    out.push((file.clone(), capture[1].to_owned()));
                }
            }
        }
    }
    out
}

/// Every Rust source file under `dir`, recursively.
fn sources(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

fn assert_none(problems: &BTreeSet<String>, what: &str) {
    assert!(
        problems.is_empty(),
        "{what}:\n  {}",
        problems.iter().cloned().collect::<Vec<_>>().join("\n  ")
    );
}

#[test]
fn every_rule_code_in_the_docs_exists_and_every_code_is_documented() {
    let docs = documents();
    let spans = spans(&docs);
    let rule_codes: BTreeSet<&str> = RuleCode::ALL.iter().map(RuleCode::as_str).collect();
    let reject_reasons: BTreeSet<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
    let env = code_env_vars();
    // Upper snake case in code spans also names constants (`MAX_FAIL_CHAIN`):
    // those must exist in the source, like any other name the docs use.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = sources(&root.join("src")).join("\n");
    let upper_snake = Regex::new(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$").unwrap();
    let unknown: BTreeSet<String> = spans
        .iter()
        .filter(|(_, span)| upper_snake.is_match(span))
        .filter(|(_, span)| {
            !rule_codes.contains(span.as_str())
                && !reject_reasons.contains(span.as_str())
                && !env.contains(span.as_str())
                && !source.contains(&format!("const {span}:"))
                && !source.contains(&format!("static {span}:"))
        })
        .map(|(file, span)| format!("{file}: `{span}`"))
        .collect();
    assert_none(&unknown, "codes the docs name that the code does not have");

    let documented: BTreeSet<&str> = spans.iter().map(|(_, s)| s.as_str()).collect();
    let undocumented: BTreeSet<String> = rule_codes
        .iter()
        .chain(&reject_reasons)
        .filter(|code| !documented.contains(*code))
        .map(|code| code.to_string())
        .collect();
    assert_none(&undocumented, "codes the docs never name");
}

/// The offer URL's macros, and the conversion-only ones of partner postbacks.
fn code_macros() -> BTreeSet<&'static str> {
    switchyard::catalog::url_template::MACROS
        .iter()
        .map(|(name, _)| *name)
        .chain(switchyard::postbacks::macros::CONVERSION_MACROS)
        .collect()
}

#[test]
fn every_macro_in_the_docs_exists_and_every_macro_is_documented() {
    let docs = documents();
    let spans = spans(&docs);
    let code = code_macros();
    let macro_span = Regex::new(r"^\{([a-z0-9_]+)\}$").unwrap();
    let mut documented = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for (file, span) in &spans {
        if let Some(capture) = macro_span.captures(span) {
            let name = capture[1].to_owned();
            if !code.contains(name.as_str()) {
                unknown.insert(format!("{file}: `{span}`"));
            }
            documented.insert(name);
        }
    }
    // "`{sub1}` … `{sub5}`" names the three between as well.
    let range = Regex::new(r"`\{sub(\d)\}`\s*(?:…|\.\.\.?)\s*`\{sub(\d)\}`").unwrap();
    for (_, text) in &docs {
        for capture in range.captures_iter(text) {
            let (from, to): (u8, u8) = (capture[1].parse().unwrap(), capture[2].parse().unwrap());
            documented.extend((from..=to).map(|n| format!("sub{n}")));
        }
    }
    assert_none(&unknown, "macros the docs name that the code does not have");
    let undocumented: BTreeSet<String> = code
        .iter()
        .filter(|name| !documented.contains(**name))
        .map(|name| format!("{{{name}}}"))
        .collect();
    assert_none(&undocumented, "macros the docs never name");
}

/// Every environment variable the code reads: the command line's (all
/// subcommands), logging's, and the test suite's.
fn code_env_vars() -> BTreeSet<String> {
    fn walk(command: &clap::Command, out: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_env() {
                out.insert(name.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(&switchyard::cli::Cli::command(), &mut out);
    out.extend(switchyard::observability::LOG_ENV_VARS.map(str::to_owned));
    out.extend(
        [
            common::TEST_DATABASE_URL_ENV,
            common::chromium::CHROMIUM_ENV,
            crate::admin_postgres::SCREENSHOT_ENV,
        ]
        .map(str::to_owned),
    );
    out
}

#[test]
fn every_environment_variable_in_the_docs_exists_and_every_one_is_documented() {
    let docs = documents();
    let code = code_env_vars();
    let name = Regex::new(r"\b(SWITCHYARD_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL|RUST_LOG)\b").unwrap();
    let mut documented = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for (file, text) in &docs {
        for found in name.find_iter(text) {
            if !code.contains(found.as_str()) {
                unknown.insert(format!("{file}: {}", found.as_str()));
            }
            documented.insert(found.as_str().to_owned());
        }
    }
    assert_none(
        &unknown,
        "environment variables the docs name that the code does not read",
    );
    let undocumented: BTreeSet<String> = code.difference(&documented).cloned().collect();
    assert_none(&undocumented, "environment variables the docs never name");

    // And the lists above are the whole story: no variable is read by name
    // anywhere else in the sources.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let literal = Regex::new(r#""(SWITCHYARD_[A-Z0-9_]*[A-Z0-9])""#).unwrap();
    let mut sources = sources(&root.join("src"));
    sources.extend(self::sources(&root.join("tests")));
    let unlisted: BTreeSet<String> = sources
        .iter()
        .flat_map(|text| literal.captures_iter(text).map(|c| c[1].to_owned()))
        .filter(|found| !code.contains(found))
        .collect();
    assert_none(
        &unlisted,
        "environment variables read outside the listed places",
    );
}

/// `{param}` segments compared by position, not by name.
fn normalize(path: &str) -> String {
    Regex::new(r"\{[^}/]*\}")
        .unwrap()
        .replace_all(path, "{}")
        .into_owned()
}

/// Paths the docs name in code spans: `GET /pixel[?..]`, `/sl/{id}`,
/// `/admin/...` (a prefix). Filesystem paths are not routes.
fn documented_routes(spans: &[(String, String)]) -> Vec<(String, String)> {
    let route = Regex::new(r"^(?:(?:GET|POST|PUT|DELETE|HEAD) )?(/[A-Za-z0-9_{}./-]*)").unwrap();
    const FILESYSTEM: [&str; 9] = [
        "/proc", "/usr", "/etc", "/tmp", "/var", "/dev", "/sys", "/work", "/root",
    ];
    spans
        .iter()
        .filter_map(|(file, span)| {
            let path = route.captures(span)?[1].to_owned();
            let is_file = FILESYSTEM
                .iter()
                .any(|root| path == *root || path.starts_with(&format!("{root}/")));
            let meaningful = !path.trim_matches('/').is_empty();
            (meaningful && !is_file).then(|| (file.clone(), normalize(&path)))
        })
        .collect()
}

/// The routes of both routers, as their tables list them.
fn code_routes() -> BTreeSet<String> {
    switchyard::http::routes()
        .into_iter()
        .map(|(path, _)| path)
        .chain(
            switchyard::admin::guarded_routes()
                .into_iter()
                .map(|(path, _)| path),
        )
        .map(normalize)
        .collect()
}

#[tokio::test]
async fn every_route_in_the_docs_is_served_and_every_route_is_documented() {
    let docs = documents();
    let spans = spans(&docs);
    let mentions = documented_routes(&spans);
    let code = code_routes();

    // Asked for over real sockets on both listeners: a route exists when
    // either answers with something other than "no such route" (the
    // tracking router's bare 404, the admin fallback's `not_found`).
    let server = common::start(common::config_for(None)).await;
    common::wait_ready(server.addr).await;
    let listeners = [Some(server.addr), server.admin_addr];
    let mut unknown = BTreeSet::new();
    let mut checked = BTreeSet::new();
    for (file, path) in &mentions {
        let (exact, prefix) = match path.strip_suffix("...") {
            Some(prefix) => (None, prefix.to_owned()),
            None => (Some(path.clone()), path.clone()),
        };
        if !checked.insert((file.clone(), path.clone())) {
            continue;
        }
        let mut served = false;
        if let Some(exact) = &exact {
            for addr in listeners.iter().flatten() {
                let url = format!("http://{addr}{}", exact.replace("{}", "1"));
                let response = common::client().get(&url).send().await.unwrap();
                let status = response.status();
                let body = response.text().await.unwrap();
                let no_route = status == 404 && (body.is_empty() || body.contains("\"not_found\""));
                served |= !no_route;
            }
        }
        // A bare prefix ("`/sl` clicks", "`/admin/...`") names the routes under it.
        let under = |route: &String| {
            route == &prefix || route.starts_with(&format!("{}/", prefix.trim_end_matches('/')))
        };
        if !served && !code.iter().any(under) {
            unknown.insert(format!("{file}: `{path}`"));
        }
    }
    server.shutdown().await.unwrap();
    assert_none(&unknown, "routes the docs name that no listener serves");

    let documented: BTreeSet<&str> = mentions.iter().map(|(_, path)| path.as_str()).collect();
    let undocumented: BTreeSet<String> = code
        .iter()
        .filter(|route| !documented.contains(route.as_str()))
        .cloned()
        .collect();
    assert_none(&undocumented, "routes the docs never name");
}
