//! sso-oidc: client registration, the device-authorization grant, the authorization-code grant
//! with PKCE (a browser and a loopback callback), and the refresh-token grant.

mod auth_code;
pub mod callback;
mod device;
mod error;
pub mod pkce;
pub mod poll;
pub mod refresh;
mod register;

pub use auth_code::{
    browser_login, browser_login_timeout, AuthorizeTarget, BrowserEnd, BrowserLogin, LoginSwitch,
    DEFAULT_TIMEOUT,
};
pub use device::{device_login, PendingLogin};
pub use error::LoginError;
pub use register::{is_usable as registration_is_usable, login_grant, register};

use crate::aws_sdk::CallFailure;
use crate::secret::Secret;
use crate::store::{time_to_epoch, Registration, TokenSet};
use error::login_error;
use register::GRANT_REFRESH_TOKEN;
use std::time::{Duration, SystemTime};

/// The tokens a CreateToken answer carries; `previous_refresh` is kept when it brings none.
fn token_set(
    session: &str,
    answer: &aws_sdk_ssooidc::operation::create_token::CreateTokenOutput,
    previous_refresh: Option<&Secret>,
) -> Result<TokenSet, LoginError> {
    let Some(access_token) = answer.access_token() else {
        return Err(LoginError::Refused {
            session: session.to_string(),
            operation: "CreateToken",
            code: "IncompleteAnswer".into(),
            meaning: "the answer had no access token".into(),
        });
    };
    let expires_at = SystemTime::now() + Duration::from_secs(answer.expires_in().max(0) as u64);
    Ok(TokenSet {
        access_token: Secret::new(access_token),
        expires_at: time_to_epoch(expires_at),
        refresh_token: answer
            .refresh_token()
            .map(Secret::new)
            .or_else(|| previous_refresh.cloned()),
    })
}

/// Outcome of a refresh-token grant that did not produce tokens.
#[derive(Debug)]
pub enum RefreshFailure {
    /// The refresh token or the client is no longer accepted: only a new login helps.
    Rejected(LoginError),
    /// Worth trying again later (network, throttling, a server error).
    Transient(LoginError),
}

/// The refresh-token grant. A new refresh token in the answer replaces the old one; none keeps
/// the old one.
pub async fn refresh(
    client: &aws_sdk_ssooidc::Client,
    session: &str,
    registration: &Registration,
    token: &TokenSet,
) -> Result<TokenSet, RefreshFailure> {
    let Some(refresh_token) = &token.refresh_token else {
        return Err(RefreshFailure::Rejected(LoginError::NeedsLogin {
            session: session.to_string(),
            reason: "there is no refresh token".into(),
        }));
    };
    let answer = client
        .create_token()
        .client_id(&registration.client_id)
        .client_secret(registration.client_secret.expose())
        .grant_type(GRANT_REFRESH_TOKEN)
        .refresh_token(refresh_token.expose())
        .send()
        .await;
    match answer {
        Ok(answer) => {
            token_set(session, &answer, Some(refresh_token)).map_err(RefreshFailure::Transient)
        }
        Err(err) => {
            let failure = CallFailure::from_sdk(err);
            let rejected = matches!(
                failure.code(),
                Some(
                    "InvalidGrantException"
                        | "InvalidClientException"
                        | "UnauthorizedClientException"
                        | "ExpiredTokenException"
                )
            );
            if rejected {
                let reason = format!("{} on refresh", failure.code().unwrap_or_default());
                Err(RefreshFailure::Rejected(LoginError::NeedsLogin {
                    session: session.to_string(),
                    reason,
                }))
            } else {
                Err(RefreshFailure::Transient(login_error(
                    failure,
                    session,
                    "CreateToken",
                )))
            }
        }
    }
}
