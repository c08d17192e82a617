//! The settings of the interstitial that browser-side rules put in front of a
//! redirect (`interstitial`): how second-hop tokens are signed and how long
//! a first hop is held for its second.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct InterstitialConfig {
    /// Secret that signs second-hop tokens (HMAC-SHA256); without it, a
    /// random one per process, so tokens only work on the instance that made them.
    #[arg(
        long = "interstitial-secret",
        env = "SWITCHYARD_INTERSTITIAL_SECRET",
        hide_env_values = true
    )]
    pub secret: Option<SecretText>,

    /// How long a second hop may follow its first, in seconds; a visitor who
    /// has not come back by then is recorded as `abandoned`.
    #[arg(
        long = "interstitial-ttl-secs",
        env = "SWITCHYARD_INTERSTITIAL_TTL_SECS",
        default_value_t = 60
    )]
    pub ttl_secs: u64,

    /// First hops held at once; past it a hit's browser checks count as errors
    /// (the rule's `on_error` decides) instead of growing memory.
    #[arg(
        long = "interstitial-max-held",
        env = "SWITCHYARD_INTERSTITIAL_MAX_HELD",
        default_value_t = 100_000
    )]
    pub max_held: usize,

    /// The Adscore zone's "Zone Response Key" (base64, from the zone's
    /// encryption page): `ADSCORE_SCRIPT` verifies signatures with it.
    #[arg(long, env = "SWITCHYARD_ADSCORE_RESPONSE_KEY", hide_env_values = true)]
    pub adscore_response_key: Option<SecretText>,
}

impl Default for InterstitialConfig {
    fn default() -> Self {
        Self {
            secret: None,
            ttl_secs: 60,
            max_held: 100_000,
            adscore_response_key: None,
        }
    }
}

/// A secret setting; its `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl std::str::FromStr for SecretText {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(SecretText(text.to_owned()))
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
