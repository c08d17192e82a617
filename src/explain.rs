//! `switchyard explain URL`: the decision trace of one hit, without recording it.
//!
//! Loads the catalog the way `serve` does and routes the hit through the same
//! functions, but against fresh, empty in-process counters: nothing real is
//! consumed, and caps, recency, rate limits and duplicate filters are judged
//! as if this were the first hit of the period.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::Serialize;

use crate::catalog::{self, Catalog, Origin};
use crate::config::EnrichmentConfig;
use crate::counters::CounterStore;
use crate::routing::smart_link::decide_smart_link;
use crate::routing::{self, Decision, Inputs, TraceStep, TransactionId};
use crate::rules::RuleCode;
use crate::visit::cookie::visitor_cookie;
use crate::visit::{TrackingParams, Visit};

mod text;

const COUNTERS_NOTE: &str = "caps, budgets, recency, rate limits and duplicate filters were \
evaluated against empty counters (nothing was consumed or recorded): a real hit may still be \
refused by them";

/// The order the rules judge a candidate in (`rules::engine`, then the
/// third-party checks, then the reservation, then the duplicate filter), each under the code a refusal is
/// recorded with; a smart link's own targeting comes before all of them and
/// is recorded as `ADVANCED_TARGETING_MISMATCH` with detail `link_targeting`.
/// The reservation checks caps in the catalog's order, so a budget row before
/// the refusing one may not have been reached. The browser-side rules come
/// last: they are judged on the interstitial's second hop, for the offer that
/// took the hit.
const RULE_ORDER: &[(RuleCode, Option<&str>)] = &[
    (
        RuleCode::AdvancedTargetingMismatch,
        Some(LINK_TARGETING_DETAIL),
    ),
    (RuleCode::InactivePublisher, None),
    (RuleCode::InactiveOffer, None),
    (RuleCode::InactiveAdvertiser, None),
    (RuleCode::AdvertiserBlockedPublisher, None),
    (RuleCode::PublisherNotApproved, None),
    (RuleCode::BlacklistedSubId, None),
    (RuleCode::InvalidUserIdentifier, None),
    (RuleCode::TrafficControl, None),
    (RuleCode::OfferTargetingMismatch, None),
    (RuleCode::AdvancedTargetingMismatch, None),
    (RuleCode::TrafficTargeting, None),
    (RuleCode::AnonymousProxyIp, None),
    (RuleCode::SearchLatency, None),
    (RuleCode::AdvertiserPrevalidation, None),
    (RuleCode::AnuraDirect, None),
    (RuleCode::ClickBudgetReached, None),
    (RuleCode::BudgetReached, None),
    (RuleCode::IpRecency, None),
    (RuleCode::Recency, None),
    (RuleCode::IpRateLimit, None),
    (RuleCode::IpUaRateLimit, None),
    (RuleCode::DuplicateClick, None),
    (RuleCode::AdscoreScript, None),
    (RuleCode::AnuraScript, None),
    (RuleCode::ClientSideSearchLatency, None),
];

/// The verdict of an active browser-side rule: the hit would get the page,
/// and the rule's verdict would come with the second hop.
const INTERSTITIAL: &str = "interstitial";

/// The trace detail of a smart link's own targeting refusal.
const LINK_TARGETING_DETAIL: &str = "link_targeting";

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The tracking link, e.g. 'https://go.example/sl/3?affid=7&sub1=x' or '/c?oid=1&affid=1'.
    url: String,
    /// Client IP of the hit.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// User agent of the hit.
    #[arg(long, default_value = "")]
    ua: String,
    /// Extra request header, e.g. 'Accept-Language: de' or 'Cookie: sy_uid=..'.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// `json` (everything), or `text`: the candidates, each rule's verdict and
    /// the outcome, for a person.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Postgres URL to load the catalog from, as `serve` does.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Catalog file used without DATABASE_URL; default: the embedded demo network.
    #[arg(long, env = "SWITCHYARD_CATALOG_FILE")]
    catalog_file: Option<PathBuf>,
    /// The GeoIP and user-agent settings of `serve`.
    #[command(flatten)]
    enrichment: EnrichmentConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Json,
    Text,
}

