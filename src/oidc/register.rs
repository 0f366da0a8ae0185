//! RegisterClient: one public client per sso-session, reused until shortly before it expires.

use super::error::{login_error, LoginError};
use crate::aws_sdk::CallFailure;
use crate::config::SsoSessionConfig;
use crate::secret::Secret;
use crate::store::{time_to_epoch, Registration};
use std::time::{Duration, SystemTime};

pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";

/// A registration is replaced this long before it expires (botocore's margin), so a login never
/// starts with a client that dies halfway.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(15 * 60);

/// Whether `registration` can serve a new login for `session` at `now`.
pub fn is_usable(registration: &Registration, session: &SsoSessionConfig, now: SystemTime) -> bool {
    registration.scopes == session.registration_scopes
        && time_to_epoch(now + EXPIRY_MARGIN) < registration.expires_at
}

pub async fn register(
    client: &aws_sdk_ssooidc::Client,
    session: &SsoSessionConfig,
) -> Result<Registration, LoginError> {
    let answer = client
        .register_client()
        .client_name(format!("sso-agent-{}", session.name))
        .client_type("public")
        .set_scopes(Some(session.registration_scopes.clone()))
        .grant_types(GRANT_DEVICE_CODE)
        .grant_types(GRANT_REFRESH_TOKEN)
        .send()
        .await
        .map_err(|err| login_error(CallFailure::from_sdk(err), &session.name, "RegisterClient"))?;
    let (Some(client_id), Some(client_secret)) = (answer.client_id(), answer.client_secret())
    else {
        return Err(LoginError::Refused {
            session: session.name.clone(),
            operation: "RegisterClient",
            code: "IncompleteAnswer".into(),
            meaning: "the answer had no client id or secret".into(),
        });
    };
    tracing::info!(session = %session.name, "registered a new client");
    Ok(Registration {
        client_id: client_id.to_string(),
        client_secret: Secret::new(client_secret),
        expires_at: answer.client_secret_expires_at().max(0) as u64,
        scopes: session.registration_scopes.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_is_retired_fifteen_minutes_early_or_when_scopes_change() {
        let session = SsoSessionConfig {
            name: "corp".into(),
            start_url: "https://corp.example/start".into(),
            region: "us-east-1".into(),
            registration_scopes: vec!["sso:account:access".into()],
            cli_cache: false,
        };
        let now = SystemTime::now();
        let registration = |expires_in: u64, scopes: &[&str]| Registration {
            client_id: "c".into(),
            client_secret: Secret::new("s"),
            expires_at: time_to_epoch(now) + expires_in,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        assert!(is_usable(
            &registration(3600, &["sso:account:access"]),
            &session,
            now
        ));
        assert!(!is_usable(
            &registration(14 * 60, &["sso:account:access"]),
            &session,
            now
        ));
        assert!(!is_usable(&registration(3600, &["openid"]), &session, now));
    }
}
