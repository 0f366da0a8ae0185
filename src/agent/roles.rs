//! Role credentials in memory, per (session, account, role). A request for a cached role is
//! answered from memory; concurrent requests for a missing role make one upstream call; credentials
//! are renewed in the background before they fall under the hand-out minimum.

use crate::portal::RoleCredentials;
use crate::protocol::{self, Credentials, Response};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// Hand out only credentials valid this much longer: botocore treats anything less as expiring
/// and would call again at once.
pub const MIN_VALIDITY: Duration = Duration::from_secs(15 * 60);
/// Renew in the background once less than this is left (5 min before `MIN_VALIDITY` bites).
pub const RENEW_AHEAD: Duration = Duration::from_secs(20 * 60);
/// A failed renewal is tried again after this.
const RETRY_GAP: Duration = Duration::from_secs(30);

pub use crate::config::RoleKey;

/// Credentials ready to send: the response frame is encoded once, when they arrive.
pub struct CachedCredentials {
    pub expiration: SystemTime,
    pub frame: Zeroizing<Vec<u8>>,
}

impl CachedCredentials {
    pub fn new(credentials: &RoleCredentials) -> Self {
        let response = Response::Credentials(Credentials {
            access_key_id: credentials.access_key_id.clone(),
            secret_access_key: credentials.secret_access_key.expose().to_string(),
            session_token: credentials.session_token.expose().to_string(),
            expiration: rfc3339(credentials.expiration),
        });
        let frame = Zeroizing::new(protocol::encode(&response));
        // The Response's own strings are dropped here; zeroize the copies it held.
        if let Response::Credentials(mut credentials) = response {
            use zeroize::Zeroize;
            credentials.secret_access_key.zeroize();
            credentials.session_token.zeroize();
        }
        Self {
            expiration: credentials.expiration,
            frame,
        }
    }

    /// The container-credentials answer for the same credentials, read back from the frame
    /// (only the endpoint needs it; keeping a second encoding would double every role's memory).
    pub fn container_body(&self, account_id: &str) -> Option<Zeroizing<Vec<u8>>> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct ContainerCredentials<'a> {
            access_key_id: &'a str,
            secret_access_key: &'a str,
            token: &'a str,
            expiration: &'a str,
            account_id: &'a str,
        }
        let Ok(Response::Credentials(mut credentials)) =
            serde_json::from_slice::<Response>(self.frame.get(4..)?)
        else {
            return None;
        };
        let body = serde_json::to_vec(&ContainerCredentials {
            access_key_id: &credentials.access_key_id,
            secret_access_key: &credentials.secret_access_key,
            token: &credentials.session_token,
            expiration: &credentials.expiration,
            account_id,
        })
        .ok()
        .map(Zeroizing::new);
        use zeroize::Zeroize;
        credentials.secret_access_key.zeroize();
        credentials.session_token.zeroize();
        body
    }

    pub fn usable_at(&self, now: SystemTime) -> bool {
        now + MIN_VALIDITY <= self.expiration
    }

    pub fn due_for_renewal(&self, now: SystemTime) -> bool {
        now + RENEW_AHEAD >= self.expiration
    }
}

pub struct RoleEntry {
    current: RwLock<Option<Arc<CachedCredentials>>>,
    /// Held while fetching: the single flight.
    pub fetching: tokio::sync::Mutex<()>,
    last_used: AtomicU64,
    /// When the renewer last tried (epoch seconds), so a failing upstream is retried in steps.
    last_attempt: AtomicU64,
}

impl RoleEntry {
    fn new() -> Self {
        Self {
            current: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
            last_used: AtomicU64::new(0),
            last_attempt: AtomicU64::new(0),
        }
    }

