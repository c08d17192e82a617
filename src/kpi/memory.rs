//! Hourly figures kept in memory: the simulator's store, and the shape the
//! Postgres rollups will have (one row per link, offer and hour).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::metric::Figures;
use super::run::FiguresSource;

/// Figures per link, hour (seconds since the epoch, floored) and offer.
#[derive(Debug, Default, Clone)]
pub struct HourlyFigures {
    links: FxHashMap<i64, BTreeMap<i64, FxHashMap<i64, Figures>>>,
}

const HOUR: i64 = 3_600;

fn hour_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(HOUR) * HOUR
}

impl HourlyFigures {
    /// Adds figures for clicks made at `at` (their hour is what counts).
    pub fn add(&mut self, link: i64, at: DateTime<Utc>, offer: i64, figures: &Figures) {
        self.links
            .entry(link)
            .or_default()
            .entry(hour_of(at))
            .or_default()
            .entry(offer)
            .or_default()
            .add(figures);
    }
}

impl FiguresSource for HourlyFigures {
    /// Hours that start inside `[from, to)`. A window starting mid-hour (a
    /// reset) leaves that hour out rather than read clicks from before it.
    fn figures(&self, link: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(i64, Figures)> {
        let Some(hours) = self.links.get(&link) else {
            return Vec::new();
        };
        let first = hour_of(from)
            + if from.timestamp() % HOUR == 0 {
                0
            } else {
                HOUR
            };
        let mut sums: BTreeMap<i64, Figures> = BTreeMap::new();
        for offers in hours.range(first..to.timestamp()).map(|(_, o)| o) {
            for (&offer, figures) in offers {
                sums.entry(offer).or_default().add(figures);
            }
        }
        sums.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn clicks(n: u64) -> Figures {
        Figures {
            clicks: n,
            unique_clicks: n,
            ..Figures::default()
        }
    }

    #[test]
    fn a_window_sums_the_hours_that_start_inside_it() {
        let t = |h: u32, m: u32| Utc.with_ymd_and_hms(2024, 1, 1, h, m, 0).unwrap();
        let mut store = HourlyFigures::default();
        store.add(1, t(9, 10), 7, &clicks(1));
        store.add(1, t(10, 0), 7, &clicks(2));
        store.add(1, t(10, 59), 8, &clicks(4));
        store.add(1, t(11, 0), 7, &clicks(8));
        store.add(2, t(10, 0), 7, &clicks(16));
        assert_eq!(
            store.figures(1, t(10, 0), t(11, 0)),
            vec![(7, clicks(2)), (8, clicks(4))]
        );
        assert_eq!(
            store.figures(1, t(9, 30), t(12, 0)),
            vec![(7, clicks(10)), (8, clicks(4))],
            "the hour of a mid-hour start is left out"
        );
    }
}
