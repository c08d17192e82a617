//! `switchyard partitions ensure | prune | list`.

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;

use super::{TABLES, ensure, list, prune};

#[derive(Debug, Subcommand)]
pub enum PartitionsCommand {
    /// Create today's and the coming days' partitions of the event tables, and
    /// move rows out of the default partitions into their day's.
    Ensure {
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// Days after today to create.
        #[arg(long, env = "SWITCHYARD_PARTITION_DAYS_AHEAD", default_value_t = 7)]
        days_ahead: u32,
    },
    /// Drop the partitions (and default rows) of days more than
    /// --retention-days before today. The hourly rollups are kept.
    Prune {
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[arg(long, env = "SWITCHYARD_EVENT_RETENTION_DAYS")]
        retention_days: u32,
    },
    /// Print each event table's partitions and their bounds.
    List {
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
    },
}

pub async fn run(command: PartitionsCommand) -> anyhow::Result<()> {
    let connect = |url: String| async move {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .context("connecting to DATABASE_URL")
    };
    match command {
        PartitionsCommand::Ensure {
            database_url,
            days_ahead,
        } => {
            let pool = connect(database_url).await?;
            let report = ensure(&pool, Utc::now(), days_ahead)
                .await
                .context("creating partitions")?;
            println!(
                "{} partitions created, {} rows moved out of the default partitions",
                report.created.len(),
                report.moved_rows
            );
            for name in report.created {
                println!("  {name}");
            }
        }
        PartitionsCommand::Prune {
            database_url,
            retention_days,
        } => {
            anyhow::ensure!(retention_days > 0, "--retention-days must be at least 1");
            let pool = connect(database_url).await?;
            let report = prune(&pool, Utc::now(), retention_days)
                .await
                .context("pruning partitions")?;
            let before = report.before.map(|b| b.to_rfc3339()).unwrap_or_default();
            println!(
                "rows before {before} pruned: {} partitions dropped, {} rows deleted from the default partitions",
                report.dropped.len(),
                report.deleted_rows
            );
            for name in report.dropped {
                println!("  {name}");
            }
        }
        PartitionsCommand::List { database_url } => {
            let pool = connect(database_url).await?;
            let mut conn = pool.acquire().await?;
            for table in TABLES {
                println!("{table}:");
                for p in list(&mut conn, table).await? {
                    let bound = |b: Option<chrono::DateTime<Utc>>, open: &str| {
                        b.map_or_else(|| open.to_owned(), |b| b.to_rfc3339())
                    };
                    if p.is_default {
                        println!("  {} DEFAULT", p.name);
                    } else {
                        println!(
                            "  {} [{}, {})",
                            p.name,
                            bound(p.from, "MINVALUE"),
                            bound(p.to, "MAXVALUE")
                        );
                    }
                }
            }
        }
    }
    Ok(())
}
