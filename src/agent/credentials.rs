//! `credentials`: a profile's role credentials, from memory when they are cached.

use super::roles::{CachedCredentials, RoleKey, MIN_VALIDITY, RENEW_AHEAD};
use super::sessions::{NotReady, SessionSlot};
use super::{error, Agent, Reply};
use crate::portal::{self, PortalError};
use crate::protocol::{ErrorKind, Response};
use crate::store::TokenSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Roles nobody asked for in this long are left to lapse instead of being renewed.
const KEEP_WARM: Duration = Duration::from_secs(3600);

pub async fn handle(agent: &Arc<Agent>, profile: &str, wait: bool) -> Reply {
    let profile = match agent.config.profile(profile).await {
        Ok(profile) => profile,
        Err(err) => return error(ErrorKind::Config, err.to_string()),
    };
    let key = RoleKey {
        session: profile.session.name.clone(),
        account_id: profile.account_id.clone(),
        role_name: profile.role_name.clone(),
    };
    let entry = agent.roles.entry(&key);
    let now = SystemTime::now();
    entry.touch(now);
    if let Some(cached) = entry.usable(now) {
        return Reply::Encoded(cached);
    }

    let slot = match agent.session(&profile.session).await {
        Ok(slot) => slot,
        Err(message) => return error(ErrorKind::Store, message),
    };
    let token = match slot.token_or_login(wait, &agent.stopping()).await {
        Ok(token) => token,
        Err(NotReady::LoginPending(pending)) => return Response::LoginPending(pending).into(),
        Err(NotReady::LoginFailed(message)) => return error(ErrorKind::Login, message),
    };
    // One upstream call however many requests wait here; the others find its result.
    let _flight = entry.fetching.lock().await;
    if let Some(cached) = entry.usable(SystemTime::now()) {
        return Reply::Encoded(cached);
    }
    match fetch(agent, &slot, &key, &token).await {
        Ok(cached) => Reply::Encoded(cached),
        Err(err) => error(kind_of(&err), describe(&err, &key.session)),
    }
}

/// GetRoleCredentials, cached, with its renewal scheduled. Call it holding `fetching`.
async fn fetch(
    agent: &Arc<Agent>,
    slot: &Arc<SessionSlot>,
    key: &RoleKey,
    token: &TokenSet,
) -> Result<Arc<CachedCredentials>, PortalError> {
    let clients = agent.clients(&slot.config.region).await;
    let fetched = portal::get_role_credentials(
        &clients.sso,
        &token.access_token,
        &key.account_id,
        &key.role_name,
    )
    .await;
    let credentials = match fetched {
        Ok(credentials) => credentials,
        Err(PortalError::Unauthorized) => {
            // Revoked upstream (a logout elsewhere): the next request logs in again.
            slot.drop_token(token);
            return Err(PortalError::Unauthorized);
        }
        Err(err) => return Err(err),
    };
    if credentials.expiration < SystemTime::now() + MIN_VALIDITY {
        tracing::warn!(
            "credentials for {}/{} last less than {} minutes; callers will ask again soon",
            key.account_id,
            key.role_name,
            MIN_VALIDITY.as_secs() / 60
        );
    }
    let cached = agent
        .roles
        .entry(key)
        .store(CachedCredentials::new(&credentials));
    schedule_renewal(agent.clone(), key.clone(), cached.expiration);
    Ok(cached)
}

/// Renews the role before its credentials fall under `MIN_VALIDITY`, while it is in use.
fn schedule_renewal(agent: Arc<Agent>, key: RoleKey, expiration: SystemTime) {
    tokio::spawn(async move {
        let mut stop = agent.stopping();
        let mut retry = Duration::from_secs(30);
        loop {
            // Sleep in steps of at most a minute: wall-clock time goes on while a laptop sleeps.
            let due = expiration.checked_sub(RENEW_AHEAD).unwrap_or(expiration);
            let wait = due.duration_since(SystemTime::now()).unwrap_or_default();
            if !wait.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(wait.min(Duration::from_secs(60))) => continue,
                    () = super::stopped(&mut stop) => return,
                }
            }
            let now = SystemTime::now();
            let Some(entry) = agent.roles.existing(&key) else {
                return;
            };
            if !entry.used_within(KEEP_WARM, now) || now >= expiration {
                return;
            }
            let Ok(flight) = entry.fetching.try_lock() else {
                return;
            };
            if entry
                .current()
                .is_some_and(|current| current.expiration != expiration)
            {
                return; // renewed by a request meanwhile; that fetch scheduled its own renewal
            }
            let Some(slot) = agent.open_slot(&key.session) else {
                return;
            };
            let Some(token) = slot.valid_token(now) else {
                return;
            };
            match fetch(&agent, &slot, &key, &token).await {
                Ok(_) => return,
                Err(err) => {
                    tracing::warn!(
                        "renewing {}/{}: {err}; retrying in {}s",
                        key.account_id,
                        key.role_name,
                        retry.as_secs()
                    );
                    drop(flight);
                    tokio::select! {
                        () = tokio::time::sleep(retry) => {}
                        () = super::stopped(&mut stop) => return,
                    }
                    retry = (retry * 2).min(Duration::from_secs(300));
                }
            }
        }
    });
}

fn kind_of(err: &PortalError) -> ErrorKind {
    match err {
        PortalError::Unauthorized => ErrorKind::Login,
        PortalError::NoSuchRole { .. } => ErrorKind::Config,
        _ => ErrorKind::Upstream,
    }
}

fn describe(err: &PortalError, session: &str) -> String {
    match err {
        PortalError::Unauthorized => {
            format!("{err}; log in again with `sso-agent login --sso-session {session}`")
        }
        _ => err.to_string(),
    }
}
