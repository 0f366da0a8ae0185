//! `import_cli_cache`: the AWS CLI's login for a session (its token cache file) becomes the
//! agent's, so a person who ran `aws sso login` does not log in again. The agent reads the file
//! itself (it owns the keyring); only the session's name came over the socket. The login is
//! tried upstream before it is taken (an unexpired token with ListAccounts, an expired one by
//! refreshing it), so a token revoked since `aws sso login` never replaces the agent's login.

use super::{error, Agent, Reply};
use crate::cli_cache::take::usable;
use crate::cli_cache::{self, file, CliCacheError};
use crate::config::SsoSessionConfig;
use crate::oidc::RefreshFailure;
use crate::portal::PortalError;
use crate::protocol::{ErrorKind, Response};
use crate::store::{Registration, TokenSet};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

pub async fn handle(agent: &Arc<Agent>, session: Option<String>) -> Reply {
    let config = match super::login::resolve(agent, session, None).await {
        Ok(config) => config,
        Err(message) => return error(ErrorKind::Config, message),
    };
    let name = config.name.clone();
    let read = tokio::task::spawn_blocking(move || -> Result<_, CliCacheError> {
        let path = cli_cache::path_for(&name)?;
        let cached = file::read(&path, &name)?;
        Ok((path, cached))
    })
    .await;
    let (path, cached) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(err)) => return error(ErrorKind::Config, err.to_string()),
        Err(_) => return error(ErrorKind::Config, "reading the AWS CLI's cache file failed"),
    };
    let (token, registration) = match usable(&config, &path, &cached, SystemTime::now()) {
        Ok(parts) => parts,
        Err(message) => return error(ErrorKind::Config, message),
    };
    let token = match tried(agent, &config, &path, token, registration.as_ref()).await {
        Ok(token) => token,
        Err((kind, message)) => return error(kind, message),
    };
    let slot = match agent.session(&config).await {
        Ok(slot) => slot,
        Err(message) => return error(ErrorKind::Store, message),
    };
    let refreshable = token.refresh_token.is_some();
    let expires_at = super::roles::rfc3339(crate::store::epoch_to_time(token.expires_at));
    let source = path.display().to_string();
    if let Err(message) = slot.adopt(token, registration, source).await {
        return error(ErrorKind::Config, message);
    }
    // Roles cached from the token before may belong to another person's login.
    agent.roles.forget_session(&config.name);
    tracing::info!(session = %config.name, "imported the AWS CLI's login from {}", path.display());
    Response::CliCacheImported {
        session: config.name.clone(),
        file: path.display().to_string(),
        expires_at,
        refreshable,
    }
    .into()
}

/// The file's login as IAM Identity Center answers for it now: an unexpired token must be
/// accepted by the portal; an expired one is refreshed with the file's refresh token and
/// registration (`usable` kept them only together), and the refreshed token is what is taken.
/// Any failure leaves the agent's login as it is, and says what to do.
async fn tried(
    agent: &Arc<Agent>,
    config: &SsoSessionConfig,
    path: &Path,
    token: TokenSet,
    registration: Option<&Registration>,
) -> Result<TokenSet, (ErrorKind, String)> {
    let fix = format!(
        "nothing was imported and the agent's own login is as it was: run `aws sso login --sso-session {0}` again and import, or `sso-agent login --sso-session {0}`",
        config.name
    );
    let shown = path.display();
    let clients = agent.clients(&config.region).await;
    if cli_cache::unexpired(token.expires_at, SystemTime::now()) {
        return match crate::portal::check_token(&clients.sso, &token.access_token).await {
            Ok(()) => Ok(token),
            Err(PortalError::Unauthorized) => Err((
                ErrorKind::Login,
                format!("IAM Identity Center no longer accepts the AWS CLI's token in {shown} (it was revoked, or its session ended); {fix}"),
            )),
            Err(err) => Err((
                ErrorKind::Upstream,
                format!("the AWS CLI's token in {shown} could not be checked: {err}; {fix}"),
            )),
        };
    }
    let Some(registration) = registration else {
        // `usable` takes an expired token only with its registration.
        return Err((
            ErrorKind::Login,
            format!("the AWS CLI's token in {shown} has expired; {fix}"),
        ));
    };
    match crate::oidc::refresh(&clients.oidc, &config.name, registration, &token).await {
        Ok(refreshed) => {
            tracing::info!(session = %config.name, "refreshed the AWS CLI's expired token from {shown} before importing it");
            Ok(refreshed)
        }
        Err(RefreshFailure::Rejected(err)) => {
            // The reason alone: the error's own advice is for the agent's login, not this file.
            let reason = match err {
                crate::oidc::LoginError::NeedsLogin { reason, .. } => reason,
                other => other.to_string(),
            };
            Err((
                ErrorKind::Login,
                format!("the AWS CLI's token in {shown} has expired and IAM Identity Center refused to refresh it ({reason}); {fix}"),
            ))
        }
        Err(RefreshFailure::Transient(err)) => Err((
            ErrorKind::Upstream,
            format!("the AWS CLI's expired token in {shown} could not be refreshed: {err}; {fix}"),
        )),
    }
}
