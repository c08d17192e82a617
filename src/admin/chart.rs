//! A line chart as inline SVG: x is the run time, one series per offer, each
//! a `<g class="series series-{kind}" data-offer="ID">` holding its lines and
//! points. Runs where an offer has no value leave a gap in its line.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;
const Y_TICKS: u32 = 4;

/// Tableau 10: distinct, and readable for the common colour blindnesses.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

pub fn color(index: usize) -> &'static str {
    PALETTE[index % PALETTE.len()]
}

/// One offer's series.
pub struct Line {
    pub offer_id: i64,
    pub label: String,
    pub color: &'static str,
    pub points: Vec<(DateTime<Utc>, Option<f64>)>,
}

/// `fixed`: the y range to draw (shares: 0 to 1); `None`: from the data,
/// always including zero.
pub fn render(
    kind: &str,
    title: &str,
    lines: &[Line],
    format: impl Fn(f64) -> String,
    fixed: Option<(f64, f64)>,
) -> Markup {
    let scale = Scale::fit(lines, fixed);
    let times = run_times(lines);
    let series_class = format!("series series-{kind}");
    html! {
        figure class={ "chart chart-" (kind) } {
            figcaption { (title) }
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(title) {
                g.grid {
                    @for tick in 0..=Y_TICKS {
                        @let value = scale.y0 + (scale.y1 - scale.y0) * f64::from(tick) / f64::from(Y_TICKS);
                        @let y = scale.y(value);
                        line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) {}
                        text.tick x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (format(value)) }
                    }
                }
                g.x-axis {
                    @for (at, anchor) in x_labels(&times) {
                        text.tick x=(scale.x(at)) y=(HEIGHT - 10.0) text-anchor=(anchor) { (at.format("%m-%d %H:%M")) }
                    }
                }
                @for line in lines {
                    g class=(series_class) data-offer=(line.offer_id) {
                        title { (line.label) }
                        @for segment in segments(&line.points) {
                            @if segment.len() > 1 {
                                polyline fill="none" stroke=(line.color) stroke-width="2"
                                    points=(polyline_points(&scale, &segment)) {}
                            }
                        }
                        @for (at, value) in line.points.iter().filter_map(|(at, v)| v.map(|v| (*at, v))) {
                            circle cx=(scale.x(at)) cy=(scale.y(value)) r="3" fill=(line.color) {
                                title { (line.label) ": " (format(value)) " at " (at.format("%Y-%m-%d %H:%M UTC")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Maps run times and values to the plot area.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    x0: i64,
    x1: i64,
    y0: f64,
    y1: f64,
}

impl Scale {
    fn fit(lines: &[Line], fixed: Option<(f64, f64)>) -> Self {
        let times = run_times(lines);
        let (x0, x1) = match (times.first(), times.last()) {
            (Some(first), Some(last)) => (first.timestamp_millis(), last.timestamp_millis()),
            _ => (0, 0),
        };
        let (y0, y1) = fixed.unwrap_or_else(|| {
            let values = lines
                .iter()
                .flat_map(|l| l.points.iter().filter_map(|(_, v)| *v))
                .filter(|v| v.is_finite());
            let (lo, hi) = values.fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
            if hi > lo {
                (lo, hi + (hi - lo) * 0.05)
            } else {
                (lo, lo + 1.0)
            }
        });
        Scale { x0, x1, y0, y1 }
    }

    fn x(&self, at: DateTime<Utc>) -> f64 {
        let width = WIDTH - LEFT - RIGHT;
        if self.x1 <= self.x0 {
            return LEFT + width / 2.0;
        }
        let t = (at.timestamp_millis() - self.x0) as f64 / (self.x1 - self.x0) as f64;
        round(LEFT + t * width)
    }

    fn y(&self, value: f64) -> f64 {
        let height = HEIGHT - TOP - BOTTOM;
        let t = ((value - self.y0) / (self.y1 - self.y0)).clamp(0.0, 1.0);
        round(TOP + (1.0 - t) * height)
    }
}

/// Keeps the markup short: a tenth of a unit is finer than a pixel.
fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn run_times(lines: &[Line]) -> Vec<DateTime<Utc>> {
    let mut times: Vec<DateTime<Utc>> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|(at, _)| *at))
        .collect();
    times.sort_unstable();
    times.dedup();
    times
}

/// The first, middle and last run times, anchored so they stay inside.
fn x_labels(times: &[DateTime<Utc>]) -> Vec<(DateTime<Utc>, &'static str)> {
    match times {
        [] => Vec::new(),
        [only] => vec![(*only, "middle")],
        [first, .., last] if times.len() < 3 => vec![(*first, "start"), (*last, "end")],
        [first, .., last] => vec![
            (*first, "start"),
            (times[times.len() / 2], "middle"),
            (*last, "end"),
        ],
    }
}

/// Runs of consecutive measured points.
fn segments(points: &[(DateTime<Utc>, Option<f64>)]) -> Vec<Vec<(DateTime<Utc>, f64)>> {
    let mut all = vec![Vec::new()];
    for (at, value) in points {
        match value {
            Some(v) if v.is_finite() => all.last_mut().into_iter().for_each(|s| s.push((*at, *v))),
            _ => all.push(Vec::new()),
        }
    }
    all.retain(|s| !s.is_empty());
    all
}

fn polyline_points(scale: &Scale, segment: &[(DateTime<Utc>, f64)]) -> String {
    segment
        .iter()
        .map(|(at, v)| format!("{},{}", scale.x(*at), scale.y(*v)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, hour, 0, 0).unwrap()
    }

    fn line(id: i64, points: Vec<(DateTime<Utc>, Option<f64>)>) -> Line {
        Line {
            offer_id: id,
            label: format!("#{id}"),
            color: color(0),
            points,
        }
    }

    #[test]
    fn the_scale_spans_the_runs_and_includes_zero() {
        let lines = [line(1, vec![(at(1), Some(2.0)), (at(3), Some(4.0))])];
        let scale = Scale::fit(&lines, None);
        assert_eq!(scale.x(at(1)), LEFT);
        assert_eq!(scale.x(at(3)), WIDTH - RIGHT);
        assert_eq!(scale.y(0.0), HEIGHT - BOTTOM, "zero sits on the floor");
        assert!(scale.y(4.0) > TOP, "headroom above the highest value");
    }

    #[test]
    fn one_run_or_no_values_still_draw() {
        let lines = [line(1, vec![(at(1), None)])];
        let scale = Scale::fit(&lines, None);
        assert_eq!(scale.x(at(1)), LEFT + (WIDTH - LEFT - RIGHT) / 2.0);
        assert_eq!((scale.y0, scale.y1), (0.0, 1.0));
    }

    #[test]
    fn gaps_split_a_line() {
        let points = vec![
            (at(1), Some(1.0)),
            (at(2), None),
            (at(3), Some(2.0)),
            (at(4), Some(3.0)),
        ];
        let parts = segments(&points);
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn each_offer_is_one_series_group() {
        let lines = [
            line(1, vec![(at(1), Some(0.5)), (at(2), Some(0.25))]),
            line(2, vec![(at(1), Some(0.5)), (at(2), Some(0.75))]),
        ];
        let svg = render(
            "share",
            "Share",
            &lines,
            |v| v.to_string(),
            Some((0.0, 1.0)),
        )
        .into_string();
        assert_eq!(svg.matches("class=\"series series-share\"").count(), 2);
        assert!(svg.contains("data-offer=\"2\""));
        assert_eq!(svg.matches("<polyline").count(), 2);
    }
}
