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
    #[error("there is no {0} {1}")]
    Unknown(Holder, i64),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// What holds a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// Its API key.
    Partner,
    /// Its postback verification token.
    Offer,
}

impl Holder {
    fn update(self) -> &'static str {
        match self {
            Holder::Partner => "UPDATE partners SET api_key_sha256 = $1 WHERE id = $2",
            Holder::Offer => "UPDATE offers SET verification_token_sha256 = $1 WHERE id = $2",
        }
    }

    fn secret_name(self) -> &'static str {
        match self {
            Holder::Partner => "API key",
            Holder::Offer => "postback verification token",
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Holder::Partner => "partner",
            Holder::Offer => "offer",
        })
    }
}

/// Stores a fresh secret's digest for the partner's key or the offer's
/// token, replacing the previous one, and returns the secret.
pub async fn store_new(pool: &PgPool, holder: Holder, id: i64) -> Result<String, CredentialError> {
    let fresh = secret::generate();
    let digest = SecretHash::of(fresh.as_bytes());
    let updated = sqlx::query(holder.update())
        .bind(&digest.as_bytes()[..])
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    if updated == 0 {
        return Err(CredentialError::Unknown(holder, id));
    }
    Ok(fresh)
}

pub async fn partner_key(command: PartnerKeyCommand) -> anyhow::Result<()> {
    let PartnerKeyCommand::New {
        database_url,
        partner_id,
    } = command;
    issue(&database_url, Holder::Partner, partner_id).await
}

pub async fn offer_token(command: OfferTokenCommand) -> anyhow::Result<()> {
    let OfferTokenCommand::New {
        database_url,
        offer_id,
    } = command;
    issue(&database_url, Holder::Offer, offer_id).await
}

/// The secret alone on stdout (for scripts), the explanation on stderr.
async fn issue(database_url: &str, holder: Holder, id: i64) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    let what = format!("{holder} {id}: new {}", holder.secret_name());
    let secret = store_new(&pool, holder, id)
        .await
        .with_context(|| format!("storing the {}", holder.secret_name()))?;
    eprintln!(
        "{what} stored as its SHA-256; the previous one no longer works. \
         It is shown this once: keep it now."
    );
    println!("{secret}");
    Ok(())
}
