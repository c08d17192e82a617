//! The checks of one hit: the verdicts it collects (recorded with it, whatever
//! its outcome), the time it may still spend on providers, and the answers
//! already given to it, so that a fail chain or a smart link asking the same
//! provider the same question again does not call it twice.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::runner::CheckRunner;
use super::verdict::{Answer, CheckFailure, CheckVerdict, Judged};
use crate::rules::RuleCode;

/// Handed to the decision through `routing::Inputs::checks`. `NO_CHECKS` (no
/// runner) is for callers that must not call out: `explain`, benches, the KPI
/// simulation; there an active check is recorded as `not_run` and passes.
#[derive(Debug)]
pub struct HitChecks<'a> {
    runner: Option<&'a CheckRunner>,
    /// `NO_CHECKS` is shared by every caller: it keeps nothing.
    keeps: bool,
    state: Mutex<HitState>,
}

/// Never allocates until a check runs: a hit without checks pays nothing.
#[derive(Debug)]
struct HitState {
    verdicts: Vec<CheckVerdict>,
    /// Set by the first check: the hit's time for all of them ends here.
    deadline: Option<Instant>,
    /// (check, request fingerprint) → what the provider said.
    answers: Vec<(RuleCode, u64, Result<Answer, CheckFailure>)>,
}

/// For callers without a runner that do not read the verdicts.
pub static NO_CHECKS: HitChecks<'static> = HitChecks::without(None, false);

impl<'a> HitChecks<'a> {
    /// No runner: active checks are recorded as `not_run` (for `explain`).
    pub const fn off() -> HitChecks<'static> {
        HitChecks::without(None, true)
    }

    pub const fn new(runner: &'a CheckRunner) -> Self {
        Self::without(Some(runner), true)
    }

    const fn without(runner: Option<&'a CheckRunner>, keeps: bool) -> Self {
        Self {
            runner,
            keeps,
            state: Mutex::new(HitState {
                verdicts: Vec::new(),
                deadline: None,
                answers: Vec::new(),
            }),
        }
    }

    pub fn runner(&self) -> Option<&'a CheckRunner> {
        self.runner
    }

    /// Adds a verdict to the hit's record.
    pub fn record(&self, judged: &Judged) {
        if self.keeps {
            self.lock().verdicts.push(judged.verdict.clone());
        }
    }

    /// The verdicts, in the order the checks ran: what the hit records.
    pub fn into_verdicts(self) -> Vec<CheckVerdict> {
        self.state
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .verdicts
    }

    /// How long the next call may take: the check's own timeout, cut to what
    /// is left of the hit's budget (which starts with the first call); zero
    /// when it is used up.
    pub fn time_left(&self, timeout: Duration, budget: Duration, now: Instant) -> Duration {
        let mut state = self.lock();
        let deadline = *state.deadline.get_or_insert(now + budget);
        timeout.min(deadline.saturating_duration_since(now))
    }

    /// What the provider already said to this hit for the same request.
    pub fn answered(&self, check: RuleCode, request: u64) -> Option<Result<Answer, CheckFailure>> {
        self.lock()
            .answers
            .iter()
            .find(|(c, r, _)| *c == check && *r == request)
            .map(|(_, _, answer)| *answer)
    }

    pub fn remember(&self, check: RuleCode, request: u64, answer: Result<Answer, CheckFailure>) {
        self.lock().answers.push((check, request, answer));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HitState> {
        // Plain values: a panic elsewhere cannot leave them half-written.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