#[derive(Debug, Serialize)]
struct Explanation<'a> {
    url: &'a str,
    counters: &'static str,
    visit: &'a Visit,
    candidates: Vec<Candidate>,
    decision: &'a Decision,
}

/// One offer judged for the hit, in order.
#[derive(Debug, Serialize)]
struct Candidate {
    offer_id: i64,
    offer_name: Option<String>,
    via: &'static str,
    took_the_hit: bool,
    /// The code the refusal is recorded with, as in `clicks.discard_rule`.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused_by: Option<RuleCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'static str>,
    /// Each rule's verdict, in the order they run.
    rules: Vec<RuleVerdict>,
}

/// One rule's verdict for a candidate: `pass` (passed or not active),
/// `refused`, `not_reached`, or `not_run` (an active third-party check,
/// which explain never calls).
#[derive(Debug, Serialize)]
struct RuleVerdict {
    rule: RuleCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'static str>,
    verdict: &'static str,
}

pub async fn run(args: ExplainArgs) -> anyhow::Result<()> {
    let catalog = load_catalog(args.database_url.as_deref(), args.catalog_file.as_deref()).await?;
    let enricher = crate::app::build_enricher(&args.enrichment)?;
    let headers = parse_headers(&args.headers)?;
    let header = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let (url_host, path, query) = split_url(&args.url);
    let smart_link = match path.strip_prefix("/sl/") {
        Some(id) => Some(
            id.parse::<i64>()
                .context("the smart link id must be a number")?,
        ),
        None if path == "/c" => None,
        None => anyhow::bail!("explain knows /c and /sl/{{id}} links, got path `{path}`"),
    };
    let params = TrackingParams::parse(query, smart_link.is_none())
        .with_context(|| format!("parsing the query `{query}`"))?;
    let mut visit = Visit::bare(params, args.ip, &args.ua);
    visit.host = header("host").next().or(url_host).map(|h| {
        h.rsplit_once(':')
            .map_or(h, |(name, _)| name)
            .to_ascii_lowercase()
    });
    visit.click_cookie = visitor_cookie(header("cookie"));
    let languages: Vec<&str> = header("accept-language").collect();
    let languages = (!languages.is_empty()).then(|| languages.join(", "));
    enricher.enrich(&mut visit, languages.as_deref());

    let (decision, trace) = decide_traced(&catalog, &visit, smart_link).await;
    let partner_id = visit.params.partner_id;
    let explanation = Explanation {
        url: &args.url,
        counters: COUNTERS_NOTE,
        visit: &visit,
        candidates: trace
            .iter()
            .map(|s| candidate(&catalog, partner_id, s))
            .collect(),
        decision: &decision,
    };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&explanation)?),
        Format::Text => print!("{}", text::render(&explanation)),
    }
    Ok(())
}

/// The hit's decision and trace, against empty counters and without calling
/// any provider (calls may be billed, and would be real traffic): an active
/// check is recorded as `not_run`.
async fn decide_traced(
    catalog: &Catalog,
    visit: &Visit,
    smart_link: Option<i64>,
) -> (Decision, Vec<TraceStep>) {
    let counters = CounterStore::local_only(None);
    let checks = crate::checks::HitChecks::off();
    let now = Utc::now();
    let inputs = Inputs {
        transaction_id: TransactionId::new(now, &mut rand::rng()),
        catalog,
        counters: &counters,
        visit,
        now,
        checks: &checks,
    };
    let mut trace = Vec::new();
    let decision = match smart_link {
        Some(id) => {
            let mut rng = SmallRng::from_rng(&mut rand::rng());
            decide_smart_link(&inputs, id, &mut rng, Some(&mut trace)).await
        }
        None => routing::decide_offer_click(&inputs, Some(&mut trace)).await,
    };
    let decision = Decision {
        checks: checks.into_verdicts(),
        ..decision
    };
    (decision, trace)
}

