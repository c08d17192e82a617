//! One provider call under its breaker and its timeout: the only way a check
//! reaches the network.

use std::future::Future;
use std::time::{Duration, Instant};

use super::breaker::{Admission, Breaker};
use super::verdict::CheckFailure;

/// Runs `call` if the breaker admits it, cut off at `timeout`, and tells the
/// breaker how it went. Returns the result and the time spent waiting.
pub async fn guarded<T>(
    breaker: &Breaker,
    timeout: Duration,
    call: impl Future<Output = Result<T, CheckFailure>>,
) -> (Result<T, CheckFailure>, Duration) {
    guarded_within(breaker, timeout, timeout, call).await
}

/// `guarded`, with the call cut at `limit` (at most `timeout`) when the hit has
/// less time left than the rule allows: running out of that time is
/// `OverBudget`, and is not held against the provider.
pub async fn guarded_within<T>(
    breaker: &Breaker,
    timeout: Duration,
    limit: Duration,
    call: impl Future<Output = Result<T, CheckFailure>>,
) -> (Result<T, CheckFailure>, Duration) {
    let limit = limit.min(timeout);
    let started = Instant::now();
    if breaker.admit(started) == Admission::Refused {
        return (Err(CheckFailure::BreakerOpen), Duration::ZERO);
    }
    let result = match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) if limit < timeout => Err(CheckFailure::OverBudget),
        Err(_) => Err(CheckFailure::Timeout),
    };
    let elapsed = started.elapsed();
    match &result {
        Ok(_) => breaker.succeeded(),
        Err(failure) if failure.reached_provider() => breaker.failed(Instant::now()),
        // A probe cut short by the hit's budget proved nothing: the next
        // hit may probe again.
        Err(_) => breaker.released(),
    }
    (result, elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::breaker::BreakerSettings;
    use crate::rules::RuleCode;

    #[tokio::test]
    async fn a_slow_call_times_out_and_opens_the_breaker_after_the_threshold() {
        let breaker = Breaker::new(
            RuleCode::AnuraDirect,
            "slow.test".into(),
            BreakerSettings {
                threshold: 2,
                cool_down: Duration::from_secs(60),
            },
        );
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, CheckFailure>(())
        };
        let ms = Duration::from_millis(5);
        assert_eq!(
            guarded(&breaker, ms, slow()).await.0,
            Err(CheckFailure::Timeout)
        );
        assert_eq!(
            guarded(&breaker, ms, slow()).await.0,
            Err(CheckFailure::Timeout)
        );
        let (refused, waited) = guarded(&breaker, ms, slow()).await;
        assert_eq!(refused, Err(CheckFailure::BreakerOpen));
        assert_eq!(waited, Duration::ZERO);
    }

    #[tokio::test]
    async fn a_call_cut_by_the_hits_budget_is_not_held_against_the_provider() {
        let breaker = Breaker::new(
            RuleCode::AnuraDirect,
            "budget.test".into(),
            BreakerSettings {
                threshold: 1,
                cool_down: Duration::from_secs(60),
            },
        );
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, CheckFailure>(())
        };
        let (result, _) = guarded_within(
            &breaker,
            Duration::from_millis(100),
            Duration::from_millis(5),
            slow,
        )
        .await;
        assert_eq!(result, Err(CheckFailure::OverBudget));
        assert!(!breaker.is_open(), "one failure would have opened it");
    }
}
