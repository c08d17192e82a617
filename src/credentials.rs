//! `switchyard partner-key new PARTNER_ID` and `switchyard offer-token new
//! OFFER_ID`: a fresh high-entropy secret, stored in Postgres only as its
//! SHA-256 (`catalog::secret`), printed once. The update NOTIFYs a reload, so
//! running servers accept the new secret, and refuse the old one, within
//! about a second.

use anyhow::Context;
use sqlx::PgPool;

use crate::catalog::SecretHash;
use crate::catalog::secret;

#[derive(Debug, clap::Subcommand)]
pub enum PartnerKeyCommand {
    /// Give a partner a fresh API key (its `X-Api-Key`), replacing any
    /// previous one. Only the key's SHA-256 is stored; the key is printed
    /// once, on stdout.
    New {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
        partner_id: i64,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum OfferTokenCommand {
    /// Give an offer a fresh postback verification token, replacing any
    /// previous one. Only the token's SHA-256 is stored; the token is printed
    /// once, on stdout, for the advertiser's postback URL.
    New {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
        offer_id: i64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("there is no partner {0}")]
    UnknownPartner(i64),
    #[error("there is no offer {0}")]
    UnknownOffer(i64),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Stores a fresh key's digest for the partner and returns the key.
pub async fn new_partner_key(pool: &PgPool, partner_id: i64) -> Result<String, CredentialError> {
    let sql = "UPDATE partners SET api_key_sha256 = $1 WHERE id = $2";
    store_new(pool, sql, partner_id)
        .await?
        .ok_or(CredentialError::UnknownPartner(partner_id))
}

/// Stores a fresh token's digest for the offer and returns the token.
pub async fn new_offer_token(pool: &PgPool, offer_id: i64) -> Result<String, CredentialError> {
    let sql = "UPDATE offers SET verification_token_sha256 = $1 WHERE id = $2";
    store_new(pool, sql, offer_id)
        .await?
        .ok_or(CredentialError::UnknownOffer(offer_id))
}

/// `None`: no row has that id.
async fn store_new(
    pool: &PgPool,
    sql: &'static str,
    id: i64,
) -> Result<Option<String>, sqlx::Error> {
    let fresh = secret::generate();
    let digest = SecretHash::of(fresh.as_bytes());
    let updated = sqlx::query(sql)
        .bind(&digest.as_bytes()[..])
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok((updated > 0).then_some(fresh))
}

pub async fn partner_key(command: PartnerKeyCommand) -> anyhow::Result<()> {
    let PartnerKeyCommand::New {
        database_url,
        partner_id,
    } = command;
    let pool = connect(&database_url).await?;
    let key = new_partner_key(&pool, partner_id)
        .await
        .context("storing the partner's new API key")?;
    announce(&format!("partner {partner_id}: new API key"), &key);
    Ok(())
}

pub async fn offer_token(command: OfferTokenCommand) -> anyhow::Result<()> {
    let OfferTokenCommand::New {
        database_url,
        offer_id,
    } = command;
    let pool = connect(&database_url).await?;
    let token = new_offer_token(&pool, offer_id)
        .await
        .context("storing the offer's new verification token")?;
    announce(
        &format!("offer {offer_id}: new postback verification token"),
        &token,
    );
    Ok(())
}

/// The secret alone on stdout (for scripts), the explanation on stderr.
fn announce(what: &str, secret: &str) {
    eprintln!(
        "{what} stored as its SHA-256; the previous one no longer works. \
         It is shown this once: keep it now."
    );
    println!("{secret}");
}

async fn connect(database_url: &str) -> anyhow::Result<PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await
        .context("connecting to DATABASE_URL")
}
