//! `DOES_NOT_REACH_STORE` and `DOES_NOT_REACH_TRACKER`: judged from the offer's
//! latest URL scan in the snapshot (`Offer::last_scan`), never by calling the
//! scanner. See docs/RULES.md for the choices made here.

use std::time::Duration;

use super::RuleCode;
use super::engine::HitContext;
use super::settings::EffectiveRules;
use crate::catalog::LastScan;
use crate::checks::params::{Defaults, OnError};
use crate::checks::verdict::{Answer, Judged};
use crate::checks::{CommonParams, HitChecks, Mode};
use crate::scanner::ScanResult;

/// The two scan rules, in the order they are judged.
pub const RULES: [RuleCode; 2] = [RuleCode::DoesNotReachStore, RuleCode::DoesNotReachTracker];

/// Open: a scan that could not tell says nothing about the offer (it may be
/// our network), and the scanner retries it within minutes. No timeout: the
/// rule makes no call.
pub const DEFAULTS: Defaults = Defaults {
    on_error: OnError::Open,
    timeout: Duration::ZERO,
};

/// Judges the candidate's active scan rules. A refusal is recorded on the
/// hit with the scan's word (`neither`, `tracker`, `loop`, ...) and, unless
/// the rule is in monitor mode, refuses the candidate. A pass is not
/// recorded: it would add a verdict to every click of every scanned offer.
pub fn check_offer(
    ctx: &HitContext<'_>,
    rules: &EffectiveRules,
    hit: &HitChecks<'_>,
) -> Result<(), RuleCode> {
    for code in RULES {
        let setting = rules.get(code);
        if !setting.active || !refuses(code, ctx.offer.last_scan, setting.fail_closed) {
            continue;
        }
        let params = CommonParams {
            mode: if setting.monitor {
                Mode::Monitor
            } else {
                Mode::Enforce
            },
            on_error: if setting.fail_closed {
                OnError::Closed
            } else {
                OnError::Open
            },
            timeout: Duration::ZERO,
        };
        let word = ctx
            .offer
            .last_scan
            .map_or("unscanned", |s| verdict_word(code, s));
        let judged = Judged::new(code, Ok(Answer::Refuse(word)), &params, 0);
        hit.record(&judged);
        if judged.discards() {
            return Err(code);
        }
    }
    Ok(())
}

/// What the scan found, in the words `offer_url_scans` uses.
fn verdict_word(code: RuleCode, scan: LastScan) -> &'static str {
    match (code, scan.result) {
        (RuleCode::DoesNotReachTracker, ScanResult::Store) => "store_without_tracker",
        (_, ScanResult::Error) if scan.transient => "scan_failed",
        (_, ScanResult::Error) => "broken_chain",
        (_, result) => result.as_str(),
    }
}

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
