//! The command line: `serve` (default), `migrate`, `check-catalog`, `visit`,
//! `explain`, `kpi simulate`, `kpi run`, `kpi show`, `rollup rebuild`,
//! `partitions ensure | prune | list`, `partner-key new`, `offer-token new`, `scan`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::catalog::{self, Catalog, Origin};
use crate::config::{EnrichmentConfig, ServeConfig};

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Click-redirect server for affiliate networks"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve tracking links (the default).
    Serve(Box<ServeConfig>),
    /// Apply pending database migrations and exit.
    Migrate {
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
    },
    /// Validate a catalog file and print every problem found.
    CheckCatalog { file: PathBuf },
    /// Print what the server knows about a hit (GeoIP, device, languages) as
    /// JSON. Without --ua, reads user agents from stdin, one JSON line each.
    Visit(Box<VisitArgs>),
    /// Print the decision trace of a hit (/c or /sl/{id} URL) as JSON or text, without
    /// recording it or consuming counters.
    Explain(Box<crate::explain::ExplainArgs>),
    /// KPI optimization of smart links.
    Kpi {
        #[command(subcommand)]
        command: KpiCommand,
    },
    /// Hourly rollups (see docs/ROLLUPS.md).
    Rollup {
        #[command(subcommand)]
        command: RollupCommand,
    },
    /// Daily partitions of the event tables and their retention (see
    /// docs/OPERATIONS.md).
    Partitions {
        #[command(subcommand)]
        command: crate::partitions::command::PartitionsCommand,
    },
    /// Partner API keys, stored as SHA-256 digests (see docs/MODEL.md).
    PartnerKey {
        #[command(subcommand)]
        command: crate::credentials::PartnerKeyCommand,
    },
    /// Offers' postback verification tokens, stored as SHA-256 digests.
    OfferToken {
        #[command(subcommand)]
        command: crate::credentials::OfferTokenCommand,
    },
    /// Scan offer URLs once and print where each chain ends: the due offers
    /// a rule needs (as `serve` would), one offer, or all.
    Scan(Box<crate::scanner::command::ScanArgs>),
}

