//! `deploy/grafana/switchyard.json` queries only metrics the server exports:
//! every name in its PromQL is registered somewhere in `src/` with
//! `metrics::counter!`/`gauge!`/`histogram!`, and renders under that exact
//! series name through the exporter as the server configures it. Checked
//! against the recorder directly, not a port, so it holds wherever `/metrics`
//! is served.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use regex::Regex;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

const HISTOGRAM_SERIES: &[&str] = &["_bucket", "_sum", "_count"];

/// What the issue asks the dashboard to show.
const REQUIRED: &[&str] = &[
    "switchyard_hits_total",
    "switchyard_hit_duration_seconds_bucket",
    "switchyard_events_queued",
    "switchyard_spill_bytes",
    "switchyard_snapshot_age_seconds",
    "switchyard_counter_fallbacks_total",
    "switchyard_partner_postbacks_total",
    "switchyard_kpi_runs_total",
];

fn dashboard() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/switchyard.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every PromQL expression: panel targets (rows included) and variable queries.
fn queries(dashboard: &Value) -> Vec<String> {
    fn panels(list: &Value, out: &mut Vec<String>) {
        for panel in list.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.push(target["expr"].as_str().unwrap().to_owned());
            }
            panels(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&dashboard["panels"], &mut out);
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            out.push(query.to_owned());
        }
    }
    out
}

fn series_names(expressions: &[String]) -> BTreeSet<String> {
    let name = Regex::new(r"\bswitchyard_[a-z0-9_]+").unwrap();
    expressions
        .iter()
        .flat_map(|e| name.find_iter(e).map(|m| m.as_str().to_owned()))
        .collect()
}

/// The metric names the code registers, by kind, from the macro calls in `src/`.
fn registered() -> BTreeMap<String, Kind> {
    let call = Regex::new(r#"\b(counter|gauge|histogram)!\(\s*"(switchyard_[a-z0-9_]+)""#).unwrap();
    let mut found = BTreeMap::new();
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for c in call.captures_iter(&text) {
            let kind = match &c[1] {
                "counter" => Kind::Counter,
                "gauge" => Kind::Gauge,
                _ => Kind::Histogram,
            };
            let previous = found.insert(c[2].to_owned(), kind);
            assert!(
                previous.is_none_or(|p| p == kind),
                "{} registered as two kinds",
                &c[2]
            );
        }
    }
    found
}

/// The registered metric a series belongs to: itself, or the histogram whose
/// `_bucket`, `_sum` or `_count` it is.
fn metric_of<'a>(series: &'a str, registered: &BTreeMap<String, Kind>) -> Option<&'a str> {
    if registered.contains_key(series) {
        return Some(series);
    }
    HISTOGRAM_SERIES.iter().find_map(|suffix| {
        let base = series.strip_suffix(suffix)?;
        (registered.get(base) == Some(&Kind::Histogram)).then_some(base)
    })
}

fn unknown(expressions: &[String], registered: &BTreeMap<String, Kind>) -> Vec<String> {
    series_names(expressions)
        .into_iter()
        .filter(|s| metric_of(s, registered).is_none())
        .collect()
}

/// The exporter's text with one sample of every registered metric.
fn rendered(registered: &BTreeMap<String, Kind>) -> String {
    let recorder = switchyard::observability::prometheus_builder()
        .unwrap()
        .build_recorder();
    metrics::with_local_recorder(&recorder, || {
        for (name, kind) in registered {
            match kind {
                Kind::Counter => metrics::counter!(name.clone()).increment(1),
                Kind::Gauge => metrics::gauge!(name.clone()).set(1.0),
                Kind::Histogram => metrics::histogram!(name.clone()).record(0.000_3),
            }
        }
    });
    let handle = recorder.handle();
    handle.run_upkeep();
    handle.render()
}

#[test]
fn the_dashboard_queries_only_metrics_the_server_exports() {
    let dashboard = dashboard();
    let expressions = queries(&dashboard);
    assert!(expressions.len() >= 30, "{} queries", expressions.len());
    let registered = registered();
    assert!(registered.len() >= 40, "{registered:?}");
    assert_eq!(
        registered.get("switchyard_hit_duration_seconds"),
        Some(&Kind::Histogram)
    );

    let series = series_names(&expressions);
    for required in REQUIRED {
        assert!(series.contains(*required), "the dashboard lacks {required}");
    }
    assert_eq!(unknown(&expressions, &registered), Vec::<String>::new());

    // The exact series names the PromQL uses exist in the exporter's output:
    // a histogram the exporter rendered as a summary would have no `_bucket`.
    let text = rendered(&registered);
    let exported: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = series
        .iter()
        .filter(|s| !exported.contains(s.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the Prometheus output: {missing:?}"
    );
}

#[test]
fn a_misspelled_or_mistyped_series_is_caught() {
    let registered = registered();
    let expressions = [
        "sum(rate(switchyard_hits_totl[5m]))",
        "switchyard_events_queued_bucket",
        "histogram_quantile(0.9, rate(switchyard_hit_duration_seconds_bucket[5m]))",
    ]
    .map(str::to_owned);
    assert_eq!(
        unknown(&expressions, &registered),
        vec![
            "switchyard_events_queued_bucket".to_owned(),
            "switchyard_hits_totl".to_owned()
        ]
    );
}

#[test]
fn every_panel_is_a_prometheus_panel_with_a_place_and_queries() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "switchyard");
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 30);
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "{title}: id reused"
        );
        let place = &panel["gridPos"];
        for key in ["x", "y", "w", "h"] {
            assert!(place[key].is_u64(), "{title}: gridPos.{key}");
        }
        assert!(
            place["x"].as_u64().unwrap() + place["w"].as_u64().unwrap() <= 24,
            "{title}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["type"], "prometheus", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        let refs: BTreeSet<&str> = targets
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), targets.len(), "{title}: refId reused");
    }
}
