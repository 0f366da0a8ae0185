//! When to renew an access token with its refresh token. Pure: it is given the wall-clock time,
//! so tests drive it with a fake clock, including a laptop that slept past the expiry.

use crate::store::{epoch_to_time, TokenSet};
use std::time::{Duration, SystemTime};

/// Start refreshing this long before the access token expires (botocore's advisory window).
pub const REFRESH_LEAD: Duration = Duration::from_secs(15 * 60);
/// At least this long between two attempts, so an outage never becomes a hot loop.
pub const MIN_GAP: Duration = Duration::from_secs(30);
/// Backoff doubles from `MIN_GAP` after each failure, up to this.
pub const MAX_GAP: Duration = Duration::from_secs(5 * 60);
/// Never sleep longer than this before deciding again: a machine that suspends does not advance
/// monotonic timers, so a long sleep would wake long after the wall-clock deadline.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The refresh attempts so far for the current token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempts {
    pub last: Option<SystemTime>,
    pub failures: u32,
}

impl Attempts {
    pub fn failed(&mut self, at: SystemTime) {
        self.last = Some(at);
        self.failures += 1;
    }

    /// Gap required after the last attempt: 30 s (after a success too), doubling per failure,
    /// at most 5 min.
    pub fn gap(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        MIN_GAP.saturating_mul(1 << doublings).min(MAX_GAP)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Decide again after this long (never more than `MAX_SLEEP`).
    Wait(Duration),
    RefreshNow,
    /// The token cannot be refreshed (no refresh token); it expires at this time.
    CannotRefresh {
        expired: bool,
    },
}

pub fn decide(now: SystemTime, token: &TokenSet, attempts: Attempts) -> RefreshDecision {
    let refreshable = token.refresh_token.is_some();
    decide_at(now, epoch_to_time(token.expires_at), refreshable, attempts)
}

/// `decide` from what is known about a token, without the token.
pub fn decide_at(
    now: SystemTime,
    expires_at: SystemTime,
    refreshable: bool,
    attempts: Attempts,
) -> RefreshDecision {
    if !refreshable {
        return RefreshDecision::CannotRefresh {
            expired: now >= expires_at,
        };
    }
    let due_at = expires_at.checked_sub(REFRESH_LEAD).unwrap_or(expires_at);
    let mut earliest = due_at;
    if let Some(last) = attempts.last {
        earliest = earliest.max(last + attempts.gap());
    }
    match earliest.duration_since(now) {
        Ok(wait) if !wait.is_zero() => RefreshDecision::Wait(wait.min(MAX_SLEEP)),
        // Due now, or overdue however long (after a suspend): one attempt, not a burst.
        _ => RefreshDecision::RefreshNow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::time::UNIX_EPOCH;

    const HOUR: Duration = Duration::from_secs(3600);

    fn token(expires_at: SystemTime, refreshable: bool) -> TokenSet {
        TokenSet {
            access_token: Secret::new("a"),
            expires_at: expires_at.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            refresh_token: refreshable.then(|| Secret::new("r")),
        }
    }

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn waits_until_fifteen_minutes_before_expiry_in_steps_of_at_most_a_minute() {
        let token = token(t0() + 8 * HOUR, true);
        assert_eq!(
            decide(t0(), &token, Attempts::default()),
            RefreshDecision::Wait(MAX_SLEEP)
        );
        let almost = t0() + 8 * HOUR - REFRESH_LEAD - Duration::from_secs(10);
        assert_eq!(
            decide(almost, &token, Attempts::default()),
            RefreshDecision::Wait(Duration::from_secs(10))
        );
        let due = t0() + 8 * HOUR - REFRESH_LEAD;
        assert_eq!(
            decide(due, &token, Attempts::default()),
            RefreshDecision::RefreshNow
        );
    }

    #[test]
    fn failures_back_off_from_thirty_seconds_to_five_minutes() {
        let token = token(t0() + Duration::from_secs(10 * 60), true);
        let mut attempts = Attempts::default();
        attempts.failed(t0());
        assert_eq!(
            decide(t0(), &token, attempts),
            RefreshDecision::Wait(MIN_GAP)
        );
        assert_eq!(
            decide(t0() + MIN_GAP, &token, attempts),
            RefreshDecision::RefreshNow
        );
        for _ in 0..10 {
            attempts.failed(t0());
        }
        assert_eq!(
            decide(t0() + MAX_GAP - Duration::from_secs(1), &token, attempts),
            RefreshDecision::Wait(Duration::from_secs(1))
        );
    }

    #[test]
    fn after_sleeping_past_expiry_it_refreshes_once_then_waits() {
        let token = token(t0() + 8 * HOUR, true);
        // The laptop slept through the whole refresh window and the expiry: the wall clock jumps.
        let woke = t0() + 11 * HOUR;
        assert_eq!(
            decide(woke, &token, Attempts::default()),
            RefreshDecision::RefreshNow
        );
        let mut attempts = Attempts::default();
        attempts.failed(woke);
        // Asked again and again right after (every timer that was due fires at once): no burst.
        for millis in [0, 10, 500, 29_000] {
            let now = woke + Duration::from_millis(millis);
            assert!(
                matches!(decide(now, &token, attempts), RefreshDecision::Wait(_)),
                "{millis}"
            );
        }
        assert_eq!(
            decide(woke + MIN_GAP, &token, attempts),
            RefreshDecision::RefreshNow
        );
    }

    #[test]
    fn without_a_refresh_token_it_only_reports_expiry() {
        let token = token(t0() + HOUR, false);
        assert_eq!(
            decide(t0(), &token, Attempts::default()),
            RefreshDecision::CannotRefresh { expired: false }
        );
        assert_eq!(
            decide(t0() + 2 * HOUR, &token, Attempts::default()),
            RefreshDecision::CannotRefresh { expired: true }
        );
    }
}
