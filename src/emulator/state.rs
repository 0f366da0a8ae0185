//! What the emulated IAM Identity Center remembers: clients, device codes, authorization codes,
//! tokens and the call log. One mutex guards it; no lock is held across an await.

use super::fixture::Fixture;
use super::jwt::Signer;
use super::scenario::Scenario;
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const SCOPE_ACCOUNT_ACCESS: &str = "sso:account:access";
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_TYPES: [&str; 3] = [
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
    GRANT_AUTHORIZATION_CODE,
];

pub struct Emulator {
    pub base_url: String,
    pub fixture: Fixture,
    /// Signs License Manager's refresh and access tokens (a key of this emulator's own).
    pub jwt: Signer,
    started: Instant,
    inner: Mutex<Inner>,
}

#[derive(Default)]
pub struct Inner {
    pub scenario: Scenario,
    /// How far the control API has moved the emulator's clock ahead of the real one.
    pub clock_offset: Duration,
    pub clients: HashMap<String, Client>,
    /// Keyed by device code.
    pub device_grants: HashMap<String, DeviceGrant>,
    /// user code → device code.
    pub user_codes: HashMap<String, String>,
    /// Pending PKCE authorization requests, keyed by their id on the authorize page.
    pub authorization_requests: HashMap<String, AuthorizationRequest>,
    pub authorization_codes: HashMap<String, AuthorizationCode>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    /// Sessions ended by Logout; their tokens no longer work.
    pub ended_sessions: Vec<u64>,
    pub recent_portal_calls: VecDeque<Instant>,
    pub log: Vec<LogEntry>,
    /// Role credentials handed out by GetRoleCredentials, keyed by access key id, so the
    /// federation endpoint can tell its own (and unexpired) ones from anything else.
    pub role_credentials: HashMap<String, IssuedRoleCredentials>,
    /// Sign-in tokens from the federation endpoint's getSigninToken, by token.
    pub signin_tokens: HashMap<String, SigninToken>,
    /// Console sessions made by the federation endpoint's login, by the id in `/console?session=`.
    pub console_sessions: HashMap<String, ConsoleSession>,
    /// License Manager's refresh tokens, by TokenId (deleted ones stay, as `DELETED`).
    pub license_tokens: HashMap<String, LicenseToken>,
    /// CreateToken's idempotency: (account, ClientToken) → the token it created.
    pub client_tokens: HashMap<(String, String), ClientTokenUse>,
    pub recent_license_calls: VecDeque<Instant>,
    /// Every secret handed out (client secrets, tokens, role keys, sign-in tokens, authorization
    /// codes) or shown to it (PKCE code verifiers), for tests' leak searches.
    pub issued: Vec<String>,
    next_session: u64,
}

pub struct Client {
    pub client_name: String,
    pub client_secret: String,
    pub secret_expires_at: Instant,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
}

impl Client {
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|grant| grant == grant_type)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Pending,
    Approved {
        user: String,
    },
    Denied,
    /// The token has been handed out; the device code cannot be used again.
    Redeemed,
}

pub struct DeviceGrant {
    pub user_code: String,
    pub client_id: String,
    pub expires_at: Instant,
    /// The interval this code is held to; SlowDown raises it by 5 s.
    pub interval: Duration,
    pub last_poll: Option<Instant>,
    pub polls: u32,
    pub decision: Decision,
}

pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub scopes: Vec<String>,
}

pub struct AuthorizationCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scopes: Vec<String>,
    pub user: String,
    pub expires_at: Instant,
}

/// What a token stands for: one login of one user through one client.
#[derive(Clone)]
pub struct Grant {
    pub client_id: String,
    pub user: String,
    pub scopes: Vec<String>,
    pub session: u64,
}

pub struct AccessToken {
    pub grant: Grant,
    pub expires_at: Instant,
}

pub struct RefreshToken {
    pub grant: Grant,
    pub expires_at: Instant,
    /// When this token was exchanged for a newer one; it is accepted for the grace period after.
    pub rotated_at: Option<Instant>,
}

/// One set of role credentials as GetRoleCredentials handed it out.
pub struct IssuedRoleCredentials {
    pub secret_access_key: String,
    pub session_token: String,
    pub account_id: String,
    pub role_name: String,
    pub user: String,
    pub expires_at: Instant,
}

