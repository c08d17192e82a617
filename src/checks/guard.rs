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
    let started = Instant::now();
    if breaker.admit(started) == Admission::Refused {
        return (Err(CheckFailure::BreakerOpen), Duration::ZERO);
    }
    let result = match tokio::time::timeout(timeout, call).await {
        Ok(result) => result,
        Err(_) => Err(CheckFailure::Timeout),
    };
    let elapsed = started.elapsed();
    match &result {
        Ok(_) => breaker.succeeded(),
        Err(failure) if failure.reached_provider() => breaker.failed(Instant::now()),
        Err(_) => {}
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
}
