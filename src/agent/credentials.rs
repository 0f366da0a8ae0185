//! `credentials`: a profile's role credentials, from memory when they are cached.

use super::lifecycle::Want;
use super::roles::{CachedCredentials, RoleEntry, RoleKey, MIN_VALIDITY};
use super::slot::{NotReady, SessionSlot};
use super::{error, Agent, Reply};
use crate::portal::{self, PortalError};
use crate::protocol::{ErrorKind, Response};
use crate::store::TokenSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Roles nobody asked for in this long are left to lapse instead of being renewed.
const KEEP_WARM: Duration = Duration::from_secs(3600);

pub async fn handle(agent: &Arc<Agent>, profile: &str, wait: bool) -> Reply {
    handle_wanting(agent, profile, wait, Want::Token).await
}

/// `handle`, with what a session that needs a new token may do (`Want::TokenWithoutLogin`
/// for the container-credentials endpoint). A License Manager profile needs no login at all.
pub async fn handle_wanting(agent: &Arc<Agent>, name: &str, wait: bool, want: Want) -> Reply {
    let config = match agent.config.current().await {
        Ok(config) => config,
        Err(err) => return error(ErrorKind::Config, err.to_string()),
    };
    match config.license_profile(name) {
        Some(Ok(license)) => return super::license::credentials(agent, license).await,
        Some(Err(err)) => return error(ErrorKind::Config, err.to_string()),
        None => {}
    }
    let profile = match config.profile_role(name) {
        Ok(profile) => profile,
        Err(err) => return error(ErrorKind::Config, err.to_string()),
    };
    drop(config);
    let key = profile.role;
    let entry = agent.roles.entry(&key);
    let now = SystemTime::now();
    entry.touch(now);
    if let Some(cached) = entry.usable(now) {
        tracing::debug!(profile = name, "answered from the cache");
        return Reply::Encoded(cached);
    }

    let slot = match agent.session(&profile.session).await {
        Ok(slot) => slot,
        Err(message) => return error(ErrorKind::Store, message),
    };
    // A token the portal turns out to have revoked is refreshed (or a login started) once.
    let mut revoked_before = false;
    loop {
        // Read before the token is taken: a logout from here on keeps this fetch out of the cache.
        let logouts = slot.logouts();
        let token = match slot.token(want, wait, &agent.stopping()).await {
            Ok(token) => token,
            Err(NotReady::LoginPending(pending)) => return Response::LoginPending(pending).into(),
            Err(NotReady::Failed(message)) => return error(ErrorKind::Login, message),
        };
        // One upstream call however many requests wait here; the others find its result.
        let _flight = entry.fetching.lock().await;
        if let Some(cached) = entry.usable(SystemTime::now()) {
            tracing::debug!(profile = name, "answered by a fetch made while it waited");
            return Reply::Encoded(cached);
        }
        tracing::debug!(
            profile = name,
            "not cached: asking IAM Identity Center for {}/{}",
            key.account_id(),
            key.role_name()
        );
        match fetch(agent, &slot, &key, &token, logouts).await {
            Ok(cached) => return Reply::Encoded(cached),
            Err(PortalError::Unauthorized) if !revoked_before => revoked_before = true,
            Err(err) => {
                let login = match agent.config.current().await {
                    Ok(config) => config.login_command(&slot.config.name),
                    Err(_) => crate::config::login_command(&slot.config.name, None),
                };
                return error(kind_of(&err), describe(&err, &login));
            }
        }
    }
}

/// GetRoleCredentials, cached, with its renewal scheduled. Call it holding `fetching`.
async fn fetch(
    agent: &Arc<Agent>,
    slot: &Arc<SessionSlot>,
    key: &Arc<RoleKey>,
    token: &TokenSet,
    logouts: u64,
) -> Result<Arc<CachedCredentials>, PortalError> {
    let clients = agent.clients(&slot.config.region).await;
    let fetched = portal::get_role_credentials(
        &clients.sso,
        &token.access_token,
        key.account_id(),
        key.role_name(),
    )
    .await;
    let credentials = match fetched {
        Ok(credentials) => credentials,
        Err(PortalError::Unauthorized) => {
            // Revoked upstream (a logout elsewhere): never served again, refreshed before any login.
            tracing::warn!(session = %slot.config.name, "IAM Identity Center revoked the access token");
            slot.revoked(token).await;
            return Err(PortalError::Unauthorized);
        }
        Err(err) => return Err(err),
    };
    if credentials.expiration < SystemTime::now() + MIN_VALIDITY {
        tracing::warn!(
            "credentials for {}/{} last less than {} minutes; callers will ask again soon",
            key.account_id(),
            key.role_name(),
            MIN_VALIDITY.as_secs() / 60
        );
    }
    tracing::debug!(
        "GetRoleCredentials for {}/{}: valid until {}",
        key.account_id(),
        key.role_name(),
        super::roles::rfc3339(credentials.expiration)
    );
    let entry = agent.roles.entry(key);
    let cached = entry.store(CachedCredentials::new(&credentials));
    // A logout while this call was out has forgotten the session's roles; these credentials
    // must not be cached past it (the caller asked before it, and gets them). Checked after
    // storing: a logout between a check and the store would otherwise miss them.
    if slot.logouts() != logouts {
        agent.roles.forget_session(key.session());
    }
    agent.roles.added.notify_one();
    Ok(cached)
}

/// Renews every role whose credentials near `MIN_VALIDITY` while it is in use, until the agent
/// stops. One task for all roles: it sleeps until the earliest renewal is due (a minute at most,
/// since wall-clock time goes on while a laptop sleeps) or until a fetch adds a new deadline.
pub async fn renew_roles(agent: Arc<Agent>) {
    let mut stop = agent.stopping();
    loop {
        let now = SystemTime::now();
        let mut next = Duration::from_secs(60);
        for (key, entry) in agent.roles.entries() {
            let Some(current) = entry.current() else {
                continue;
            };
            if !entry.used_within(KEEP_WARM, now) || now >= current.expiration {
                continue; // let it lapse; a request fetches it again
            }
            match entry.renewal_wait(now) {
                Some(wait) => next = next.min(wait),
                None => {
                    entry.attempted(now);
                    if key.license {
                        tokio::spawn(super::license::renew(agent.clone(), key, entry));
                    } else {
                        tokio::spawn(renew(agent.clone(), key, entry));
                    }
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(next.max(Duration::from_millis(100))) => {}
            () = agent.roles.added.notified() => {}
            () = super::stopped(&mut stop) => return,
        }
    }
}

async fn renew(agent: Arc<Agent>, key: Arc<RoleKey>, entry: Arc<RoleEntry>) {
    // A request fetching the same role is the renewal.
    let Ok(_flight) = entry.fetching.try_lock() else {
        return;
    };
    let Some(slot) = agent.open_slot(key.session()) else {
        return;
    };
    let logouts = slot.logouts();
    let Some(token) = slot.valid_token(SystemTime::now()) else {
        return;
    };
    if let Err(err) = fetch(&agent, &slot, &key, &token, logouts).await {
        tracing::warn!(
            "renewing {}/{}: {err}; trying again later",
            key.account_id(),
            key.role_name()
        );
    }
}

fn kind_of(err: &PortalError) -> ErrorKind {
    match err {
        PortalError::Unauthorized => ErrorKind::Login,
        PortalError::NoSuchRole { .. } => ErrorKind::Config,
        _ => ErrorKind::Upstream,
    }
}

fn describe(err: &PortalError, login: &str) -> String {
    match err {
        PortalError::Unauthorized => format!("{err}; log in again with `{login}`"),
        _ => err.to_string(),
    }
}
