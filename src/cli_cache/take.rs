//! What of a cache file's login the agent takes: for `import-cli-cache`, and (with
//! `sso_agent_cli_cache = true`) a newer login the AWS CLI or botocore saved in the file the agent
//! keeps. Pure decisions, with the clock given.

use super::CachedToken;
use crate::config::SsoSessionConfig;
use crate::store::{Registration, TokenSet};
use std::time::SystemTime;

/// What of the file the session can use at `now`, or why none of it. The file must be for the
/// session's start URL and region. A refresh token counts only with an unexpired registration
/// (the client it was issued to); without both, only an unexpired access token is taken.
pub fn usable(
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
    let registration = registration.filter(|r| super::unexpired(r.expires_at, now));
    if registration.is_none() || token.refresh_token.is_none() {
        // A refresh token without its client's registration cannot be used: not kept.
        token.refresh_token = None;
        if !super::unexpired(token.expires_at, now) {
            return Err(format!(
                "the AWS CLI's token in {shown} has expired and cannot be refreshed (the file has no refresh token with an unexpired client registration); nothing was imported: {fix}"
            ));
        }
    }
    // A registration with nothing to refresh would only replace the agent's own, usable one.
    let registration = registration.filter(|_| token.refresh_token.is_some());
    Ok((token, registration))
}

/// The file's login, if it is one the agent should take instead of `current` (its own): for the
/// session (`usable`), a whole login (a refresh token with its live registration: the file a
/// refresh through it leaves, never a bare access token that would cost the agent its refresh
/// token), not the token the agent has, and later to expire than it.
pub fn newer_login(
    config: &SsoSessionConfig,
    path: &std::path::Path,
    cached: &CachedToken,
    current: Option<&TokenSet>,
    now: SystemTime,
) -> Option<(TokenSet, Option<Registration>)> {
    let (token, registration) = usable(config, path, cached, now).ok()?;
    registration.as_ref()?;
    token.refresh_token.as_ref()?;
    match current {
        Some(current)
            if current.access_token == token.access_token
                || token.expires_at <= current.expires_at =>
        {
            None
        }
        _ => Some((token, registration)),
    }
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
            expires_at: super::super::format_time(expires),
            client_id: registration_expires.map(|_| "client".into()),
            client_secret: registration_expires.map(|_| Secret::new("secret")),
            registration_expires_at: registration_expires.map(super::super::format_time),
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

    #[test]
    fn a_later_whole_login_in_the_file_is_newer_than_the_agents_and_nothing_else_is() {
        let now = crate::store::epoch_to_time(NOW);
        let path = std::path::Path::new("/h/f.json");
        let file = cached(NOW + 900, Some(NOW + 3600), true);
        let agents = |expires_at: u64, access: &str| TokenSet {
            access_token: Secret::new(access),
            expires_at,
            refresh_token: Some(Secret::new("agents-refresh")),
        };
        let newer = |current: Option<&TokenSet>, file: &CachedToken| {
            newer_login(&config(), path, file, current, now)
        };
        let (token, registration) = newer(Some(&agents(NOW + 60, "old")), &file).unwrap();
        assert_eq!(token.refresh_token.unwrap().expose(), "refresh");
        assert_eq!(registration.unwrap().client_id, "client");
        assert!(newer(None, &file).is_some(), "the agent has no token");
        // The agent's own token, or one as late or later: the agent's stays.
        assert!(newer(Some(&agents(NOW + 60, "access")), &file).is_none());
        assert!(newer(Some(&agents(NOW + 900, "old")), &file).is_none());
        assert!(newer(Some(&agents(NOW + 901, "old")), &file).is_none());
        // Not a whole login (no refresh token, or its registration expired), or another start URL.
        let current = agents(NOW + 60, "old");
        assert!(newer(Some(&current), &cached(NOW + 900, None, true)).is_none());
        assert!(newer(Some(&current), &cached(NOW + 900, Some(NOW - 1), true)).is_none());
        assert!(newer(Some(&current), &cached(NOW + 900, Some(NOW + 3600), false)).is_none());
        let mut other = file.clone();
        other.start_url = Some("https://other.awsapps.com/start".into());
        assert!(newer(Some(&current), &other).is_none());
    }
}
