//! What the admin page draws from recorded runs: each run's per-offer rows
//! read back from its `figures`, the traffic share the run meant each offer
//! to get, and per-offer series of metric and share across runs.
//!
//! Pure: it reads `RunSummary` values the caller loaded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::show::RunSummary;

/// One offer's entry in a run's `figures` (written by `kpi::record`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOffer {
    pub offer_id: i64,
    pub clicks: u64,
    pub unique_clicks: u64,
    pub conversions: u64,
    pub events: u64,
    /// Currency units as text, as recorded (`Micros` printed).
    pub payout: String,
    pub revenue: String,
    pub value: Option<f64>,
    pub rank: Option<u32>,
    pub share: Option<f64>,
}

/// The offers of a run's `figures`; entries that do not read back (a format
/// from an older release, say) are left out rather than failing the page.
pub fn offers(figures: &serde_json::Value) -> Vec<RunOffer> {
    match figures {
        serde_json::Value::Array(entries) => entries
            .iter()
            .filter_map(|entry| RunOffer::deserialize(entry).ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// The share of traffic `run` meant `offer_id` to get: an explore run's
/// recorded share; for a rank run, all of it for the top-ranked offer (before
/// fall-through); below the threshold, an even spread over the run's offers.
pub fn intended_share(run: &RunSummary, offers: &[RunOffer], offer_id: i64) -> Option<f64> {
    let entry = offers.iter().find(|o| o.offer_id == offer_id)?;
    if let Some(share) = entry.share {
        return Some(share);
    }
    if run.threshold_met
        && let Some(top) = run.ranking.first()
    {
        return Some(if *top == offer_id { 1.0 } else { 0.0 });
    }
    Some(1.0 / offers.len() as f64)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoint {
    pub ran_at: DateTime<Utc>,
    /// The metric's value; `None`: not measured in that run.
    pub value: Option<f64>,
    pub share: f64,
}

/// One offer across runs, oldest run first; runs the offer was not part of
/// have no point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferSeries {
    pub offer_id: i64,
    pub points: Vec<SeriesPoint>,
}

/// A series for each of `offer_ids`, in that order, over `runs` (newest
/// first, as the overview lists them).
pub fn series(runs: &[RunSummary], offer_ids: &[i64]) -> Vec<OfferSeries> {
    let read: Vec<(&RunSummary, Vec<RunOffer>)> = runs
        .iter()
        .rev()
        .map(|run| (run, offers(&run.figures)))
        .collect();
    offer_ids
        .iter()
        .map(|&offer_id| OfferSeries {
            offer_id,
            points: read
                .iter()
                .filter_map(|(run, entries)| {
                    let share = intended_share(run, entries, offer_id)?;
                    let value = entries
                        .iter()
                        .find(|o| o.offer_id == offer_id)
                        .and_then(|o| o.value);
                    Some(SeriesPoint {
                        ran_at: run.ran_at,
                        value,
                        share,
                    })
                })
                .collect(),
        })
        .collect()
}

/// What a run changed, against the run before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Changed, and the run before it is not on the page (or there was none).
    Changed,
    Unchanged,
    /// The top of the ranking moved; `from` is `None` when the previous run
    /// had no ranking (threshold not met).
    NewLeader {
        from: Option<i64>,
        to: Option<i64>,
    },
    /// Same leader, other order below it.
    Reordered,
    /// No ranking (threshold not met): traffic went back to an even spread.
    EvenSpread,
}

/// `previous`: the run listed before `run`, when the page has it.
pub fn change(run: &RunSummary, previous: Option<&RunSummary>) -> Change {
    if !run.ranking_changed {
        return Change::Unchanged;
    }
    if run.ranking.is_empty() {
        return Change::EvenSpread;
    }
    let Some(previous) = previous else {
        return Change::Changed;
    };
    let (from, to) = (
        previous.ranking.first().copied(),
        run.ranking.first().copied(),
    );
    if from == to {
        Change::Reordered
    } else {
        Change::NewLeader { from, to }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn run(
        hour: u32,
        threshold_met: bool,
        ranking: &[i64],
        figures: serde_json::Value,
    ) -> RunSummary {
        let ran_at = Utc.with_ymd_and_hms(2024, 1, 1, hour, 0, 0).unwrap();
        RunSummary {
            id: i64::from(hour),
            ran_at,
            window_start: ran_at - chrono::Duration::hours(24),
            window_end: ran_at,
            threshold_met,
            ranking: ranking.to_vec(),
            shares: None,
            ranking_changed: true,
            figures,
        }
    }

    fn entry(offer_id: i64, value: Option<f64>, share: Option<f64>) -> serde_json::Value {
        json!({
            "offer_id": offer_id, "clicks": 10, "unique_clicks": 10, "conversions": 1,
            "events": 0, "payout": "1", "revenue": "2", "value": value,
            "rank": null, "share": share,
        })
    }

    #[test]
    fn a_rank_run_means_all_traffic_for_its_leader() {
        let figures = json!([entry(1, Some(0.1), None), entry(2, Some(0.3), None)]);
        let r = run(1, true, &[2, 1], figures);
        let read = offers(&r.figures);
        assert_eq!(intended_share(&r, &read, 2), Some(1.0));
        assert_eq!(intended_share(&r, &read, 1), Some(0.0));
        assert_eq!(intended_share(&r, &read, 9), None, "not in the run");
    }

    #[test]
    fn below_the_threshold_traffic_is_even() {
        let figures = json!([
            entry(1, None, None),
            entry(2, None, None),
            entry(3, None, None)
        ]);
        let r = run(1, false, &[], figures);
        let read = offers(&r.figures);
        assert_eq!(intended_share(&r, &read, 3), Some(1.0 / 3.0));
    }

    #[test]
    fn series_run_oldest_first_with_recorded_explore_shares() {
        let newer = run(
            2,
            true,
            &[1, 2],
            json!([entry(1, Some(0.2), Some(0.7)), entry(2, None, Some(0.3))]),
        );
        let older = run(
            1,
            true,
            &[2, 1],
            json!([
                entry(1, Some(0.1), Some(0.4)),
                entry(2, Some(0.3), Some(0.6))
            ]),
        );
        let all = series(&[newer, older], &[2, 1]);
        assert_eq!(
            all.iter().map(|s| s.offer_id).collect::<Vec<_>>(),
            vec![2, 1]
        );
        let one = &all[1];
        assert_eq!(one.points[0].value, Some(0.1));
        assert_eq!(one.points[1].share, 0.7);
        assert_eq!(all[0].points[1].value, None, "unmeasured stays unmeasured");
    }

    #[test]
    fn a_new_leader_is_named_and_a_reorder_is_not() {
        let figures = json!([]);
        let before = run(1, true, &[1, 2, 3], figures.clone());
        let leader = run(2, true, &[2, 1, 3], figures.clone());
        let reorder = run(2, true, &[1, 3, 2], figures.clone());
        assert_eq!(
            change(&leader, Some(&before)),
            Change::NewLeader {
                from: Some(1),
                to: Some(2)
            }
        );
        assert_eq!(change(&reorder, Some(&before)), Change::Reordered);
        assert_eq!(change(&before, None), Change::Changed);
        let below = run(3, false, &[], figures.clone());
        assert_eq!(change(&below, Some(&leader)), Change::EvenSpread);
        let mut same = before.clone();
        same.ranking_changed = false;
        assert_eq!(change(&same, Some(&before)), Change::Unchanged);
    }

    #[test]
    fn unreadable_figures_are_left_out() {
        let figures = json!([{"offer_id": 1}, entry(2, None, None)]);
        assert_eq!(offers(&figures).len(), 1);
        assert!(offers(&json!(null)).is_empty());
    }
}
