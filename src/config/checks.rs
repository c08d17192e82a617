//! The server's settings of the third-party checks (the rules' own settings
//! are in `optimization_rules.params`).

use std::time::Duration;

use clap::Args;

use crate::checks::{BreakerSettings, CheckRunnerSettings, anura};

#[derive(Clone, Args)]
pub struct CheckConfig {
    /// Anura instance id for `ANURA_DIRECT` (an account credential: never logged).
    #[arg(long, env = "SWITCHYARD_ANURA_INSTANCE", hide_env_values = true)]
    pub anura_instance: Option<String>,

    /// Anura Direct's endpoint.
    #[arg(long, env = "SWITCHYARD_ANURA_DIRECT_URL", default_value = anura::DEFAULT_URL)]
    pub anura_direct_url: String,

    /// The most one hit spends on all its third-party checks, in milliseconds.
    #[arg(long, env = "SWITCHYARD_CHECK_BUDGET_MS", default_value_t = 150)]
    pub check_budget_ms: u64,

    /// Failed check calls in a row that open a provider's breaker.
    #[arg(long, env = "SWITCHYARD_CHECK_BREAKER_FAILURES", default_value_t = 5)]
    pub check_breaker_failures: u32,

    /// How long an open breaker stops calls before one probe, in milliseconds.
    #[arg(
        long,
        env = "SWITCHYARD_CHECK_BREAKER_COOLDOWN_MS",
        default_value_t = 5_000
    )]
    pub check_breaker_cooldown_ms: u64,
}

impl std::fmt::Debug for CheckConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckConfig")
            .field(
                "anura_instance",
                &self.anura_instance.as_ref().map(|_| "<set>"),
            )
            .field("anura_direct_url", &self.anura_direct_url)
            .field("check_budget_ms", &self.check_budget_ms)
            .field("check_breaker_failures", &self.check_breaker_failures)
            .field("check_breaker_cooldown_ms", &self.check_breaker_cooldown_ms)
            .finish()
    }
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            anura_instance: None,
            anura_direct_url: anura::DEFAULT_URL.to_owned(),
            check_budget_ms: 150,
            check_breaker_failures: 5,
            check_breaker_cooldown_ms: 5_000,
        }
    }
}

impl CheckConfig {
    pub fn runner_settings(&self) -> CheckRunnerSettings {
        CheckRunnerSettings {
            breaker: BreakerSettings {
                threshold: self.check_breaker_failures.max(1),
                cool_down: Duration::from_millis(self.check_breaker_cooldown_ms.max(1)),
            },
            budget: Duration::from_millis(self.check_budget_ms.max(1)),
            anura: anura::AnuraSettings {
                instance: self.anura_instance.clone().filter(|i| !i.is_empty()),
                url: self.anura_direct_url.clone(),
            },
            ..CheckRunnerSettings::default()
        }
    }
}