#[derive(Debug, Subcommand)]
enum KpiCommand {
    /// Drive the real routing and optimizer through a simulated market and
    /// print each strategy's revenue as a share of an oracle's.
    Simulate(Box<crate::kpi::sim::command::SimulateArgs>),
    /// Run KPI links now, whatever their frequency, through the scheduler's
    /// code and lock.
    Run {
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// Only this smart link (default: every KPI link).
        #[arg(long = "link")]
        link: Option<i64>,
        /// Compute and print the runs without recording them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a link's KPI overview: settings, current ranking, last and next
    /// run, the last run's figures per offer, the last 10 runs.
    Show {
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RollupCommand {
    /// Recompute the hourly rollups from the raw tables, hour by hour, while
    /// servers keep writing: after a restore, or for rows written without them.
    Rebuild {
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// First hour to rebuild (RFC 3339, rounded down to the hour); default:
        /// the first stored row.
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// End of the range (RFC 3339, exclusive, rounded up to the hour);
        /// default: after the last stored row.
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
    },
}

#[derive(Debug, clap::Args)]
struct VisitArgs {
    /// Client IP to look up.
    #[arg(long, default_value = "127.0.0.1")]
    ip: std::net::IpAddr,
    /// User agent; omit to read user agents from stdin.
    #[arg(long)]
    ua: Option<String>,
    /// Extra request header, e.g. 'Accept-Language: de-DE,de;q=0.9'.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// The same GeoIP and user-agent settings as `serve`.
    #[command(flatten)]
    enrichment: EnrichmentConfig,
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    crate::observability::init_logging();
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(config)) => serve(*config),
        Some(Command::Migrate { database_url }) => runtime()?.block_on(migrate(&database_url)),
        Some(Command::CheckCatalog { file }) => check_catalog(&file),
        Some(Command::Visit(args)) => runtime()?.block_on(visit(*args)),
        Some(Command::Explain(args)) => runtime()?.block_on(crate::explain::run(*args)),
        Some(Command::Kpi {
            command: KpiCommand::Simulate(args),
        }) => crate::kpi::sim::command::run(*args),
        Some(Command::Kpi {
            command:
                KpiCommand::Run {
                    database_url,
                    link,
                    dry_run,
                },
        }) => runtime()?.block_on(kpi_run(&database_url, link, dry_run)),
        Some(Command::Kpi {
            command:
                KpiCommand::Show {
                    database_url,
                    id,
                    json,
                },
        }) => runtime()?.block_on(kpi_show(&database_url, id, json)),
        Some(Command::Rollup {
            command:
                RollupCommand::Rebuild {
                    database_url,
                    from,
                    to,
                },
        }) => runtime()?.block_on(rollup_rebuild(&database_url, from, to)),
        Some(Command::Partitions { command }) => {
            runtime()?.block_on(crate::partitions::command::run(command))
        }
        Some(Command::PartnerKey { command }) => {
            runtime()?.block_on(crate::credentials::partner_key(command))
        }
        Some(Command::OfferToken { command }) => {
            runtime()?.block_on(crate::credentials::offer_token(command))
        }
        Some(Command::Scan(args)) => runtime()?.block_on(crate::scanner::command::run(*args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

fn serve(config: ServeConfig) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let server = crate::app::start(config).await?;
        tokio::select! {
            _ = shutdown_signal() => {
                tracing::info!("shutdown requested: draining");
                server.shutdown().await?;
            }
            result = async { Ok::<_, anyhow::Error>(()) } , if false => result?,
        }
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

async fn migrate(database_url: &str) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    crate::app::MIGRATOR
        .run(&pool)
        .await
        .context("running migrations")?;
    println!("migrations applied");
    Ok(())
}

async fn connect_one(database_url: &str) -> anyhow::Result<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await
        .context("connecting to DATABASE_URL")
}

async fn kpi_run(database_url: &str, link: Option<i64>, dry_run: bool) -> anyhow::Result<()> {
    let pool = connect_one(database_url).await?;
    let outcomes = crate::kpi::show::run_now(&pool, link, dry_run)
        .await
        .context("running KPI links")?;
    for (id, outcome) in outcomes {
        match outcome {
            crate::kpi::scheduler::Outcome::Ran(run) => {
                let verb = if dry_run {
                    "computed (dry run, not recorded)"
                } else {
                    "recorded"
                };
                println!(
                    "smart link {id}: run {verb}: threshold met {}, ranking {:?}, shares {:?}",
                    run.threshold_met, run.ranking, run.shares
                );
                if dry_run {
                    println!("{}", serde_json::to_string_pretty(&run.figures)?);
                }
            }
            other => println!("smart link {id}: {}", other.label()),
        }
    }
    Ok(())
}

async fn kpi_show(database_url: &str, id: i64, json: bool) -> anyhow::Result<()> {
    let pool = connect_one(database_url).await?;
    let overview = crate::kpi::show::overview(&pool, id)
        .await
        .context("reading the KPI overview")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&overview)?);
    } else {
        print!("{}", overview.render());
    }
    Ok(())
}

async fn rollup_rebuild(
    database_url: &str,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    let report = crate::rollups::rebuild(&pool, from, to)
        .await
        .context("rebuilding the rollups")?;
    match (report.from, report.to) {
        (Some(from), Some(to)) => println!(
            "rollups rebuilt for {} hours [{from}, {to}): {} smart link rows, {} partner rows, in {:.1?} (longest hour {:.1?})",
            report.hours, report.link_rows, report.partner_rows, report.took, report.longest_hour
        ),
        _ => println!("nothing stored: no rollups to rebuild"),
    }
    Ok(())
}

async fn visit(args: VisitArgs) -> anyhow::Result<()> {
    let enricher = crate::app::build_enricher(&args.enrichment)?;
    match args.ua {
        Some(ua) => {
            let headers = args
                .headers
                .iter()
                .map(|h| match h.split_once(':') {
                    Some((name, value)) => Ok((name.trim().to_owned(), value.trim().to_owned())),
                    None => anyhow::bail!("--header must look like 'Name: value', got `{h}`"),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            println!(
                "{}",
                serde_json::to_string_pretty(&enricher.visit_json(args.ip, &ua, &headers))?
            );
        }
        None => {
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            enricher
                .user_agents_jsonl(stdin, stdout)
                .context("reading user agents from stdin")?;
        }
    }
    Ok(())
}

fn check_catalog(file: &std::path::Path) -> anyhow::Result<()> {
    let source = catalog::file::load(file)?;
    match Catalog::build(source, Origin::File(file.display().to_string()), 1) {
        Ok(catalog) => {
            let counts = catalog.counts();
            println!(
                "{}: ok ({} advertisers, {} partners, {} offers, {} smart links)",
                file.display(),
                counts.advertisers,
                counts.partners,
                counts.offers,
                counts.smart_links
            );
            Ok(())
        }
        Err(errors) => {
            println!("{}: {errors}", file.display());
            anyhow::bail!("the catalog file is invalid")
        }
    }
}
