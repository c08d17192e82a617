//! Third-party checks on the redirect path (issue 14): rules whose verdict
//! comes from a provider's answer rather than from the snapshot and the visit.
//!
//! **Architecture invariant:** a check never waits longer than its rule's
//! `timeout_ms` (tens of milliseconds), nor past the hit's budget for all its
//! checks, and a provider that keeps failing is cut off by its breaker within
//! `threshold` calls. A hit whose offers have no active check does none of
//! this work: `check_offer` returns before the first allocation or await.
//!
//! How a hit meets its checks: the router judges a candidate's static rules,
//! then (`check_offer`) its active checks, and only then reserves its
//! counters. A check is an input of the decision like the counters: it is
//! asked through `HitChecks`, which does the bounded I/O, and its refusal
//! refuses the candidate like any rule, so a fail chain or a smart link moves
//! on, and nothing was reserved for the refused offer. Every verdict (monitor
//! mode and failures included) is kept on `HitChecks` and recorded with the
//! hit in `clicks.checks`.

pub mod anura;
pub mod breaker;
pub mod cache;
mod client;
pub mod guard;
pub mod hit;
pub mod latency;
pub mod metrics;
pub mod params;
pub mod prevalidation;
pub mod runner;
pub mod settings;
pub mod verdict;

pub use breaker::{Breaker, BreakerSettings};
pub use hit::{HitChecks, NO_CHECKS};
pub use params::{CommonParams, Mode, OnError};
pub use runner::{CheckRunner, CheckRunnerSettings};
pub use settings::{CHECKS, CheckSettings, is_check};
pub use verdict::{Answer, CheckFailure, CheckVerdict, Judged};

use crate::routing::HitMacros;
use crate::rules::RuleCode;
use crate::rules::engine::HitContext;
use crate::rules::settings::EffectiveRules;

/// The verdict word of an active check that was not run (no runner: `explain`,
/// benches, simulations).
pub const NOT_RUN: &str = "not_run";

/// Whether any check is active for this candidate: a few lookups, no
/// allocation, so a hit without checks pays only this.
pub fn any_active(rules: &EffectiveRules) -> bool {
    CHECKS.iter().any(|code| rules.is_active(*code))
}

/// Runs the candidate's active checks in `CHECKS` order and records each
/// verdict on the hit; the first one that discards refuses the candidate.
pub async fn check_offer(
    hit: &HitChecks<'_>,
    ctx: &HitContext<'_>,
    rules: &EffectiveRules,
    macros: &HitMacros<'_>,
) -> Result<(), RuleCode> {
    for code in CHECKS {
        let setting = rules.get(code);
        if !setting.active {
            continue;
        }
        // Active check rules always carry settings (`RuleTable::compile`).
        let Some(settings) = setting.check.and_then(|i| ctx.catalog.rule_table.check(i)) else {
            continue;
        };
        let judged = match hit.runner() {
            Some(runner) => {
                runner
                    .judge(hit, code, settings, macros, &ctx.offer.url)
                    .await
            }
            None => Judged::new(code, Ok(Answer::Pass(NOT_RUN)), &settings.common, 0),
        };
        hit.record(&judged);
        if judged.discards() {
            return Err(code);
        }
    }
    Ok(())
}
