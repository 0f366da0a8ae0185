//! `login` and `await_login`: start or join a session's login, and wait for it.

use super::lifecycle::Want;
use super::slot::{LoginOptions, NotReady, Waiting};
use super::{error, Agent, Reply};
use crate::config::SsoSessionConfig;
use crate::protocol::{ErrorKind, Response};
use crate::store::{epoch_to_time, TokenSet};
use std::sync::Arc;

pub async fn start(
    agent: &Arc<Agent>,
    session: Option<String>,
    profile: Option<String>,
    force: bool,
    options: LoginOptions,
) -> Reply {
    let config = match resolve(agent, session, profile).await {
        Ok(config) => config,
        Err(message) => return error(ErrorKind::Config, message),
    };
    let want = if force { Want::Relogin } else { Want::Token };
    outcome(agent, &config, want, Waiting::No, options).await
}

/// Waits for the login to end, or (with `shown`) for it to publish a link other than `shown`.
pub async fn wait(agent: &Arc<Agent>, session: &str, shown: Option<String>) -> Reply {
    let waiting = match shown {
        Some(shown) => Waiting::UntilNewLink(shown),
        None => Waiting::ForToken,
    };
    match resolve(agent, Some(session.to_string()), None).await {
        Ok(config) => {
            outcome(
                agent,
                &config,
                Want::Token,
                waiting,
                LoginOptions::default(),
            )
            .await
        }
        Err(message) => error(ErrorKind::Config, message),
    }
}

async fn outcome(
    agent: &Arc<Agent>,
    config: &SsoSessionConfig,
    want: Want,
    waiting: Waiting,
    options: LoginOptions,
) -> Reply {
    let slot = match agent.session(config).await {
        Ok(slot) => slot,
        Err(message) => return error(ErrorKind::Store, message),
    };
    match slot
        .token_with(want, waiting, &agent.stopping(), options)
        .await
    {
        Ok(token) => logged_in(&config.name, &token),
        Err(NotReady::LoginPending(pending)) => Response::LoginPending(pending).into(),
        Err(NotReady::Failed(message)) => error(ErrorKind::Login, message),
    }
}

fn logged_in(session: &str, token: &TokenSet) -> Reply {
    Response::LoggedIn {
        session: session.to_string(),
        expires_at: super::roles::rfc3339(epoch_to_time(token.expires_at)),
    }
    .into()
}

/// The session a login names: directly, through a profile, or the only one configured.
pub(super) async fn resolve(
    agent: &Agent,
    session: Option<String>,
    profile: Option<String>,
) -> Result<SsoSessionConfig, String> {
    if let Some(profile) = profile {
        return agent
            .config
            .profile(&profile)
            .await
            .map(|p| p.session)
            .map_err(|e| e.to_string());
    }
    let config = agent
        .config
        .current()
        .await
        .map_err(|err| err.to_string())?;
    if let Some(session) = session {
        // A legacy profile's session is named by its start URL and has no section of its own.
        if let Some(slot) = agent.open_slot(&session) {
            if config.sso_session(&session).is_err() {
                return Ok(slot.config.clone());
            }
        }
        return config.sso_session(&session).map_err(|err| err.to_string());
    }
    let sessions = config.sso_sessions().map_err(|err| err.to_string())?;
    match sessions.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(format!(
            "there is no [sso-session …] in {}; add one (see `aws configure sso-session`)",
            config.file()
        )),
        many => Err(format!(
            "{} has several sso-sessions ({}); choose one with --sso-session",
            config.file(),
            many.iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