fn candidate(catalog: &Catalog, partner_id: Option<i64>, step: &TraceStep) -> Candidate {
    let offer = catalog.offer(step.offer_id);
    let active_check = |rule: RuleCode| {
        crate::checks::is_check(rule)
            && offer.is_some_and(|o| {
                let overrides =
                    partner_id.map_or(&[][..], |p| catalog.rule_table.partner_overrides(p));
                o.rules.with_partner(overrides).is_active(rule)
            })
    };
    let browser_checks = offer.map(|o| crate::interstitial::active_checks(catalog, o, partner_id));
    let active_browser = |rule: RuleCode| {
        browser_checks
            .as_ref()
            .is_some_and(|checks| checks.iter().any(|(code, _)| *code == rule))
    };
    let position = step.rejected_by.and_then(|rule| {
        let link = step.detail == Some(LINK_TARGETING_DETAIL);
        RULE_ORDER
            .iter()
            .position(|&(code, detail)| code == rule && detail.is_some() == link)
    });
    let rules = RULE_ORDER
        .iter()
        .enumerate()
        .map(|(i, &(rule, detail))| {
            let verdict = match position {
                Some(p) if i == p => "refused",
                Some(p) if i > p => "not_reached",
                _ if active_check(rule) => crate::checks::NOT_RUN,
                _ if active_browser(rule) => INTERSTITIAL,
                _ => "pass",
            };
            RuleVerdict {
                rule,
                detail,
                verdict,
            }
        })
        .collect();
    Candidate {
        offer_id: step.offer_id,
        offer_name: catalog.offer(step.offer_id).map(|o| o.name.to_string()),
        via: step.via,
        took_the_hit: step.rejected_by.is_none(),
        refused_by: step.rejected_by,
        detail: step.detail,
        rules,
    }
}

async fn load_catalog(
    database_url: Option<&str>,
    catalog_file: Option<&Path>,
) -> anyhow::Result<Catalog> {
    let (source, origin) = match (database_url, catalog_file) {
        (Some(url), _) => {
            let pool = crate::app::connect(url, 1).await?;
            let source = catalog::postgres::load(&pool, None)
                .await
                .context("loading the catalog from Postgres")?;
            (source, Origin::Postgres)
        }
        (None, Some(path)) => (
            catalog::file::load(path)?,
            Origin::File(path.display().to_string()),
        ),
        (None, None) => (
            catalog::file::parse(catalog::file::DEMO_CATALOG, "embedded demo catalog")?,
            Origin::File("embedded demo".to_owned()),
        ),
    };
    Catalog::build(source, origin, 1).context("validating the catalog")
}

fn parse_headers(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|h| match h.split_once(':') {
            Some((name, value)) => Ok((name.trim().to_owned(), value.trim().to_owned())),
            None => anyhow::bail!("--header must look like 'Name: value', got `{h}`"),
        })
        .collect()
}

