//! `switchyard scan`: scan offer URLs once, through the scheduler's code and
//! locks, and print where each chain went.

use anyhow::Context;
use serde::Serialize;

use super::schedule::{Outcome, ScanMode, Scanner, needs_scan};
use super::store;
use crate::catalog::{Catalog, Origin};
use crate::config::ScanConfig;

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Only this offer, now, whether it is due or not.
    #[arg(long)]
    offer: Option<i64>,
    /// Every active offer, now, whether due or not and whether a rule needs
    /// it or not.
    #[arg(long, conflicts_with = "offer")]
    all: bool,
    /// Print one JSON object per offer instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    scan: ScanConfig,
}

#[derive(Serialize)]
struct Line<'a> {
    offer_id: i64,
    outcome: &'static str,
    result: Option<&'static str>,
    reached_tracker: Option<bool>,
    error: Option<&'static str>,
    detail: Option<&'a str>,
    hops: Option<u32>,
    final_url: Option<&'a str>,
    chain: &'a [String],
    duration_ms: Option<u128>,
}

/// Without `--offer` or `--all`: the due offers a rule needs, as `serve` would.
pub async fn run(args: ScanArgs) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    let scanner = Scanner::new(&args.scan).context("configuring the scanner")?;
    let (targets, mode) = if args.all || args.offer.is_some() {
        let targets = store::active(&pool, args.offer).await?;
        if let (Some(id), true) = (args.offer, targets.is_empty()) {
            anyhow::bail!("offer {id} is not an active offer of an active advertiser");
        }
        (targets, ScanMode::Force)
    } else {
        let source = crate::catalog::postgres::load(&pool, None)
            .await
            .context("loading the catalog")?;
        let catalog =
            Catalog::build(source, Origin::Postgres, 1).context("validating the catalog")?;
        let due = store::due(&pool, chrono::Utc::now(), None).await?;
        let due = due
            .into_iter()
            .filter(|t| needs_scan(&catalog, t.id))
            .collect();
        (due, ScanMode::Due)
    };
    if targets.is_empty() && !args.json {
        println!("no offer to scan");
    }
    for target in &targets {
        let outcome = scanner.scan_offer(&pool, target, mode).await?;
        print(target.id, &outcome, args.json)?;
    }
    Ok(())
}

fn print(offer_id: i64, outcome: &Outcome, json: bool) -> anyhow::Result<()> {
    let walk = match outcome {
        Outcome::Scanned(walk) => Some(walk.as_ref()),
        _ => None,
    };
    let label = match outcome {
        Outcome::Scanned(_) => "scanned",
        Outcome::Locked => "locked",
        Outcome::NotDue => "not_due",
        Outcome::BadUrl => "bad_url",
    };
    if json {
        let line = Line {
            offer_id,
            outcome: label,
            result: walk.map(|w| w.result.as_str()),
            reached_tracker: walk.map(|w| w.reached_tracker),
            error: walk.and_then(|w| w.error.map(|e| e.as_str())),
            detail: walk.and_then(|w| w.detail.as_deref()),
            hops: walk.map(|w| w.hops),
            final_url: walk.and_then(|w| w.final_url.as_deref()),
            chain: walk.map_or(&[], |w| w.chain.as_slice()),
            duration_ms: walk.map(|w| w.duration.as_millis()),
        };
        println!("{}", serde_json::to_string(&line)?);
        return Ok(());
    }
    let Some(walk) = walk else {
        println!("offer {offer_id}: {label}");
        return Ok(());
    };
    let tracker = if walk.reached_tracker {
        ", through a tracker"
    } else {
        ""
    };
    let error = walk
        .error
        .map(|e| format!(" ({})", e.as_str()))
        .unwrap_or_default();
    println!(
        "offer {offer_id}: {}{error}{tracker}, {} hops in {:.1?}{}",
        walk.result.as_str(),
        walk.hops,
        walk.duration,
        walk.detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    for url in &walk.chain {
        println!("  {url}");
    }
    Ok(())
}
