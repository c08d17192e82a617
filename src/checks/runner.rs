//! The server's side of the checks: the HTTP client, one breaker per provider
//! endpoint, the answer caches and the settings from the environment. Built
//! once in `app::start` and shared by every hit.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::breaker::{Breaker, BreakerSettings};
use super::cache::AnswerCache;
use super::hit::HitChecks;
use super::settings::{CheckKind, CheckSettings};
use super::verdict::{Answer, CheckFailure, Judged};
use super::{anura, guard, latency, metrics, prevalidation};
use crate::postbacks::client::HttpClient;
use crate::routing::HitMacros;
use crate::rules::RuleCode;

/// Settings of the checks that are the server's, not a rule's.
#[derive(Debug, Clone)]
pub struct CheckRunnerSettings {
    pub breaker: BreakerSettings,
    /// The most one hit spends on all its checks together.
    pub budget: Duration,
    /// Answers kept across hits, per cache.
    pub cache_entries: usize,
    pub anura: anura::AnuraSettings,
}

impl Default for CheckRunnerSettings {
    fn default() -> Self {
        Self {
            breaker: BreakerSettings::default(),
            budget: Duration::from_millis(150),
            cache_entries: 100_000,
            anura: anura::AnuraSettings::default(),
        }
    }
}

pub struct CheckRunner {
    pub(super) client: HttpClient,
    settings: CheckRunnerSettings,
    breakers: DashMap<(RuleCode, String), Arc<Breaker>>,
    pub(super) prevalidation_answers: AnswerCache,
    pub(super) latency_answers: AnswerCache,
}

impl std::fmt::Debug for CheckRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The settings hold the Anura instance: never printed.
        f.debug_struct("CheckRunner")
            .field("breakers", &self.breakers.len())
            .finish_non_exhaustive()
    }
}

impl CheckRunner {
    /// `client`: the server's outgoing client (`postbacks::client::http_client`).
    pub fn new(settings: CheckRunnerSettings, client: HttpClient) -> Self {
        Self {
            client,
            prevalidation_answers: AnswerCache::new(settings.cache_entries),
            latency_answers: AnswerCache::new(settings.cache_entries),
            settings,
            breakers: DashMap::new(),
        }
    }

    pub(super) fn anura(&self) -> &anura::AnuraSettings {
        &self.settings.anura
    }

    /// Asks the check's provider about this hit and judges the answer.
    pub async fn judge(
        &self,
        hit: &HitChecks<'_>,
        code: RuleCode,
        settings: &CheckSettings,
        macros: &HitMacros<'_>,
        offer_url: &crate::catalog::url_template::UrlTemplate,
    ) -> Judged {
        let started = Instant::now();
        let result = match &settings.kind {
            CheckKind::Prevalidation(p) => {
                prevalidation::ask(self, hit, p, &settings.common, macros).await
            }
            CheckKind::AnuraDirect => anura::ask(self, hit, &settings.common, macros).await,
            CheckKind::SearchLatency(s) => latency::ask(self, hit, s, offer_url).await,
        };
        let waited = started.elapsed();
        let judged = Judged::new(
            code,
            result,
            &settings.common,
            u64::try_from(waited.as_micros()).unwrap_or(u64::MAX),
        );
        let word = match result {
            Ok(Answer::Pass(w) | Answer::Refuse(w)) => w,
            Err(failure) => failure.as_str(),
        };
        metrics::record(code, word, Some(waited));
        judged
    }

    /// One call of a provider's `endpoint` for a request: answered from the
    /// hit's own memory if it asked already, else under the endpoint's breaker,
    /// within the rule's timeout and what is left of the hit's budget.
    pub(super) async fn call<F>(
        &self,
        hit: &HitChecks<'_>,
        code: RuleCode,
        endpoint: &str,
        request: u64,
        timeout: Duration,
        call: F,
    ) -> Result<Answer, CheckFailure>
    where
        F: Future<Output = Result<Answer, CheckFailure>>,
    {
        if let Some(answer) = hit.answered(code, request) {
            return answer;
        }
        let left = hit.time_left(timeout, self.settings.budget, Instant::now());
        let result = if left.is_zero() {
            Err(CheckFailure::OverBudget)
        } else {
            guard::guarded_within(&self.breaker(code, endpoint), timeout, left, call)
                .await
                .0
        };
        hit.remember(code, request, result);
        result
    }

    /// One `GET url` judged by `judge`, under the breaker of (`code`,
    /// `endpoint`) and within `timeout`; outside any hit's budget. For calls
    /// made after the decision, such as the interstitial's result lookups.
    pub async fn lookup(
        &self,
        code: RuleCode,
        endpoint: &str,
        url: &str,
        timeout: Duration,
        judge: impl FnOnce(u16, &[u8]) -> Result<Answer, CheckFailure>,
    ) -> Result<Answer, CheckFailure> {
        let call = async {
            let (status, body) =
                super::client::fetch(&self.client, hyper::Method::GET, url).await?;
            judge(status, &body)
        };
        guard::guarded(&self.breaker(code, endpoint), timeout, call)
            .await
            .0
    }

    fn breaker(&self, code: RuleCode, endpoint: &str) -> Arc<Breaker> {
        if let Some(found) = self.breakers.get(&(code, endpoint.to_owned())) {
            return found.clone();
        }
        self.breakers
            .entry((code, endpoint.to_owned()))
            .or_insert_with(|| {
                Arc::new(Breaker::new(
                    code,
                    endpoint.to_owned(),
                    self.settings.breaker,
                ))
            })
            .clone()
    }
}

/// A request's fingerprint, for the hit's memory and the caches.
pub(super) fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        hasher.update(part);
        // Separates ("ab", "c") from ("a", "bc").
        hasher.update(&[0xff]);
    }
    hasher.digest()
}
