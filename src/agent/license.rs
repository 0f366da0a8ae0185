//! License Manager profiles in the agent: the refresh token read from the keyring once, the
//! access token kept for its hour, and role credentials cached, renewed and single-flighted in
//! the same `RoleCache` as SSO roles (the profile's `RoleKey` has `license: true`).

use super::roles::{rfc3339, CachedCredentials, RoleEntry, RoleKey};
use super::{error, Agent, Reply};
use crate::config::{LicenseEntry, LicenseProfileConfig};
use crate::license::{upstream, LicenseFailure, TokenClaims};
use crate::protocol::{ErrorKind, LicenseStatus, LicenseToken, Response};
use crate::secret::Secret;
use crate::store::{
    bounded, epoch_to_time, store_timeout, time_to_epoch, LicenseRecord, TokenStore,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// GetAccessToken's tokens are valid one hour (the API reference).
const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// An access token with less than this left is not sent to STS.
const ACCESS_TOKEN_MARGIN: Duration = Duration::from_secs(5 * 60);

/// One License Manager profile: what the keyring holds, and the access token while it lasts.
pub struct LicenseSlot {
    state: Mutex<LicenseState>,
}

#[derive(Default)]
struct LicenseState {
    record: Option<LicenseRecord>,
    /// Bumped whenever `record` is replaced, so a fetch that began with the old token does not
    /// leave its access token, credentials or failure behind for the new one.
    generation: u64,
    /// The access token and when it ends (epoch seconds).
    access: Option<(Secret, u64)>,
    /// The last failure, for `status`; one that needs a new token stops upstream calls.
    problem: Option<LicenseFailure>,
}

impl LicenseSlot {
    fn new(record: Option<LicenseRecord>) -> Self {
        Self {
            state: Mutex::new(LicenseState {
                record,
                ..LicenseState::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LicenseState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The token and the generation it belongs to.
    fn record(&self) -> (Option<LicenseRecord>, u64) {
        let state = self.state();
        (state.record.clone(), state.generation)
    }

    /// A new token (or none): everything learnt with the old one goes.
    fn replace(&self, record: Option<LicenseRecord>) -> Option<LicenseRecord> {
        let mut state = self.state();
        let generation = state.generation + 1;
        std::mem::replace(
            &mut *state,
            LicenseState {
                record,
                generation,
                ..LicenseState::default()
            },
        )
        .record
    }

    /// Runs `change` on the state if the token is still the one of `generation`.
    fn if_current<T>(
        &self,
        generation: u64,
        change: impl FnOnce(&mut LicenseState) -> T,
    ) -> Option<T> {
        let mut state = self.state();
        (state.generation == generation).then(|| change(&mut state))
    }

    fn access_token(&self, now: SystemTime) -> Option<Secret> {
        let state = self.state();
        let (token, ends) = state.access.as_ref()?;
        (now + ACCESS_TOKEN_MARGIN < epoch_to_time(*ends)).then(|| token.clone())
    }

    fn failed(&self, generation: u64, failure: &LicenseFailure) {
        self.if_current(generation, |state| {
            if failure.needs_new_token() {
                state.access = None;
            }
            state.problem = Some(failure.clone());
        });
    }
}

/// The profile's slot, its keyring item read the first time (one read per profile).
async fn slot(agent: &Agent, profile: &str) -> Result<Arc<LicenseSlot>, LicenseFailure> {
    let _opening = agent.license_opening.lock().await;
    if let Some(slot) = agent.lock_licenses().get(profile).cloned() {
        return Ok(slot);
    }
    let store = agent.store.clone();
    let name = profile.to_string();
    let record = bounded(store.kind(), store_timeout(), move || {
        store.load_license(&name)
    })
    .await
    .map_err(|err| LicenseFailure::Store {
        profile: profile.to_string(),
        detail: err.to_string(),
    })?;
    let slot = Arc::new(LicenseSlot::new(record));
    agent
        .lock_licenses()
        .insert(profile.to_string(), slot.clone());
    Ok(slot)
}

pub async fn credentials(agent: &Arc<Agent>, license: LicenseEntry) -> Reply {
    let entry = agent.roles.entry(&license.role);
    let now = SystemTime::now();
    entry.touch(now);
    if let Some(cached) = entry.usable(now) {
        return Reply::Encoded(cached);
    }
    let slot = match slot(agent, &license.profile.name).await {
        Ok(slot) => slot,
        Err(failure) => return error(ErrorKind::Store, failure.to_string()),
    };
    // One GetAccessToken and one AssumeRoleWithWebIdentity however many requests wait here.
    let _flight = entry.fetching.lock().await;
    if let Some(cached) = entry.usable(SystemTime::now()) {
        return Reply::Encoded(cached);
    }
    match fetch(agent, &slot, &license.profile, &entry).await {
        Ok(cached) => Reply::Encoded(cached),
        Err(failure) => {
            let kind = match failure {
                LicenseFailure::Store { .. } => ErrorKind::Store,
                LicenseFailure::NoToken { .. } => ErrorKind::Config,
                _ => ErrorKind::Upstream,
            };
            error(kind, failure.to_string())
        }
    }
}

/// The access token (cached, else GetAccessToken), then AssumeRoleWithWebIdentity; the
/// credentials are cached in `entry`. Call it holding `entry.fetching`.
async fn fetch(
    agent: &Arc<Agent>,
    slot: &LicenseSlot,
    profile: &LicenseProfileConfig,
    entry: &RoleEntry,
) -> Result<Arc<CachedCredentials>, LicenseFailure> {
    let (record, generation) = slot.record();
    let result = fetch_unrecorded(agent, slot, profile, entry, record, generation).await;
    match &result {
        Ok(_) => {
            slot.if_current(generation, |state| state.problem = None);
        }
        Err(failure) => slot.failed(generation, failure),
    }
    result
}

async fn fetch_unrecorded(
    agent: &Arc<Agent>,
    slot: &LicenseSlot,
    profile: &LicenseProfileConfig,
    entry: &RoleEntry,
    record: Option<LicenseRecord>,
    generation: u64,
) -> Result<Arc<CachedCredentials>, LicenseFailure> {
    let name = profile.name.clone();
    let record = record.ok_or_else(|| LicenseFailure::NoToken {
        profile: name.clone(),
    })?;
    let known_problem = slot.if_current(generation, |state| state.problem.clone());
    if let Some(problem) = known_problem
        .flatten()
        .filter(LicenseFailure::needs_new_token)
    {
        return Err(problem);
    }
    let now = SystemTime::now();
    if time_to_epoch(now) >= record.expires_at {
        return Err(LicenseFailure::Expired {
            profile: name,
            expired_at: rfc3339(epoch_to_time(record.expires_at)),
        });
    }
    let clients = agent.clients(&profile.region).await;
    // An access token STS finds expired (a clock step, a suspend) is replaced once.
    for attempt in 0..2 {
        let access = match slot.access_token(SystemTime::now()) {
            Some(access) if attempt == 0 => access,
            _ => {
                let issued = SystemTime::now();
                let access = upstream::get_access_token(
                    &clients.license_manager,
                    &name,
                    &record.token,
                    &profile.token_properties,
                )
                .await?;
                // Its own `exp` when it says one sooner than the documented hour.
                let hour = time_to_epoch(issued + ACCESS_TOKEN_LIFETIME);
                let ends = TokenClaims::read(access.expose())
                    .map_or(hour, |claims| claims.expires_at.min(hour));
                slot.if_current(generation, |state| {
                    state.access = Some((access.clone(), ends))
                });
                access
            }
        };
        match upstream::assume_role(
            &clients.sts,
            &name,
            &profile.role_arn,
            &profile.role_session_name,
            &access,
        )
        .await
        {
            Ok(credentials) => {
                let fetched = CachedCredentials::new(&credentials);
                // Credentials of a token replaced meanwhile answer this request only.
                let cached = slot
                    .if_current(generation, |_| entry.store(fetched))
                    .unwrap_or_else(|| Arc::new(CachedCredentials::new(&credentials)));
                agent.roles.added.notify_one();
                return Ok(cached);
            }
            Err(LicenseFailure::Sts { code, .. })
                if attempt == 0 && code == "ExpiredTokenException" =>
            {
                slot.if_current(generation, |state| state.access = None);
            }
            Err(failure) => return Err(failure),
        }
    }
    unreachable!("the second attempt returns")
}

/// The renewer's turn for a License Manager role: as a request would fetch it, unless a request
/// is fetching it already or the token needs replacing.
pub async fn renew(agent: Arc<Agent>, key: Arc<RoleKey>, entry: Arc<RoleEntry>) {
    let Ok(_flight) = entry.fetching.try_lock() else {
        return;
    };
    let Ok(config) = agent.config.current().await else {
        return;
    };
    let Some(Ok(license)) = config.license_profile(key.session()) else {
        return;
    };
    let Some(slot) = agent.lock_licenses().get(key.session()).cloned() else {
        return;
    };
    if let Err(failure) = fetch(&agent, &slot, &license.profile, &entry).await {
        tracing::warn!(
            "renewing License Manager profile {}: {failure}",
            key.session()
        );
    }
}

/// `license import` / `create-token`: the token replaces the profile's item and its cached
/// credentials.
pub async fn import(
    agent: &Arc<Agent>,
    profile: &str,
    token: Secret,
    source_profile: Option<String>,
) -> Reply {
    let license = match license_profile(agent, profile).await {
        Ok(license) => license,
        Err(reply) => return reply,
    };
    let claims = match TokenClaims::read(token.expose()) {
        Ok(claims) => claims,
        Err(err) => return error(ErrorKind::BadRequest, err.to_string()),
    };
    let record = LicenseRecord {
        token,
        token_id: claims.token_id,
        license_arn: claims.license_arn,
        expires_at: claims.expires_at,
        source_profile,
    };
    let name = license.profile.name.clone();
    // The item is overwritten without being read first: an unreadable one is what this
    // command replaces.
    crate::failpoint::hit("license:before-save");
    let store = agent.store.clone();
    let (item, saved) = (name.clone(), record.clone());
    if let Err(err) = bounded(store.kind(), store_timeout(), move || {
        store.save_license(&item, &saved)
    })
    .await
    {
        return error(
            ErrorKind::Store,
            format!("the token of profile {name} was not saved: {err}"),
        );
    }
    replace_token(agent, &name, Some(record.clone())).await;
    Response::LicenseStored(token_info(&name, &record)).into()
}

/// `license delete`: forgets the token (keyring and memory) and the profile's credentials.
pub async fn forget(agent: &Arc<Agent>, profile: &str) -> Reply {
    let license = match license_profile(agent, profile).await {
        Ok(license) => license,
        Err(reply) => return reply,
    };
    let name = license.profile.name.clone();
    // Whether there was a token, without requiring a readable item: an unreadable one counts.
    let opened = agent.lock_licenses().get(&name).cloned();
    let had_token = match opened {
        Some(slot) => slot.record().0.is_some(),
        None => {
            let (store, item) = (agent.store.clone(), name.clone());
            !matches!(
                bounded(store.kind(), store_timeout(), move || store
                    .load_license(&item))
                .await,
                Ok(None)
            )
        }
    };
    let store = agent.store.clone();
    let item = name.clone();
    if let Err(err) = bounded(store.kind(), store_timeout(), move || {
        store.delete_license(&item)
    })
    .await
    {
        return error(
            ErrorKind::Store,
            format!("the token of profile {name} was not removed: {err}"),
        );
    }
    let forgotten = replace_token(agent, &name, None).await.is_some() || had_token;
    Response::LicenseForgotten {
        profile: name,
        forgotten,
    }
    .into()
}

/// Puts `record` in the profile's slot (made if it was never opened) once the keyring holds it,
/// and drops the profile's cached credentials. Returns the token it replaced.
async fn replace_token(
    agent: &Agent,
    profile: &str,
    record: Option<LicenseRecord>,
) -> Option<LicenseRecord> {
    let _opening = agent.license_opening.lock().await;
    let opened = agent.lock_licenses().get(profile).cloned();
    let previous = match opened {
        Some(slot) => slot.replace(record),
        None => {
            let slot = Arc::new(LicenseSlot::new(record));
            agent.lock_licenses().insert(profile.to_string(), slot);
            None
        }
    };
    agent.roles.forget_license(profile);
    previous
}

async fn license_profile(agent: &Agent, profile: &str) -> Result<LicenseEntry, Reply> {
    let config = agent
        .config
        .current()
        .await
        .map_err(|err| error(ErrorKind::Config, err.to_string()))?;
    match config.license_profile(profile) {
        Some(Ok(license)) => Ok(license),
        Some(Err(err)) => Err(error(ErrorKind::Config, err.to_string())),
        None => Err(error(
            ErrorKind::Config,
            format!(
                "[profile {profile}] in {} is not a License Manager profile; add `sso_agent_license_role_arn = <role ARN>` and `region = <the license's home Region>` to it",
                config.file()
            ),
        )),
    }
}

fn token_info(profile: &str, record: &LicenseRecord) -> LicenseToken {
    LicenseToken {
        profile: profile.to_string(),
        token_id: record.token_id.clone(),
        license_arn: record.license_arn.clone(),
        expires_at: rfc3339(epoch_to_time(record.expires_at)),
        source_profile: record.source_profile.clone(),
    }
}

/// Opens every configured License Manager profile (one keyring read each), at start.
pub async fn open_configured(agent: &Agent) {
    let Ok(config) = agent.config.current().await else {
        return;
    };
    for license in config.license_profiles() {
        if let Err(failure) = slot(agent, &license.profile.name).await {
            tracing::warn!("{failure}");
        }
    }
}

/// `status` lines of every License Manager profile the config names.
pub async fn statuses(agent: &Agent) -> Vec<LicenseStatus> {
    let Ok(config) = agent.config.current().await else {
        return Vec::new();
    };
    let now = SystemTime::now();
    let mut lines = Vec::new();
    for license in config.license_profiles() {
        let name = license.profile.name.clone();
        let (token, problem) = match slot(agent, &name).await {
            Ok(slot) => {
                let state = slot.state();
                let token = state
                    .record
                    .as_ref()
                    .map(|record| token_info(&name, record));
                let problem = match &state.record {
                    None => Some(LicenseFailure::NoToken {
                        profile: name.clone(),
                    }),
                    Some(record) if time_to_epoch(now) >= record.expires_at => {
                        Some(LicenseFailure::Expired {
                            profile: name.clone(),
                            expired_at: rfc3339(epoch_to_time(record.expires_at)),
                        })
                    }
                    Some(_) => state.problem.clone(),
                };
                (token, problem.map(|problem| problem.to_string()))
            }
            Err(failure) => (None, Some(failure.to_string())),
        };
        let credentials_expiration = agent
            .roles
            .current(&license.role)
            .map(|cached| rfc3339(cached.expiration));
        lines.push(LicenseStatus {
            profile: name,
            role_arn: license.profile.role_arn.clone(),
            region: license.profile.region.clone(),
            token,
            credentials_expiration,
            problem,
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_token_is_used_until_five_minutes_before_its_hour_ends() {
        let slot = LicenseSlot::new(None);
        let now = SystemTime::now();
        let ends = time_to_epoch(now + ACCESS_TOKEN_LIFETIME);
        slot.state().access = Some((Secret::new("access"), ends));
        assert!(slot.access_token(now).is_some());
        assert!(slot
            .access_token(now + Duration::from_secs(54 * 60))
            .is_some());
        assert!(slot
            .access_token(now + Duration::from_secs(56 * 60))
            .is_none());
    }

    #[test]
    fn a_failure_that_needs_a_new_token_drops_the_access_token() {
        let slot = LicenseSlot::new(None);
        slot.state().access = Some((Secret::new("access"), u64::MAX));
        slot.failed(
            0,
            &LicenseFailure::Unreachable {
                profile: "p".into(),
                service: "STS",
                variable: "AWS_ENDPOINT_URL_STS",
                detail: "down".into(),
            },
        );
        assert!(
            slot.state().access.is_some(),
            "a transient failure keeps it"
        );
        slot.failed(
            0,
            &LicenseFailure::Refused {
                profile: "p".into(),
                detail: "deleted".into(),
            },
        );
        assert!(slot.state().access.is_none());
    }

    #[test]
    fn what_was_learnt_with_a_replaced_token_is_not_kept() {
        let slot = LicenseSlot::new(None);
        let (_, old) = slot.record();
        slot.replace(None);
        assert!(slot
            .if_current(old, |state| state.access =
                Some((Secret::new("old"), u64::MAX)))
            .is_none());
        slot.failed(
            old,
            &LicenseFailure::Refused {
                profile: "p".into(),
                detail: "the old token".into(),
            },
        );
        let state = slot.state();
        assert!(state.access.is_none() && state.problem.is_none());
    }
}