    /// The cached credentials if they may be handed out at `now`.
    pub fn usable(&self, now: SystemTime) -> Option<Arc<CachedCredentials>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .filter(|cached| cached.usable_at(now))
            .cloned()
    }

    pub fn current(&self) -> Option<Arc<CachedCredentials>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn store(&self, cached: CachedCredentials) -> Arc<CachedCredentials> {
        let cached = Arc::new(cached);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(cached.clone());
        cached
    }

    pub fn touch(&self, now: SystemTime) {
        self.last_used.store(epoch(now), Ordering::Relaxed);
    }

    /// How long until the renewer should act on this role; `None`: now.
    pub fn renewal_wait(&self, now: SystemTime) -> Option<Duration> {
        let current = self.current()?;
        let due = current
            .expiration
            .checked_sub(RENEW_AHEAD)
            .unwrap_or(current.expiration);
        let retry =
            UNIX_EPOCH + Duration::from_secs(self.last_attempt.load(Ordering::Relaxed)) + RETRY_GAP;
        let wait = due.max(retry).duration_since(now).unwrap_or_default();
        (!wait.is_zero()).then_some(wait)
    }

    pub fn attempted(&self, now: SystemTime) {
        self.last_attempt.store(epoch(now), Ordering::Relaxed);
    }

    /// Whether someone asked for this role within `window` of `now`.
    pub fn used_within(&self, window: Duration, now: SystemTime) -> bool {
        self.last_used.load(Ordering::Relaxed) + window.as_secs() >= epoch(now)
    }
}

#[derive(Default)]
pub struct RoleCache {
    /// Keyed by the config index's own `Arc<RoleKey>`: its names exist once.
    entries: Mutex<HashMap<Arc<RoleKey>, Arc<RoleEntry>>>,
    /// Signalled when credentials arrive, so the renewer learns the new deadline.
    pub added: tokio::sync::Notify,
}

impl RoleCache {
    pub fn entry(&self, key: &Arc<RoleKey>) -> Arc<RoleEntry> {
        let mut entries = self.lock();
        if let Some(entry) = entries.get(&**key) {
            return entry.clone();
        }
        let entry = Arc::new(RoleEntry::new());
        entries.insert(key.clone(), entry.clone());
        entry
    }

    /// Every entry, for the renewer.
    pub fn entries(&self) -> Vec<(Arc<RoleKey>, Arc<RoleEntry>)> {
        self.lock()
            .iter()
            .map(|(key, entry)| (key.clone(), entry.clone()))
            .collect()
    }

    /// Every cached role with its credentials' expiration, in key order.
    pub fn snapshot(&self) -> Vec<(Arc<RoleKey>, SystemTime)> {
        let mut roles: Vec<_> = self
            .lock()
            .iter()
            .filter_map(|(key, entry)| {
                entry
                    .current()
                    .map(|cached| (key.clone(), cached.expiration))
            })
            .collect();
        roles.sort();
        roles
    }

    pub fn forget_session(&self, session: &str) {
        self.lock()
            .retain(|key, _| key.license || key.session() != session);
    }

    /// Drops a License Manager profile's credentials (its token changed or went).
    pub fn forget_license(&self, profile: &str) {
        self.lock()
            .retain(|key, _| !key.license || key.session() != profile);
    }

    /// The credentials cached for `key`, usable or not.
    pub fn current(&self, key: &RoleKey) -> Option<Arc<CachedCredentials>> {
        self.lock().get(key).and_then(|entry| entry.current())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<RoleKey>, Arc<RoleEntry>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 3339 in UTC, as `credential_process` wants it.
pub fn rfc3339(time: SystemTime) -> String {
    aws_sdk_sso::primitives::DateTime::from(time)
        .fmt(aws_sdk_sso::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn credentials(valid_for: Duration) -> CachedCredentials {
        CachedCredentials::new(&RoleCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("secret"),
            session_token: Secret::new("token"),
            expiration: SystemTime::now() + valid_for,
        })
    }

    #[test]
    fn credentials_are_handed_out_only_with_fifteen_minutes_left_and_renewed_at_twenty() {
        let now = SystemTime::now();
        let fresh = credentials(Duration::from_secs(3600));
        assert!(fresh.usable_at(now) && !fresh.due_for_renewal(now));
        let ageing = credentials(Duration::from_secs(19 * 60));
        assert!(ageing.usable_at(now) && ageing.due_for_renewal(now));
        let expiring = credentials(Duration::from_secs(14 * 60));
        assert!(!expiring.usable_at(now));
    }

    #[test]
    fn the_frame_is_the_credentials_response_with_an_rfc3339_expiration() {
        let cached = credentials(Duration::from_secs(3600));
        let payload = protocol::read_frame(&mut cached.frame.as_slice()).unwrap();
        let response: Response = serde_json::from_slice(&payload).unwrap();
        let Response::Credentials(credentials) = response else {
            panic!()
        };
        assert_eq!(credentials.secret_access_key, "secret");
        assert!(credentials.expiration.ends_with('Z') && credentials.expiration.contains('T'));
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
