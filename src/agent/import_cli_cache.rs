//! `import_cli_cache`: the AWS CLI's login for a session (its token cache file) becomes the
//! agent's, so a person who ran `aws sso login` does not log in again. The agent reads the file
//! itself (it owns the keyring); only the session's name came over the socket.

use super::{error, Agent, Reply};
use crate::cli_cache::{self, file, CachedToken, CliCacheError};
use crate::config::SsoSessionConfig;
use crate::protocol::{ErrorKind, Response};
use crate::store::{Registration, TokenSet};
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
    let slot = match agent.session(&config).await {
        Ok(slot) => slot,
        Err(message) => return error(ErrorKind::Store, message),
    };
    let refreshable = token.refresh_token.is_some();
    let expires_at = super::roles::rfc3339(crate::store::epoch_to_time(token.expires_at));
    if let Err(message) = slot.adopt(token, registration).await {
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

/// What of the file the session can use at `now`, or why none of it. The file must be for the
/// session's start URL and region. A refresh token counts only with an unexpired registration
/// (the client it was issued to); without both, only an unexpired access token is taken.
fn usable(
    config: &SsoSessionConfig,
    path: &std::path::Path,
    cached: &CachedToken,
    now: SystemTime,
) -> Result<(TokenSet, Option<Registration>), String> {
    let shown = path.display();
    let fix = format!(
        "run `aws sso login --sso-session {0}` again, or `sso-agent login --sso-session {0}`",
        config.name
    );
    let same_url = cached.start_url.as_deref().is_some_and(|url| {
        url.trim().trim_end_matches('/') == config.start_url.trim_end_matches('/')
    });
    if !same_url {
        return Err(format!(
            "{shown} is a login for start URL {}, not sso-session {}'s {}; nothing was imported: {fix}",
            cached.start_url.as_deref().unwrap_or("(none given)"),
            config.name,
            config.start_url
        ));
    }
    if cached.region.as_deref().map(str::trim) != Some(config.region.as_str()) {
        return Err(format!(
            "{shown} is a login in region {}, not sso-session {}'s {}; nothing was imported: {fix}",
            cached.region.as_deref().unwrap_or("(none given)"),
            config.name,
            config.region
        ));
    }
    let (mut token, registration) = cached.parts().map_err(|err| format!("{shown}: {err}"))?;
    let registration = registration.filter(|r| cli_cache::unexpired(r.expires_at, now));
    if registration.is_none() || token.refresh_token.is_none() {
        // A refresh token without its client's registration cannot be used: not kept.
        token.refresh_token = None;
        if !cli_cache::unexpired(token.expires_at, now) {
            return Err(format!(
                "the AWS CLI's token in {shown} has expired and cannot be refreshed (the file has no refresh token with an unexpired client registration); nothing was imported: {fix}"
            ));
        }
    }
    // A registration with nothing to refresh would only replace the agent's own, usable one.
    let registration = registration.filter(|_| token.refresh_token.is_some());
    Ok((token, registration))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    const NOW: u64 = 1_796_209_200;

    fn config() -> SsoSessionConfig {
        SsoSessionConfig {
            name: "corp".into(),
            start_url: "https://corp.awsapps.com/start".into(),
            region: "us-east-1".into(),
            registration_scopes: vec!["sso:account:access".into()],
            login_flow: Default::default(),
            cli_cache: false,
        }
    }

    fn cached(expires: u64, registration_expires: Option<u64>, refresh: bool) -> CachedToken {
        CachedToken {
            start_url: Some("https://corp.awsapps.com/start/".into()),
            region: Some("us-east-1".into()),
            access_token: Secret::new("access"),
            expires_at: cli_cache::format_time(expires),
            client_id: registration_expires.map(|_| "client".into()),
            client_secret: registration_expires.map(|_| Secret::new("secret")),
            registration_expires_at: registration_expires.map(cli_cache::format_time),
            refresh_token: refresh.then(|| Secret::new("refresh")),
        }
    }

    fn decide(cached: &CachedToken) -> Result<(TokenSet, Option<Registration>), String> {
        let now = crate::store::epoch_to_time(NOW);
        usable(&config(), std::path::Path::new("/h/f.json"), cached, now)
    }

    #[test]
    fn an_expired_token_is_taken_with_a_refresh_token_and_a_live_registration() {
        let (token, registration) = decide(&cached(NOW - 60, Some(NOW + 3600), true)).unwrap();
        assert!(token.refresh_token.is_some() && registration.is_some());
    }

    #[test]
    fn without_a_live_registration_only_an_unexpired_token_is_taken_and_it_cannot_refresh() {
        let (token, registration) = decide(&cached(NOW + 600, None, true)).unwrap();
        assert!(token.refresh_token.is_none() && registration.is_none());
        let (token, _) = decide(&cached(NOW + 600, Some(NOW - 1), true)).unwrap();
        assert!(token.refresh_token.is_none());
        let err = decide(&cached(NOW - 60, None, false)).unwrap_err();
        assert!(err.contains("has expired and cannot be refreshed"), "{err}");
        let err = decide(&cached(NOW - 60, Some(NOW - 1), true)).unwrap_err();
        assert!(err.contains("aws sso login --sso-session corp"), "{err}");
    }

    #[test]
    fn a_file_for_another_start_url_or_region_is_refused() {
        let mut other = cached(NOW + 600, None, false);
        other.start_url = Some("https://other.awsapps.com/start".into());
        let err = decide(&other).unwrap_err();
        assert!(
            err.contains("https://other.awsapps.com/start")
                && err.contains("https://corp.awsapps.com/start"),
            "{err}"
        );
        let mut other = cached(NOW + 600, None, false);
        other.region = Some("eu-west-1".into());
        assert!(decide(&other).unwrap_err().contains("region eu-west-1"));
        let mut other = cached(NOW + 600, None, false);
        other.start_url = None;
        assert!(decide(&other).unwrap_err().contains("(none given)"));
    }
}
