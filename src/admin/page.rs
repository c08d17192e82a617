//! The KPI page of one smart link: the overview card, the current ranking,
//! the chart and the run record table. Server-rendered with `maud`, which
//! escapes every spliced value, so names from the catalog cannot add markup.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::chart::{self, Line};
use super::link_kpi::LinkKpi;
use crate::kpi::history::{self, Change, RunOffer};
use crate::kpi::show::RunSummary;
use crate::kpi::{KpiMetric, KpiStrategy};

const STYLE: &str = include_str!("page.css");

pub fn render(kpi: &LinkKpi) -> Markup {
    let o = &kpi.overview;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Smart link " (o.smart_link_id) " · " (o.name) " · Switchyard" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    p.crumb { "Switchyard admin · smart links" }
                    h1 { "Smart link " (o.smart_link_id) " · " span.name { (o.name) } }
                }
                @if !kpi.is_kpi() {
                    p.notice.not-kpi {
                        "Not a KPI link: it routes by " strong { (mechanism(kpi)) }
                        ". Its KPI settings are stored but unused, and no run steers its traffic."
                    }
                }
                (card(kpi))
                (ranking(kpi))
                (charts(kpi))
                (runs(kpi))
            }
        }
    }
}

fn card(kpi: &LinkKpi) -> Markup {
    let o = &kpi.overview;
    let last = o.current.as_ref();
    html! {
        section.card #overview {
            h2 { "KPI overview" }
            dl {
                div { dt { "Mechanism" } dd { (mechanism(kpi)) } }
                div { dt { "Metric" } dd { (metric_name(o.metric)) } }
                div { dt { "Goal" } dd { @match o.goal { Some(goal) => (format_value(o.metric, goal)), None => "highest first" } } }
                div { dt { "Threshold" } dd { (o.min_clicks) " clicks" } }
                div { dt { "Frequency" } dd { "every " (o.frequency_hours) " h" } }
                div { dt { "Lookback" } dd { (o.lookback_hours) " h" } }
                div { dt { "Strategy" } dd { (strategy_name(o.strategy)) } }
                div { dt { "Reset" } dd { @match o.optimization_reset_at { Some(at) => (time(at)), None => "never" } } }
                div { dt { "Last run" } dd #last-run { @match last { Some(run) => (time(run.ran_at)), None => "none since the reset" } } }
                div { dt { "Next run" } dd #next-run { @match o.next_run { Some(at) => (time(at)), None => "due now" } } }
            }
        }
    }
}

fn ranking(kpi: &LinkKpi) -> Markup {
    let o = &kpi.overview;
    let Some(run) = &o.current else {
        return html! {
            section #ranking {
                h2 { "Current ranking" }
                p.empty { "No run since the reset: traffic is spread evenly." }
            }
        };
    };
    let mut offers = history::offers(&run.figures);
    // Best first, as routing reads the run; unranked offers after, by id.
    offers.sort_by_key(|offer| {
        let position = run.ranking.iter().position(|id| *id == offer.offer_id);
        (position.unwrap_or(usize::MAX), offer.offer_id)
    });
    let clicks: u64 = offers.iter().map(|offer| offer.clicks).sum();
    html! {
        section #ranking {
            h2 { "Current ranking" }
            p.summary {
                (clicks) " clicks in the window " (time(run.window_start)) " – " (time(run.window_end))
                @if run.threshold_met {
                    " (threshold " (o.min_clicks) " met)."
                } @else {
                    span.warn { " — below the threshold of " (o.min_clicks) " clicks: traffic is spread evenly." }
                }
            }
            table.ranking {
                thead { tr {
                    th { "Rank" } th { "Offer" } th.num { "Clicks" } th.num { "Unique" }
                    th.num { "Conv." } th.num { "Events" } th.num { "Payout" } th.num { "Revenue" }
                    th.num { (metric_name(o.metric)) } th.num { "Share" }
                } }
                tbody {
                    @for offer in &offers {
                        (ranking_row(kpi, run, &offers, offer))
                    }
                }
            }
        }
    }
}

fn ranking_row(kpi: &LinkKpi, run: &RunSummary, offers: &[RunOffer], offer: &RunOffer) -> Markup {
    let metric = kpi.overview.metric;
    let share = history::intended_share(run, offers, offer.offer_id);
    html! {
        tr.offer data-offer=(offer.offer_id) {
            td.rank { @match offer.rank { Some(rank) => (rank), None => "–" } }
            td { (offer_name(kpi, offer.offer_id)) }
            td.num { (offer.clicks) }
            td.num { (offer.unique_clicks) }
            td.num { (offer.conversions) }
            td.num { (offer.events) }
            td.num { (offer.payout) }
            td.num { (offer.revenue) }
            td.num { @match offer.value { Some(value) => (format_value(metric, value)), None => "no data" } }
            td.num { @match share { Some(share) => (percent(share)), None => "–" } }
        }
    }
}

