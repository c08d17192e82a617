//! Per-hit metrics with their handles resolved once: looking a labelled metric up
//! by name on every hit costs more than the rest of the decision.

use std::sync::OnceLock;

use metrics::{Counter, Histogram};

use crate::events::HitKind;
use crate::rules::RuleCode;

struct KindMetrics {
    redirected: Counter,
    /// Indexed like `RuleCode::ALL`.
    discarded: Vec<Counter>,
    duration: Histogram,
}

impl KindMetrics {
    fn new(kind: &'static str) -> Self {
        Self {
            redirected: metrics::counter!("switchyard_hits_total", "kind" => kind, "outcome" => "redirected", "rule" => ""),
            discarded: RuleCode::ALL
                .iter()
                .map(|rule| {
                    metrics::counter!("switchyard_hits_total", "kind" => kind, "outcome" => "discarded", "rule" => rule.as_str())
                })
                .collect(),
            duration: metrics::histogram!("switchyard_hit_duration_seconds", "kind" => kind),
        }
    }
}

struct HitMetrics {
    click: KindMetrics,
    impression: KindMetrics,
}

/// Resolved on the first hit, which comes after `observability::prometheus`
/// installed the recorder at start-up.
fn handles() -> &'static HitMetrics {
    static HANDLES: OnceLock<HitMetrics> = OnceLock::new();
    HANDLES.get_or_init(|| HitMetrics {
        click: KindMetrics::new("click"),
        impression: KindMetrics::new("impression"),
    })
}

fn for_kind(kind: HitKind) -> &'static KindMetrics {
    match kind {
        HitKind::Click => &handles().click,
        HitKind::Impression => &handles().impression,
    }
}

pub fn count(kind: HitKind, discarded_by: Option<RuleCode>) {
    let metrics = for_kind(kind);
    match discarded_by {
        None => metrics.redirected.increment(1),
        Some(rule) => {
            if let Some(counter) = RuleCode::ALL
                .iter()
                .position(|r| *r == rule)
                .and_then(|i| metrics.discarded.get(i))
            {
                counter.increment(1);
            }
        }
    }
}

pub fn observe_duration(kind: HitKind, seconds: f64) {
    for_kind(kind).duration.record(seconds);
}
