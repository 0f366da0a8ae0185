//! A session's life as one state machine, pure: what a caller may do next, decided from what is
//! known about the token (never the token itself) and the wall-clock time it is given.
//!
//! ```text
//!            ┌──────── refreshed ────────┐
//!            ▼                           │
//!  Idle ── token due or expired ──► Refreshing ── rejected / no refresh token ──► LoggingIn
//!   ▲  ╲                                 │                                          │
//!   │   ╲── no token, not refreshable ───┼──────────────────────────────────────────┤
//!   │                                    └── transient failure: Idle, backing off   │
//!   └────────────────────────── logged in, or failed (said once to its waiters) ───┘
//! ```
//! One flight at a time: while Refreshing or LoggingIn every caller joins it and decides again
//! when it ends. A login starts only from a decision that found no refresh worth trying, so an
//! expired token with a good refresh token is refreshed, never answered with a device login.

use crate::oidc::refresh::{self, Attempts, RefreshDecision};
use std::time::{Duration, SystemTime};

/// What is known about the session's access token, without the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenFacts {
    pub expires_at: SystemTime,
    pub refreshable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Idle,
    Refreshing,
    LoggingIn,
}

/// Who asks, and for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// A request needs a valid token: refresh first, log in only when no refresh can help.
    Token,
    /// The background refresher: refresh when the refresh policy says so, never log in.
    Renew,
    /// The person asked to log in again (`login --force`, "Log in now"), token valid or not.
    Relogin,
    /// A request that must not start a login (the container-credentials endpoint: its callers
    /// are tools nobody watches, and a grant may be ending with a logout): refresh first, and
    /// fail when only a login helps.
    TokenWithoutLogin,
}

impl Want {
    /// What the caller wants once the flight its step started has ended.
    pub fn after_flight(self) -> Want {
        match self {
            Want::TokenWithoutLogin => Want::TokenWithoutLogin,
            _ => Want::Token,
        }
    }

    /// Whether a flight's token is the caller's answer.
    pub fn takes_token(self) -> bool {
        matches!(self, Want::Token | Want::TokenWithoutLogin)
    }
}

/// The failure of a `TokenWithoutLogin` that only a login would help.
pub const LOGIN_NOT_STARTED: &str = "the session needs a login, which a request on the container-credentials endpoint does not start";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The token is valid now: use it.
    Serve,
    /// A flight is under way: wait for it to end, then decide again for `then`.
    Join { then: Want },
    /// Start a refresh (the phase is now Refreshing).
    Refresh,
    /// Start a login (the phase is now LoggingIn).
    Login,
    /// Nothing to do for this long (the refresher's answer).
    Wait(Duration),
    /// Cannot serve now; the message says why and what happens next.
    Fail(String),
}

#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    phase: Phase,
    token: Option<TokenFacts>,
    attempts: Attempts,
    /// Why the last refresh failed, while it keeps failing.
    refresh_error: Option<String>,
}

