//! `account_roles`: every account and role a session's token may use, listed with the token the
//! agent holds (`sso-agent profiles` and `configure` never see it).

use super::lifecycle::Want;
use super::slot::NotReady;
use super::{error, Agent, Reply};
use crate::config::{ConfigIndex, SsoSessionConfig};
use crate::portal::{self, PortalError};
use crate::protocol::{AccountRoles, ErrorKind, Response};
use std::sync::Arc;

pub async fn handle(agent: &Arc<Agent>, session: Option<String>, wait: bool) -> Reply {
    let index = match agent.config.current().await {
        Ok(index) => index,
        Err(err) => return error(ErrorKind::Config, err.to_string()),
    };
    let config = match chosen_session(&index, session.as_deref()) {
        Ok(config) => config,
        Err(message) => return error(ErrorKind::Config, message),
    };
    let slot = match agent.session(&config).await {
        Ok(slot) => slot,
        Err(message) => return error(ErrorKind::Store, message),
    };
    let clients = agent.clients(&config.region).await;
    // A token the portal turns out to have revoked is refreshed (or a login started) once.
    let mut revoked_before = false;
    loop {
        let token = match slot.token(Want::Token, wait, &agent.stopping()).await {
            Ok(token) => token,
            Err(NotReady::LoginPending(pending)) => return Response::LoginPending(pending).into(),
            Err(NotReady::Failed(message)) => return error(ErrorKind::Login, message),
        };
        match portal::list_account_roles(&clients.sso, &token.access_token).await {
            Ok(roles) => {
                return Response::AccountRoles(AccountRoles {
                    session: config.name.clone(),
                    region: config.region.clone(),
                    legacy: config.is_legacy(),
                    roles,
                })
                .into()
            }
            Err(PortalError::Unauthorized) if !revoked_before => {
                tracing::warn!(session = %config.name, "IAM Identity Center revoked the access token");
                slot.revoked(&token).await;
                revoked_before = true;
            }
            Err(PortalError::Unauthorized) => {
                return error(
                    ErrorKind::Login,
                    format!(
                        "{}; log in again with `{}`",
                        PortalError::Unauthorized,
                        index.login_command(&config.name)
                    ),
                )
            }
            Err(err) => return error(ErrorKind::Upstream, err.to_string()),
        }
    }
}

/// The session named (an `[sso-session]`, or a legacy profile's start URL), else the only
/// `[sso-session]` configured; several are a question for the person, not a guess.
fn chosen_session(index: &ConfigIndex, name: Option<&str>) -> Result<SsoSessionConfig, String> {
    if let Some(name) = name {
        return index.sso_session(name).map_err(|err| err.to_string());
    }
    let sessions = index.sso_sessions().map_err(|err| err.to_string())?;
    match sessions.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(format!(
            "there is no [sso-session …] in {}; add one (see `aws configure sso-session`)",
            index.file()
        )),
        many => Err(format!(
            "{} has several sso-sessions ({}); choose one with --sso-session",
            index.file(),
            many.iter()
                .map(|session| session.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
