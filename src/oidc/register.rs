//! RegisterClient: one public client per sso-session, reused until shortly before it expires,
//! and only for the flow it was registered for.

use super::error::{login_error, LoginError};
use super::pkce::{GRANT_AUTHORIZATION_CODE, REGISTERED_REDIRECT_URI};
use crate::aws_sdk::CallFailure;
use crate::config::SsoSessionConfig;
use crate::login_flow::LoginFlow;
use crate::secret::Secret;
use crate::store::{time_to_epoch, Registration};
use std::time::{Duration, SystemTime};

pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";

/// A registration is replaced this long before it expires (botocore's margin), so a login never
/// starts with a client that dies halfway.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(15 * 60);

/// The grant a login of `flow` uses.
pub fn login_grant(flow: LoginFlow) -> &'static str {
    match flow {
        LoginFlow::Browser => GRANT_AUTHORIZATION_CODE,
        LoginFlow::DeviceCode => GRANT_DEVICE_CODE,
    }
}

/// Whether `registration` can serve a new login of `flow` for `session` at `now`: same scopes,
/// registered for that flow's grant, and not about to expire.
pub fn is_usable(
    registration: &Registration,
    session: &SsoSessionConfig,
    flow: LoginFlow,
    now: SystemTime,
) -> bool {
    registration.scopes == session.registration_scopes
        && registration
            .grant_types
            .iter()
            .any(|grant| grant == login_grant(flow))
        && time_to_epoch(now + EXPIRY_MARGIN) < registration.expires_at
}

/// Registers a client for `flow`: the device-code and refresh grants, or (as the AWS CLI does
/// for its browser login) the authorization-code and refresh grants with the loopback redirect
/// URI and the start URL as issuer.
pub async fn register(
    client: &aws_sdk_ssooidc::Client,
    session: &SsoSessionConfig,
    flow: LoginFlow,
) -> Result<Registration, LoginError> {
    let grant_types = vec![
        login_grant(flow).to_string(),
        GRANT_REFRESH_TOKEN.to_string(),
    ];
    let mut request = client
        .register_client()
        .client_name(format!("sso-agent-{}", session.name))
        .client_type("public")
        .set_scopes(Some(session.registration_scopes.clone()))
        .set_grant_types(Some(grant_types.clone()));
    if flow == LoginFlow::Browser {
        request = request
            .redirect_uris(REGISTERED_REDIRECT_URI)
            .issuer_url(&session.start_url);
    }
    let answer = request
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
    tracing::info!(session = %session.name, flow = %flow, "registered a new client");
    Ok(Registration {
        client_id: client_id.to_string(),
        client_secret: Secret::new(client_secret),
        expires_at: answer.client_secret_expires_at().max(0) as u64,
        scopes: session.registration_scopes.clone(),
        grant_types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::device_code_grants;

    fn session() -> SsoSessionConfig {
        SsoSessionConfig {
            name: "corp".into(),
            start_url: "https://corp.example/start".into(),
            region: "us-east-1".into(),
            registration_scopes: vec!["sso:account:access".into()],
            login_flow: Default::default(),
            cli_cache: false,
        }
    }

    fn registration(expires_in: u64, scopes: &[&str], grants: Vec<String>) -> Registration {
        Registration {
            client_id: "c".into(),
            client_secret: Secret::new("s"),
            expires_at: time_to_epoch(SystemTime::now()) + expires_in,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            grant_types: grants,
        }
    }

    #[test]
    fn a_registration_is_retired_fifteen_minutes_early_or_when_scopes_change() {
        let (session, now) = (session(), SystemTime::now());
        let device = LoginFlow::DeviceCode;
        let scope = &["sso:account:access"];
        assert!(is_usable(
            &registration(3600, scope, device_code_grants()),
            &session,
            device,
            now
        ));
        assert!(!is_usable(
            &registration(14 * 60, scope, device_code_grants()),
            &session,
            device,
            now
        ));
        assert!(!is_usable(
            &registration(3600, &["openid"], device_code_grants()),
            &session,
            device,
            now
        ));
    }

    #[test]
    fn a_registration_serves_only_the_flow_it_has_the_grant_for() {
        let (session, now) = (session(), SystemTime::now());
        let scope = &["sso:account:access"];
        let device = registration(3600, scope, device_code_grants());
        let browser = registration(
            3600,
            scope,
            vec![GRANT_AUTHORIZATION_CODE.into(), GRANT_REFRESH_TOKEN.into()],
        );
        assert!(is_usable(&device, &session, LoginFlow::DeviceCode, now));
        assert!(!is_usable(&device, &session, LoginFlow::Browser, now));
        assert!(is_usable(&browser, &session, LoginFlow::Browser, now));
        assert!(!is_usable(&browser, &session, LoginFlow::DeviceCode, now));
    }
}