impl Lifecycle {
    pub fn new(token: Option<TokenFacts>) -> Self {
        Self {
            token,
            ..Self::default()
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn token(&self) -> Option<TokenFacts> {
        self.token
    }

    pub fn refresh_error(&self) -> Option<&str> {
        self.refresh_error.as_deref()
    }

    fn valid_at(&self, now: SystemTime) -> bool {
        self.token.is_some_and(|token| token.expires_at > now)
    }

    /// Decides the next step for `want` at `now`, and takes it: a Refresh or Login step moves
    /// the phase, so two callers deciding at once never start two flights.
    pub fn step(&mut self, want: Want, now: SystemTime) -> Step {
        let step = self.decide(want, now);
        match step {
            Step::Refresh => self.phase = Phase::Refreshing,
            Step::Login => self.phase = Phase::LoggingIn,
            _ => {}
        }
        step
    }

    fn decide(&self, want: Want, now: SystemTime) -> Step {
        match (self.phase(), want) {
            (Phase::LoggingIn, Want::Renew) => return Step::Wait(refresh::MAX_SLEEP),
            (Phase::LoggingIn, want) => {
                return Step::Join {
                    then: want.after_flight(),
                }
            }
            (Phase::Refreshing, Want::Renew) => return Step::Wait(refresh::MAX_SLEEP),
            (Phase::Refreshing, want) => return Step::Join { then: want },
            (Phase::Idle, _) => {}
        }
        match want {
            Want::Relogin => Step::Login,
            Want::Renew => match self.token {
                None => Step::Wait(refresh::MAX_SLEEP),
                Some(token) => match refresh::decide_at(now, token.expires_at, token.refreshable, self.attempts) {
                    RefreshDecision::RefreshNow => Step::Refresh,
                    RefreshDecision::Wait(wait) => Step::Wait(wait),
                    RefreshDecision::CannotRefresh { .. } => Step::Wait(refresh::MAX_SLEEP),
                },
            },
            Want::Token | Want::TokenWithoutLogin if self.valid_at(now) => Step::Serve,
            Want::Token | Want::TokenWithoutLogin => match self.token {
                Some(token) if token.refreshable => match self.backoff_left(now) {
                    None => Step::Refresh,
                    Some(left) => Step::Fail(format!(
                        "the access token expired and renewing it failed ({}); the agent tries again in {} s, or log in again now with `sso-agent login --force`",
                        self.refresh_error.as_deref().unwrap_or("unknown error"),
                        left.as_secs().max(1)
                    )),
                },
                _ if want == Want::TokenWithoutLogin => Step::Fail(LOGIN_NOT_STARTED.to_string()),
                _ => Step::Login,
            },
        }
    }

    /// How long a failing refresh still backs off; `None` once another attempt is allowed.
    fn backoff_left(&self, now: SystemTime) -> Option<Duration> {
        if self.attempts.failures == 0 {
            return None;
        }
        let next = self.attempts.last? + self.attempts.gap();
        next.duration_since(now).ok().filter(|left| !left.is_zero())
    }

    /// The refresh worked: a new token, and the minimum gap before the next attempt.
    pub fn refreshed(&mut self, token: TokenFacts, now: SystemTime) {
        self.phase = Phase::Idle;
        self.token = Some(token);
        self.attempts = Attempts {
            last: Some(now),
            failures: 0,
        };
        self.refresh_error = None;
    }

    /// The refresh failed in a way worth retrying (network, 5xx, throttling): back off.
    pub fn refresh_failed(&mut self, message: String, now: SystemTime) {
        self.phase = Phase::Idle;
        self.attempts.failed(now);
        self.refresh_error = Some(message);
    }

    /// The service refused the refresh token (or there was none): only a login helps now.
    pub fn refresh_rejected(&mut self, message: String) {
        self.phase = Phase::Idle;
        self.token = None;
        self.attempts = Attempts::default();
        self.refresh_error = Some(message);
    }

    /// The login ended: with a token, or without (the old token, if any, is kept).
    pub fn login_ended(&mut self, token: Option<TokenFacts>) {
        self.phase = Phase::Idle;
        if let Some(token) = token {
            self.token = Some(token);
            self.attempts = Attempts::default();
            self.refresh_error = None;
        }
    }

    /// The service revoked the access token (the portal said Unauthorized): it is expired from
    /// now on, and its refresh token, if any, is tried before any login.
    pub fn revoked(&mut self) {
        if let Some(token) = &mut self.token {
            token.expires_at = SystemTime::UNIX_EPOCH;
        }
        self.attempts = Attempts::default();
    }

    /// Logged out: no token. A flight under way is being cancelled and ends on its own.
    pub fn logged_out(&mut self) {
        self.token = None;
        self.attempts = Attempts::default();
        self.refresh_error = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const MINUTE: Duration = Duration::from_secs(60);

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn token(expires_at: SystemTime, refreshable: bool) -> Option<TokenFacts> {
        Some(TokenFacts {
            expires_at,
            refreshable,
        })
    }

    #[test]
    fn a_valid_token_is_served_and_nothing_starts() {
        let mut life = Lifecycle::new(token(t0() + 60 * MINUTE, true));
        assert_eq!(life.step(Want::Token, t0()), Step::Serve);
        assert_eq!(life.phase(), Phase::Idle);
    }

    #[test]
    fn an_expired_refreshable_token_is_refreshed_and_never_starts_a_login() {
        // The agent was stopped past the token's expiry, or the laptop slept through it.
        let mut life = Lifecycle::new(token(t0() - MINUTE, true));
        assert_eq!(life.step(Want::Token, t0()), Step::Refresh);
        // Everyone who asks while the refresh is in flight joins it; nobody starts a login.
        for want in [Want::Token, Want::Token] {
            assert_eq!(life.step(want, t0()), Step::Join { then: Want::Token });
        }
        assert_eq!(
            life.step(Want::Renew, t0()),
            Step::Wait(refresh::MAX_SLEEP),
            "the refresher leaves a flight alone"
        );
        life.refreshed(token(t0() + 60 * MINUTE, true).unwrap(), t0());
        assert_eq!(life.step(Want::Token, t0()), Step::Serve);
    }

    #[test]
    fn a_login_starts_only_after_the_refresh_is_rejected() {
        let mut life = Lifecycle::new(token(t0() - MINUTE, true));
        assert_eq!(life.step(Want::Token, t0()), Step::Refresh);
        life.refresh_rejected("InvalidGrantException".into());
        assert_eq!(life.step(Want::Token, t0()), Step::Login);
        assert_eq!(
            life.step(Want::Token, t0()),
            Step::Join { then: Want::Token }
        );
        assert_eq!(
            life.step(Want::Relogin, t0()),
            Step::Join { then: Want::Token }
        );
        life.login_ended(token(t0() + 480 * MINUTE, true));
        assert_eq!(life.step(Want::Token, t0()), Step::Serve);
        assert_eq!(life.refresh_error(), None);
    }

    #[test]
    fn a_request_that_may_not_log_in_refreshes_or_fails_and_never_starts_one() {
        let mut life = Lifecycle::new(token(t0() - MINUTE, true));
        assert_eq!(life.step(Want::TokenWithoutLogin, t0()), Step::Refresh);
        assert_eq!(
            life.step(Want::TokenWithoutLogin, t0()),
            Step::Join {
                then: Want::TokenWithoutLogin
            }
        );
        life.refresh_rejected("InvalidGrantException".into());
        assert_eq!(
            life.step(Want::TokenWithoutLogin, t0()),
            Step::Fail(LOGIN_NOT_STARTED.into())
        );
        assert_eq!(life.phase(), Phase::Idle, "no login was started");
        // A login someone else started is joined, and what follows still starts none.
        assert_eq!(life.step(Want::Token, t0()), Step::Login);
        assert_eq!(
            life.step(Want::TokenWithoutLogin, t0()),
            Step::Join {
                then: Want::TokenWithoutLogin
            }
        );
        let mut empty = Lifecycle::new(None);
        assert_eq!(
            empty.step(Want::TokenWithoutLogin, t0()),
            Step::Fail(LOGIN_NOT_STARTED.into())
        );
    }

    #[test]
    fn without_a_refresh_token_an_expired_session_logs_in() {
        let mut life = Lifecycle::new(token(t0() - MINUTE, false));
        assert_eq!(life.step(Want::Token, t0()), Step::Login);
        let mut empty = Lifecycle::new(None);
        assert_eq!(empty.step(Want::Token, t0()), Step::Login);
        assert_eq!(
            empty.step(Want::Renew, t0()),
            Step::Wait(refresh::MAX_SLEEP)
        );
    }

    #[test]
    fn a_transient_refresh_failure_past_expiry_fails_fast_and_backs_off_never_logs_in() {
        let mut life = Lifecycle::new(token(t0() - MINUTE, true));
        assert_eq!(life.step(Want::Token, t0()), Step::Refresh);
        life.refresh_failed("internal error".into(), t0());
        let step = life.step(Want::Token, t0() + Duration::from_secs(5));
        let Step::Fail(message) = step else {
            panic!("{step:?}")
        };
        assert!(
            message.contains("internal error") && message.contains("25 s"),
            "{message}"
        );
        // The backoff over, the next request tries the refresh again, still not a login.
        assert_eq!(
            life.step(Want::Token, t0() + refresh::MIN_GAP),
            Step::Refresh
        );
    }

    #[test]
    fn the_refresher_follows_the_refresh_window() {
        let expires = t0() + 60 * MINUTE;
        let mut life = Lifecycle::new(token(expires, true));
        assert_eq!(life.step(Want::Renew, t0()), Step::Wait(refresh::MAX_SLEEP));
        assert_eq!(
            life.step(Want::Renew, expires - refresh::REFRESH_LEAD),
            Step::Refresh
        );
        let mut unrenewable = Lifecycle::new(token(expires, false));
        assert_eq!(
            unrenewable.step(Want::Renew, expires),
            Step::Wait(refresh::MAX_SLEEP)
        );
    }

    #[test]
    fn a_revoked_token_is_refreshed_before_any_login() {
        let mut life = Lifecycle::new(token(t0() + 60 * MINUTE, true));
        life.revoked();
        assert_eq!(life.step(Want::Token, t0()), Step::Refresh);
        life.refresh_rejected("InvalidGrantException".into());
        assert_eq!(life.step(Want::Token, t0()), Step::Login);
    }

    #[test]
    fn relogin_waits_for_a_refresh_then_logs_in_even_with_a_valid_token() {
        let mut life = Lifecycle::new(token(t0() + 10 * MINUTE, true));
        assert_eq!(life.step(Want::Renew, t0()), Step::Refresh);
        assert_eq!(
            life.step(Want::Relogin, t0()),
            Step::Join {
                then: Want::Relogin
            }
        );
        life.refreshed(token(t0() + 60 * MINUTE, true).unwrap(), t0());
        assert_eq!(life.step(Want::Relogin, t0()), Step::Login);
    }

    #[test]
    fn a_failed_login_keeps_the_old_token_and_logout_forgets_it() {
        let mut life = Lifecycle::new(token(t0() + 10 * MINUTE, true));
        assert_eq!(life.step(Want::Relogin, t0()), Step::Login);
        life.login_ended(None);
        assert_eq!(life.step(Want::Token, t0()), Step::Serve);
        life.logged_out();
        assert_eq!(life.step(Want::Token, t0()), Step::Login);
    }
}
