//! Who may read which profile on the container-credentials endpoint: one random bearer token per
//! grant, each for one profile, ending at a time, with a process, or when revoked (`ecs-env
//! --revoke`, a logout of its session).
//!
//! Grants are kept by the SHA-256 of their token, so a request costs one hash and one map
//! lookup however many grants are live. The lookup's timing can tell only how much of a digest
//! matched, which says nothing about a token (that would take a preimage). Tokens themselves
//! never leave this module except to the caller that asked for the grant.

use super::process::ProcessWatch;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;
use zeroize::Zeroizing;

/// Grants alive at once; a new one past this is refused (each `exec --ecs` holds one).
pub const MAX_GRANTS: usize = 4096;
/// Timed grants (`ecs-env`) alive at once for one profile. They last up to 7 days and end only
/// at their time or by revocation, so a script that asks in a loop would otherwise fill the
/// table for days; a process grant ends with its process.
pub const MAX_TIMED_PER_PROFILE: usize = 64;
/// 32 random bytes, hex: 256 bits an attacker on the loopback cannot guess.
const TOKEN_BYTES: usize = 32;

pub enum Ends {
    At(SystemTime),
    WithProcess(ProcessWatch),
}

impl Ends {
    fn has_ended(&self, now: SystemTime) -> bool {
        match self {
            Ends::At(at) => now >= *at,
            Ends::WithProcess(process) => !process.running(),
        }
    }
}

struct Grant {
    profile: String,
    /// The sso-session the profile used when granted: its logout ends the grant.
    session: String,
    ends: Ends,
}

/// A live grant as `status` shows it: never its token.
pub struct GrantView {
    pub profile: String,
    pub ends_at: Option<SystemTime>,
    pub pid: Option<u32>,
}

/// Why a request was not let through.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header: 401.
    Missing,
    /// A token that is no live grant's, or another profile's: 403.
    Wrong,
}

type TokenDigest = [u8; 32];

#[derive(Default)]
pub struct Grants {
    live: Mutex<HashMap<TokenDigest, Grant>>,
}

impl Grants {
    /// A new grant for `profile` of `session`; its token.
    pub fn issue(
        &self,
        profile: &str,
        session: &str,
        ends: Ends,
    ) -> Result<Zeroizing<String>, String> {
        let token = new_token()?;
        let mut live = self.lock();
        let timed = matches!(ends, Ends::At(_));
        let full = |live: &HashMap<TokenDigest, Grant>| {
            live.len() >= MAX_GRANTS || (timed && timed_for(live, profile) >= MAX_TIMED_PER_PROFILE)
        };
        if full(&live) {
            sweep(&mut live, SystemTime::now());
        }
        if live.len() >= MAX_GRANTS {
            return Err(format!(
                "{MAX_GRANTS} container-credentials grants are live; let some end (`exec --ecs` commands exit, `ecs-env` grants expire), end them with `sso-agent ecs-env --profile P --revoke`, or restart the agent"
            ));
        }
        if full(&live) {
            return Err(format!(
                "{MAX_TIMED_PER_PROFILE} `ecs-env` grants for profile {profile} are live; reuse one, or end them with `sso-agent ecs-env --profile {profile} --revoke`"
            ));
        }
        live.insert(
            digest(token.as_bytes()),
            Grant {
                profile: profile.to_string(),
                session: session.to_string(),
                ends,
            },
        );
        Ok(token)
    }

    /// Lets a request for `profile` with this `Authorization` value through, or says why not.
    pub fn check(&self, profile: &str, presented: Option<&[u8]>) -> Result<(), Refusal> {
        let key = digest(presented.ok_or(Refusal::Missing)?);
        let mut live = self.lock();
        let grant = live.get(&key).ok_or(Refusal::Wrong)?;
        if grant.ends.has_ended(SystemTime::now()) {
            live.remove(&key);
            return Err(Refusal::Wrong);
        }
        if grant.profile != profile {
            return Err(Refusal::Wrong);
        }
        Ok(())
    }

    /// Ends `profile`'s timed grants (a process grant ends with its command). How many ended.
    pub fn revoke_timed(&self, profile: &str) -> usize {
        self.revoke(|grant| grant.profile == profile && matches!(grant.ends, Ends::At(_)))
    }

    /// Ends every grant made through these sessions (they were logged out of).
    pub fn revoke_sessions(&self, sessions: &[String]) -> usize {
        self.revoke(|grant| sessions.contains(&grant.session))
    }

    fn revoke(&self, ends_now: impl Fn(&Grant) -> bool) -> usize {
        let mut live = self.lock();
        let before = live.len();
        live.retain(|_, grant| !ends_now(grant));
        before - live.len()
    }

    /// Drops the grants that have ended (their process handles close with them).
    pub fn sweep(&self) {
        sweep(&mut self.lock(), SystemTime::now());
    }

