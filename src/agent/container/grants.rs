//! Who may read which profile on the container-credentials endpoint: one random bearer token per
//! grant, each for one profile, ending at a time or with a process. Tokens are compared in
//! constant time and never leave this module except to the caller that asked for the grant.

use super::process::ProcessWatch;
use std::sync::Mutex;
use std::time::SystemTime;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Grants alive at once; a new one past this is refused (each `exec --ecs` holds one).
pub const MAX_GRANTS: usize = 4096;
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
    token: Zeroizing<String>,
    ends: Ends,
}

/// Why a request was not let through.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header: 401.
    Missing,
    /// A token that is no live grant's, or another profile's: 403.
    Wrong,
}

#[derive(Default)]
pub struct Grants {
    live: Mutex<Vec<Grant>>,
}

impl Grants {
    /// A new grant for `profile`; its token. Ended grants are dropped first.
    pub fn issue(&self, profile: &str, ends: Ends) -> Result<Zeroizing<String>, String> {
        let token = new_token()?;
        let mut live = self.lock();
        let now = SystemTime::now();
        live.retain(|grant| !grant.ends.has_ended(now));
        if live.len() >= MAX_GRANTS {
            return Err(format!(
                "{MAX_GRANTS} container-credentials grants are live; let some end (`exec --ecs` commands exit, `ecs-env` grants expire) or restart the agent"
            ));
        }
        live.push(Grant {
            profile: profile.to_string(),
            token: token.clone(),
            ends,
        });
        Ok(token)
    }

    /// Lets a request for `profile` with this `Authorization` value through, or says why not.
    /// Every live grant's token is compared, each in constant time, so the time taken does not
    /// tell how much of a guess was right.
    pub fn check(&self, profile: &str, presented: Option<&[u8]>) -> Result<(), Refusal> {
        let presented = presented.ok_or(Refusal::Missing)?;
        let now = SystemTime::now();
        let mut live = self.lock();
        live.retain(|grant| !grant.ends.has_ended(now));
        let matching = live
            .iter()
            .fold(None, |found, grant| {
                let same: bool = grant.token.as_bytes().ct_eq(presented).into();
                found.or(same.then_some(grant))
            })
            .ok_or(Refusal::Wrong)?;
        if matching.profile != profile {
            return Err(Refusal::Wrong);
        }
        Ok(())
    }

    pub fn live(&self) -> usize {
        let now = SystemTime::now();
        self.lock()
            .iter()
            .filter(|grant| !grant.ends.has_ended(now))
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Grant>> {
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
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
        let a = grants.issue("a", in_an_hour()).unwrap();
        let b = grants.issue("b", in_an_hour()).unwrap();
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
            .issue("a", Ends::At(SystemTime::now() - Duration::from_secs(1)))
            .unwrap();
        assert_eq!(grants.check("a", Some(old.as_bytes())), Err(Refusal::Wrong));
        assert_eq!(grants.live(), 0);
    }
}