/// (host, path, query) of an absolute URL or of a bare path with query.
fn split_url(url: &str) -> (Option<&str>, &str, &str) {
    let (host, rest) = match url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        Some(after) => match after.find(['/', '?']) {
            Some(i) => (Some(&after[..i]), &after[i..]),
            None => (Some(after), "/"),
        },
        None => (None, url),
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    (host.filter(|h| !h.is_empty()), path, query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_path_and_query() {
        assert_eq!(
            split_url("https://go.example:8443/sl/3?affid=7#x"),
            (Some("go.example:8443"), "/sl/3", "affid=7")
        );
        assert_eq!(split_url("/c?oid=1"), (None, "/c", "oid=1"));
    }

    fn demo() -> Catalog {
        Catalog::build(
            catalog::file::parse(catalog::file::DEMO_CATALOG, "demo").unwrap(),
            Origin::Test,
            1,
        )
        .unwrap()
    }

    fn verdict(rules: &[RuleVerdict], rule: RuleCode, detail: Option<&str>) -> &'static str {
        rules
            .iter()
            .find(|r| r.rule == rule && r.detail == detail)
            .unwrap()
            .verdict
    }

    #[test]
    fn rules_after_the_refusing_one_were_not_reached() {
        let step = TraceStep {
            offer_id: 1,
            via: "candidate",
            rejected_by: Some(RuleCode::OfferTargetingMismatch),
            detail: None,
        };
        let rules = candidate(&demo(), Some(1), &step).rules;
        assert_eq!(verdict(&rules, RuleCode::TrafficControl, None), "pass");
        assert_eq!(
            verdict(&rules, RuleCode::OfferTargetingMismatch, None),
            "refused"
        );
        assert_eq!(verdict(&rules, RuleCode::IpRecency, None), "not_reached");
    }

    /// The recorded hit says `ADVANCED_TARGETING_MISMATCH` / `link_targeting`
    /// (docs/SMART_LINKS.md); explain says the same, and nothing after it ran.
    #[test]
    fn a_link_targeting_refusal_is_labelled_as_it_is_recorded() {
        let step = TraceStep {
            offer_id: 1,
            via: "candidate",
            rejected_by: Some(RuleCode::AdvancedTargetingMismatch),
            detail: Some(LINK_TARGETING_DETAIL),
        };
        let explained = candidate(&demo(), Some(1), &step);
        let json = serde_json::to_value(&explained).unwrap();
        assert_eq!(json["refused_by"], "ADVANCED_TARGETING_MISMATCH");
        assert_eq!(json["detail"], "link_targeting");
        assert_eq!(
            json["rules"][0],
            serde_json::json!({"rule": "ADVANCED_TARGETING_MISMATCH", "detail": "link_targeting", "verdict": "refused"})
        );
        let rules = &explained.rules;
        assert_eq!(
            verdict(rules, RuleCode::AdvancedTargetingMismatch, None),
            "not_reached"
        );
        assert_eq!(verdict(rules, RuleCode::InactiveOffer, None), "not_reached");
    }

    /// A third-party check is named where it runs, and marked as not run:
    /// explain never calls a provider.
    #[tokio::test]
    async fn an_active_check_is_listed_as_not_run() {
        let yaml = "
advertisers: [{ id: 1, name: A }]
partners: [{ id: 1, name: P }]
offers: [{ id: 1, advertiser_id: 1, name: O, offer_url: 'https://o.example/' }]
offer_approvals: [{ offer_id: 1, partner_id: 1 }]
optimization_rules: [{ kind: ANURA_DIRECT, params: { mode: monitor } }]
";
        let catalog =
            Catalog::build(catalog::file::parse(yaml, "t").unwrap(), Origin::Test, 1).unwrap();
        let visit = Visit::bare(
            TrackingParams::parse("oid=1&affid=1", true).unwrap(),
            "127.0.0.1".parse().unwrap(),
            "",
        );
        let (decision, trace) = decide_traced(&catalog, &visit, None).await;
        assert!(matches!(
            decision.outcome,
            routing::Outcome::Redirect { .. }
        ));
        let verdicts = &decision.checks;
        assert_eq!(verdicts.len(), 1);
        assert_eq!(verdicts[0].check, "ANURA_DIRECT");
        assert_eq!(verdicts[0].verdict, crate::checks::NOT_RUN);
        assert!(verdicts[0].monitor);
        let rules = candidate(&catalog, Some(1), &trace[0]).rules;
        assert_eq!(verdict(&rules, RuleCode::AnuraDirect, None), "not_run");
        assert_eq!(verdict(&rules, RuleCode::SearchLatency, None), "pass");
    }

    /// A browser-side rule is judged on the second hop: explain names it for
    /// the offer that takes the hit, and only where it is active.
    #[test]
    fn an_active_browser_side_rule_is_listed_as_interstitial() {
        let yaml = "
advertisers: [{ id: 1, name: A }]
partners: [{ id: 1, name: P }, { id: 2, name: Q }]
offers: [{ id: 1, advertiser_id: 1, name: O, offer_url: 'https://o.example/' }]
offer_approvals: [{ offer_id: 1, partner_id: 1 }, { offer_id: 1, partner_id: 2 }]
optimization_rules:
  - { kind: ADSCORE_SCRIPT, params: { zone: z } }
  - { kind: ADSCORE_SCRIPT, scope: partner, partner_id: 2, active: false, params: { zone: z } }
";
        let catalog =
            Catalog::build(catalog::file::parse(yaml, "t").unwrap(), Origin::Test, 1).unwrap();
        let took = TraceStep {
            offer_id: 1,
            via: "requested",
            rejected_by: None,
            detail: None,
        };
        let rules = candidate(&catalog, Some(1), &took).rules;
        assert_eq!(verdict(&rules, RuleCode::AdscoreScript, None), INTERSTITIAL);
        assert_eq!(verdict(&rules, RuleCode::AnuraScript, None), "pass");
        let switched_off = candidate(&catalog, Some(2), &took).rules;
        assert_eq!(
            verdict(&switched_off, RuleCode::AdscoreScript, None),
            "pass"
        );
    }
}