/// One refresh token CreateToken made.
pub struct LicenseToken {
    pub account_id: String,
    pub license_arn: String,
    pub role_arns: Vec<String>,
    pub token_properties: Vec<String>,
    /// The JWT's `exp`, epoch seconds of the emulator's wall clock.
    pub expires_epoch: u64,
    pub deleted: bool,
    /// The JWT itself, for a retried CreateToken with the same ClientToken.
    pub token: String,
    /// Creation order, for ListTokens' pages.
    pub serial: u64,
}

/// A ClientToken CreateToken has seen: the same request within ten minutes gets the same token.
pub struct ClientTokenUse {
    pub token_id: String,
    /// The request's members, so a different request under the same ClientToken is refused.
    pub request: String,
    pub at: Instant,
}

/// What a sign-in token stands for: a role's console session, not started yet.
#[derive(Clone)]
pub struct SigninToken {
    pub account_id: String,
    pub role_name: String,
    pub user: String,
    /// The console session's length the token asked for (`SessionDuration`).
    pub session_duration: Duration,
    pub expires_at: Instant,
}

/// A console session started by `Action=login`.
pub struct ConsoleSession {
    pub account_id: String,
    pub role_name: String,
    pub user: String,
    pub destination: String,
    pub issuer: String,
    pub expires_at: Instant,
}

/// One AWS call as the emulator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Milliseconds since the emulator started (monotonic, real time).
    pub at_ms: f64,
    pub operation: String,
    pub status: u16,
    /// `ok`, the exception name, the injected fault (`reset`, `garbage`), or `abandoned` when
    /// the client hung up before the answer.
    pub outcome: String,
    /// For CreateToken, the grant type; otherwise empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Put in a response's extensions by a handler, so the call log can say more than the outcome.
#[derive(Debug, Clone)]
pub struct CallDetail(pub String);

impl Emulator {
    pub fn new(base_url: String, fixture: Fixture) -> Self {
        Self {
            base_url,
            fixture,
            jwt: Signer::new(),
            started: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A handler never panics while holding the lock, so poisoning only follows a bug that
        // already crashed a task; the data is still consistent enough to keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every secret this emulator has handed out so far.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.lock().issued.clone()
    }

    pub fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }
}

impl Inner {
    /// The emulator's monotonic clock: real time plus whatever the control API advanced.
    pub fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    /// The emulator's wall clock, in seconds since the epoch.
    pub fn epoch_seconds(&self) -> u64 {
        (SystemTime::now() + self.clock_offset)
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0)
    }

    pub fn new_session(&mut self) -> u64 {
        self.next_session += 1;
        self.next_session
    }

    pub fn next_serial(&mut self) -> u64 {
        self.next_session += 1;
        self.next_session
    }

    pub fn session_ended(&self, session: u64) -> bool {
        self.ended_sessions.contains(&session)
    }
}

/// `len` random letters and digits.
pub fn random_token(prefix: &str, len: usize) -> String {
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::rng(), len)
    )
}

/// A user code in the RFC 8628 style: eight consonants, easy to read aloud, as `BCDF-GHJK`.
pub fn random_user_code() -> String {
    const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let mut rng = rand::rng();
    let mut pick = || LETTERS[rng.random_range(0..LETTERS.len())] as char;
    let first: String = (0..4).map(|_| pick()).collect();
    let second: String = (0..4).map(|_| pick()).collect();
    format!("{first}-{second}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_have_the_rfc_8628_shape() {
        let code = random_user_code();
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
        assert!(code.chars().all(|c| c == '-' || c.is_ascii_uppercase()));
        assert_ne!(random_user_code(), random_user_code());
    }

    #[test]
    fn advancing_the_clock_moves_both_clocks() {
        let mut inner = Inner::default();
        let (before, before_epoch) = (inner.now(), inner.epoch_seconds());
        inner.clock_offset = Duration::from_secs(3600);
        assert!(inner.now() >= before + Duration::from_secs(3600));
        assert!(inner.epoch_seconds() >= before_epoch + 3600);
    }
}