fn charts(kpi: &LinkKpi) -> Markup {
    let metric = kpi.overview.metric;
    let lines = |pick: fn(&history::SeriesPoint) -> Option<f64>| -> Vec<Line> {
        kpi.series
            .iter()
            .enumerate()
            .map(|(index, series)| Line {
                offer_id: series.offer_id,
                label: offer_name(kpi, series.offer_id),
                color: chart::color(index),
                points: series.points.iter().map(|p| (p.ran_at, pick(p))).collect(),
            })
            .collect()
    };
    html! {
        section #charts {
            h2 { "Across runs" }
            @if kpi.overview.runs.is_empty() {
                p.empty { "No runs yet." }
            } @else {
                div.charts {
                    (chart::render("metric", &format!("{} per run", metric_name(metric)), &lines(|p| p.value), |v| format_value(metric, v), None))
                    (chart::render("share", "Traffic share per run", &lines(|p| Some(p.share)), percent, Some((0.0, 1.0))))
                }
                ul.legend {
                    @for (index, series) in kpi.series.iter().enumerate() {
                        li.legend-item data-offer=(series.offer_id) {
                            span.swatch style={ "background:" (chart::color(index)) } {}
                            (offer_name(kpi, series.offer_id))
                        }
                    }
                }
            }
        }
    }
}

fn runs(kpi: &LinkKpi) -> Markup {
    let runs = &kpi.overview.runs;
    html! {
        section #runs {
            h2 { "Run record" span.count { " (last " (runs.len()) ")" } }
            @if runs.is_empty() {
                p.empty { "No runs recorded." }
            } @else {
                table.runs {
                    thead { tr {
                        th { "Ran at" } th { "Window" } th { "Threshold" } th { "Ranking" } th { "Change" }
                    } }
                    tbody {
                        @for (index, run) in runs.iter().enumerate() {
                            tr.run data-run=(run.id) {
                                td { (time(run.ran_at)) }
                                td.window { (short_time(run.window_start)) " – " (short_time(run.window_end)) }
                                td { @if run.threshold_met { "met" } @else { span.warn { "not met" } } }
                                td {
                                    @if run.ranking.is_empty() {
                                        "even spread"
                                    } @else {
                                        ol.ranking-list {
                                            @for (position, offer_id) in run.ranking.iter().enumerate() {
                                                li data-offer=(offer_id) {
                                                    (offer_name(kpi, *offer_id))
                                                    @if let Some(share) = run.shares.as_ref().and_then(|s| s.get(position)) {
                                                        " " span.share { (percent(*share)) }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                                td { (change(kpi, history::change(run, runs.get(index + 1)))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn change(kpi: &LinkKpi, change: Change) -> Markup {
    html! {
        @match change {
            Change::Unchanged => span.quiet { "no change" },
            Change::Changed => "ranking changed",
            Change::Reordered => "reordered below the leader",
            Change::EvenSpread => "no ranking: even spread",
            Change::NewLeader { from, to } => {
                "new leader: "
                @match to { Some(id) => (offer_name(kpi, id)), None => "none" }
                @if let Some(id) = from { span.quiet { " (was " (offer_name(kpi, id)) ")" } }
            },
        }
    }
}

/// `#id name`, or `#id` alone for an offer gone from the catalog.
fn offer_name(kpi: &LinkKpi, offer_id: i64) -> String {
    match kpi.name_of(offer_id) {
        Some(name) => format!("#{offer_id} {name}"),
        None => format!("#{offer_id}"),
    }
}

fn mechanism(kpi: &LinkKpi) -> &'static str {
    use crate::catalog::source::RedirectMechanism;
    match kpi.overview.mechanism {
        RedirectMechanism::Priority => "priority",
        RedirectMechanism::Weight => "weight",
        RedirectMechanism::Kpi => "KPI",
    }
}

fn metric_name(metric: KpiMetric) -> &'static str {
    match metric {
        KpiMetric::Cv => "CV",
        KpiMetric::Cvr => "CVR",
        KpiMetric::Evr => "EVR",
        KpiMetric::Rpc => "RPC",
        KpiMetric::Cpc => "CPC",
        KpiMetric::Epc => "EPC",
        KpiMetric::Payout => "Payout",
        KpiMetric::Profit => "Profit",
        KpiMetric::Revenue => "Revenue",
    }
}

fn strategy_name(strategy: KpiStrategy) -> &'static str {
    match strategy {
        KpiStrategy::Rank => "rank (top-ranked offer first)",
        KpiStrategy::Explore => "explore (traffic shares)",
    }
}

/// Rates as percentages, money per click to four places, sums to two.
pub fn format_value(metric: KpiMetric, value: f64) -> String {
    match metric {
        KpiMetric::Cvr | KpiMetric::Evr => format!("{:.2}%", value * 100.0),
        KpiMetric::Cv => format!("{value:.0}"),
        KpiMetric::Rpc | KpiMetric::Cpc | KpiMetric::Epc => format!("{value:.4}"),
        KpiMetric::Payout | KpiMetric::Profit | KpiMetric::Revenue => format!("{value:.2}"),
    }
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// For the run table's windows, whose year the run's time already gives.
fn short_time(at: DateTime<Utc>) -> String {
    at.format("%m-%d %H:%M").to_string()
}
