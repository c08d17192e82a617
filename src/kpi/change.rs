//! Which part of an offer's history still describes it: an offer whose rate
//! moved must be judged on what it does now, not on a day or a week of the
//! old rate.
//!
//! A 24-hour window dilutes a drop: an hour after the leader's rate falls to
//! 40%, its window rate has moved by 2.5%, and evidence carried from before the
//! window dilutes it further. So each offer's latest hours (1, 2, 4, 8, and the
//! whole window) are tested against everything before them, window and carried
//! evidence (a likelihood ratio test on the metric's basis). The stretch that
//! differs most, if beyond `change_z` standard errors, is the offer's evidence
//! alone, and its carried evidence is dropped. This is the generalized
//! likelihood ratio idea of change-detecting bandits (Besson & Kaufmann,
//! GLR-klUCB) on the few splits a run can read cheaply.

use super::KpiMetric;
use super::carry::{CarriedOffer, Evidence, History, basis};
use super::metric::Figures;

/// Each offer's evidence, and what it carries on to the next run.
pub(super) fn evidence(
    metric: KpiMetric,
    offers: &[(i64, Figures)],
    history: &History,
    change_z: f64,
) -> (Vec<Evidence>, Vec<CarriedOffer>) {
    let mut kept = Vec::with_capacity(history.carried.len());
    let all = offers
        .iter()
        .map(|(id, figures)| {
            let window = Evidence::of(figures);
            let carried = history.carried.iter().filter(|c| c.offer_id == *id);
            let had_carried = carried.clone().next().is_some();
            let before = carried.fold(Evidence::default(), |sum, c| sum.plus(&c.evidence));
            let all = window.plus(&before);
            let stretches = history
                .recent
                .iter()
                .filter_map(|recent| recent.iter().find(|(r, _)| r == id))
                .map(|(_, f)| Evidence::of(f))
                .chain(std::iter::once(window));
            let mut best: Option<(f64, Evidence)> = None;
            for latest in stretches {
                let z = z(metric, &latest, &all.minus(&latest));
                if z > change_z && best.is_none_or(|(b, _)| z > b) {
                    best = Some((z, latest));
                }
            }
            match best {
                Some((_, latest)) => latest,
                None => {
                    if had_carried {
                        kept.push(CarriedOffer {
                            offer_id: *id,
                            evidence: before,
                        });
                    }
                    all
                }
            }
        })
        .collect();
    (all, kept)
}

/// How far apart `latest`'s and `before`'s rates are, in standard errors:
/// `sqrt(2 · log likelihood ratio)` of two Poisson rates against one (the
/// model's likelihood, `explore`). Unlike a z test on the difference, it
/// stays calibrated for the few conversions an offer at the floor gets in an
/// hour (one conversion in 5 clicks at 2% is 1.7, not 2.9). 0 when either
/// side has no base or nothing converted at all.
fn z(metric: KpiMetric, latest: &Evidence, before: &Evidence) -> f64 {
    let (l, b) = (basis(metric, latest), basis(metric, before));
    if l.base <= 0.0 || b.base <= 0.0 {
        return 0.0;
    }
    let pooled = (l.successes + b.successes) / (l.base + b.base);
    if pooled <= 0.0 {
        return 0.0;
    }
    let part = |k: f64, n: f64| {
        let expected = n * pooled;
        let log_term = if k > 0.0 {
            k * (k / expected).ln()
        } else {
            0.0
        };
        log_term - k + expected
    };
    let llr = part(l.successes, l.base) + part(b.successes, b.base);
    (2.0 * llr.max(0.0)).sqrt()
}