    /// The live grants, for `status`, by profile.
    pub fn views(&self) -> Vec<GrantView> {
        let mut live = self.lock();
        sweep(&mut live, SystemTime::now());
        let mut views: Vec<GrantView> = live
            .values()
            .map(|grant| GrantView {
                profile: grant.profile.clone(),
                ends_at: match &grant.ends {
                    Ends::At(at) => Some(*at),
                    Ends::WithProcess(_) => None,
                },
                pid: match &grant.ends {
                    Ends::At(_) => None,
                    Ends::WithProcess(process) => Some(process.pid()),
                },
            })
            .collect();
        views.sort_by(|a, b| (&a.profile, a.ends_at, a.pid).cmp(&(&b.profile, b.ends_at, b.pid)));
        views
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenDigest, Grant>> {
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn sweep(live: &mut HashMap<TokenDigest, Grant>, now: SystemTime) {
    live.retain(|_, grant| !grant.ends.has_ended(now));
}

fn timed_for(live: &HashMap<TokenDigest, Grant>, profile: &str) -> usize {
    live.values()
        .filter(|grant| grant.profile == profile && matches!(grant.ends, Ends::At(_)))
        .count()
}

fn digest(token: &[u8]) -> TokenDigest {
    Sha256::digest(token).into()
}

fn new_token() -> Result<Zeroizing<String>, String> {
    let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
    getrandom::fill(bytes.as_mut())
        .map_err(|err| format!("the system's random source failed: {err}"))?;
    let mut token = Zeroizing::new(String::with_capacity(TOKEN_BYTES * 2));
    for byte in bytes.iter() {
        use std::fmt::Write;
        let _ = write!(token, "{byte:02x}");
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn in_an_hour() -> Ends {
        Ends::At(SystemTime::now() + Duration::from_secs(3600))
    }

    #[test]
    fn a_token_reads_its_own_profile_only() {
        let grants = Grants::default();
        let a = grants.issue("a", "s", in_an_hour()).unwrap();
        let b = grants.issue("b", "s", in_an_hour()).unwrap();
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 64);
        assert_eq!(grants.check("a", Some(a.as_bytes())), Ok(()));
        assert_eq!(grants.check("b", Some(b.as_bytes())), Ok(()));
        assert_eq!(grants.check("b", Some(a.as_bytes())), Err(Refusal::Wrong));
        assert_eq!(grants.check("a", None), Err(Refusal::Missing));
        assert_eq!(grants.check("a", Some(b"")), Err(Refusal::Wrong));
        let mut near = a.as_bytes().to_vec();
        near[63] ^= 1;
        assert_eq!(grants.check("a", Some(&near)), Err(Refusal::Wrong));
    }

    #[test]
    fn an_ended_grant_lets_nothing_through_and_is_dropped() {
        let grants = Grants::default();
        let old = grants
            .issue(
                "a",
                "s",
                Ends::At(SystemTime::now() - Duration::from_secs(1)),
            )
            .unwrap();
        assert_eq!(grants.check("a", Some(old.as_bytes())), Err(Refusal::Wrong));
        assert!(grants.views().is_empty());
    }

    #[test]
    fn revoking_ends_a_profiles_or_a_sessions_grants_only() {
        let grants = Grants::default();
        let a1 = grants.issue("a", "one", in_an_hour()).unwrap();
        let a2 = grants.issue("a", "one", in_an_hour()).unwrap();
        let b = grants.issue("b", "two", in_an_hour()).unwrap();
        assert_eq!(grants.revoke_timed("a"), 2);
        assert_eq!(grants.check("a", Some(a1.as_bytes())), Err(Refusal::Wrong));
        assert_eq!(grants.check("a", Some(a2.as_bytes())), Err(Refusal::Wrong));
        assert_eq!(grants.check("b", Some(b.as_bytes())), Ok(()));
        assert_eq!(grants.revoke_sessions(&["one".into()]), 0);
        assert_eq!(grants.revoke_sessions(&["two".into()]), 1);
        assert_eq!(grants.check("b", Some(b.as_bytes())), Err(Refusal::Wrong));
    }

    #[test]
    fn timed_grants_are_capped_per_profile_until_one_ends() {
        let grants = Grants::default();
        for _ in 0..MAX_TIMED_PER_PROFILE {
            grants.issue("a", "s", in_an_hour()).unwrap();
        }
        let refused = grants.issue("a", "s", in_an_hour()).unwrap_err();
        assert!(refused.contains("--revoke"), "{refused}");
        // Another profile is not held up by this one.
        grants.issue("b", "s", in_an_hour()).unwrap();
        assert_eq!(grants.revoke_timed("a"), MAX_TIMED_PER_PROFILE);
        grants.issue("a", "s", in_an_hour()).unwrap();
    }

    #[test]
    fn a_grant_that_ended_by_its_time_frees_its_place() {
        let grants = Grants::default();
        for _ in 1..MAX_TIMED_PER_PROFILE {
            grants.issue("a", "s", in_an_hour()).unwrap();
        }
        let soon = SystemTime::now() + Duration::from_millis(50);
        grants.issue("a", "s", Ends::At(soon)).unwrap();
        assert!(grants.issue("a", "s", in_an_hour()).is_err(), "full");
        std::thread::sleep(Duration::from_millis(60));
        grants.issue("a", "s", in_an_hour()).unwrap();
        assert_eq!(grants.views().len(), MAX_TIMED_PER_PROFILE);
    }
}
