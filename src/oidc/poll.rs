//! When to poll CreateToken during a device login (RFC 8628 §3.4–3.5). Pure: times are offsets
//! from the moment the device authorization was answered, so tests drive it with a fake clock.

use std::time::Duration;

/// RFC 8628 §3.2: the interval to use when the server gives none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// RFC 8628 §3.5: what `slow_down` adds, for this and every later poll.
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// An answer that means "poll again".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepPolling {
    Pending,
    SlowDown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollPolicy {
    interval: Duration,
    expires_after: Duration,
    next_poll: Duration,
}

impl PollPolicy {
    /// `interval` and `expires_in` as StartDeviceAuthorization gave them (seconds).
    pub fn new(interval: Option<i32>, expires_in: i32) -> Self {
        let interval = interval
            .filter(|&seconds| seconds > 0)
            .map(|seconds| Duration::from_secs(seconds as u64))
            .unwrap_or(DEFAULT_INTERVAL);
        Self {
            interval,
            expires_after: Duration::from_secs(expires_in.max(0) as u64),
            // The first poll also waits one interval.
            next_poll: interval,
        }
    }

    /// When to poll next; `None` once that would be at or past the device code's expiry.
    pub fn next_poll_at(&self) -> Option<Duration> {
        (self.next_poll < self.expires_after).then_some(self.next_poll)
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Records an answer that arrived at `now`: the next poll waits a whole interval from here.
    pub fn record(&mut self, now: Duration, answer: KeepPolling) {
        if answer == KeepPolling::SlowDown {
            self.interval += SLOW_DOWN_STEP;
        }
        self.next_poll = now + self.interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn first_poll_waits_one_interval_and_each_answer_restarts_the_wait() {
        let mut policy = PollPolicy::new(Some(2), 600);
        assert_eq!(policy.next_poll_at(), Some(S(2)));
        policy.record(Duration::from_millis(2_100), KeepPolling::Pending);
        assert_eq!(policy.next_poll_at(), Some(Duration::from_millis(4_100)));
    }

    #[test]
    fn slow_down_adds_five_seconds_for_good() {
        let mut policy = PollPolicy::new(Some(1), 600);
        policy.record(S(1), KeepPolling::SlowDown);
        assert_eq!(policy.interval(), S(6));
        assert_eq!(policy.next_poll_at(), Some(S(7)));
        policy.record(S(7), KeepPolling::Pending);
        assert_eq!(
            policy.next_poll_at(),
            Some(S(13)),
            "the raised interval stays"
        );
        policy.record(S(13), KeepPolling::SlowDown);
        assert_eq!(policy.next_poll_at(), Some(S(24)));
    }

    #[test]
    fn no_interval_means_five_seconds() {
        assert_eq!(PollPolicy::new(None, 600).interval(), S(5));
        assert_eq!(PollPolicy::new(Some(0), 600).interval(), S(5));
    }

    #[test]
    fn polling_stops_at_the_device_codes_expiry() {
        let mut policy = PollPolicy::new(Some(5), 12);
        policy.record(S(5), KeepPolling::Pending);
        assert_eq!(policy.next_poll_at(), Some(S(10)));
        policy.record(S(10), KeepPolling::Pending);
        assert_eq!(
            policy.next_poll_at(),
            None,
            "15 s is past the 12 s lifetime"
        );
    }
}
