//! `DOES_NOT_REACH_STORE` and `DOES_NOT_REACH_TRACKER`: judged from the offer's
//! latest URL scan in the snapshot (`Offer::last_scan`), never by calling the
//! scanner. See docs/RULES.md for the choices made here.

use super::RuleCode;
use crate::catalog::LastScan;
use crate::scanner::ScanResult;

/// Whether `code` (one of the two) refuses an offer with this latest scan.
/// An offer never scanned (or whose URL changed since) passes: the scanner
/// rescans it within seconds, and refusing every new offer until then would
/// punish the common case. A scan that could not tell (timeout, connection,
/// 5xx) refuses only with `on_error: closed`.
pub fn refuses(code: RuleCode, scan: Option<LastScan>, fail_closed: bool) -> bool {
    let Some(scan) = scan else {
        return false;
    };
    match code {
        RuleCode::DoesNotReachStore => match scan.result {
            ScanResult::Store => false,
            ScanResult::Tracker | ScanResult::Neither => true,
            ScanResult::Error => !scan.transient || fail_closed,
        },
        RuleCode::DoesNotReachTracker => {
            if scan.reached_tracker {
                return false;
            }
            match scan.result {
                ScanResult::Store | ScanResult::Tracker | ScanResult::Neither => true,
                ScanResult::Error => !scan.transient || fail_closed,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(result: ScanResult, reached_tracker: bool, transient: bool) -> Option<LastScan> {
        Some(LastScan {
            result,
            reached_tracker,
            transient,
        })
    }

    const STORE: RuleCode = RuleCode::DoesNotReachStore;
    const TRACKER: RuleCode = RuleCode::DoesNotReachTracker;

    #[test]
    fn unscanned_offers_pass_both() {
        assert!(!refuses(STORE, None, true));
        assert!(!refuses(TRACKER, None, true));
    }

    #[test]
    fn store_through_a_tracker_passes_both() {
        let s = scan(ScanResult::Store, true, false);
        assert!(!refuses(STORE, s, false));
        assert!(!refuses(TRACKER, s, false));
    }

    #[test]
    fn store_without_tracker_fails_only_the_tracker_rule() {
        let s = scan(ScanResult::Store, false, false);
        assert!(!refuses(STORE, s, false));
        assert!(refuses(TRACKER, s, false));
    }

    #[test]
    fn a_chain_stuck_at_a_tracker_fails_only_the_store_rule() {
        let s = scan(ScanResult::Tracker, true, false);
        assert!(refuses(STORE, s, false));
        assert!(!refuses(TRACKER, s, false));
    }

    #[test]
    fn broken_chains_fail_and_unreachable_ones_follow_on_error() {
        let broken = scan(ScanResult::Error, false, false);
        assert!(refuses(STORE, broken, false));
        assert!(refuses(TRACKER, broken, false));
        let unreachable = scan(ScanResult::Error, false, true);
        assert!(!refuses(STORE, unreachable, false));
        assert!(refuses(STORE, unreachable, true));
        assert!(!refuses(TRACKER, unreachable, false));
        let after_tracker = scan(ScanResult::Error, true, true);
        assert!(!refuses(TRACKER, after_tracker, true));
    }
}
