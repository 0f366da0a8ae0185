//! The device-authorization grant (RFC 8628): StartDeviceAuthorization, then CreateToken polls
//! as `PollPolicy` says until the person approves, denies, or the code expires.

use super::error::{login_error, LoginError};
use super::poll::{KeepPolling, PollPolicy};
use super::register::GRANT_DEVICE_CODE;
use super::token_set;
use crate::aws_sdk::CallFailure;
use crate::login_flow::LoginFlow;
use crate::store::{Registration, TokenSet};
use std::future::Future;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// The part of a pending login a person needs: shown in the terminal, a notification, a browser.
/// A browser login has no user code, and both URIs are its authorize URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    pub session: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub user_code: String,
    pub expires_at: SystemTime,
    pub flow: LoginFlow,
    /// Why this flow (`login_flow::decide`'s reason); filled in by the session.
    pub flow_reason: String,
    /// A browser login's loopback port (None for a device code).
    pub callback_port: Option<u16>,
}

impl PendingLogin {
    pub fn time_left(&self, now: SystemTime) -> Duration {
        self.expires_at.duration_since(now).unwrap_or_default()
    }
}

/// Runs one device login to its end. `on_pending` hears about the code once it exists;
/// `cancel` completing stops the login. A poll that meets a network failure or a server error
/// is not an answer: polling goes on while the code lives, since the person may be approving.
pub async fn device_login(
    client: &aws_sdk_ssooidc::Client,
    session: &str,
    start_url: &str,
    registration: &Registration,
    on_pending: &mut (dyn FnMut(&PendingLogin) + Send),
    cancel: impl Future<Output = ()>,
) -> Result<TokenSet, LoginError> {
    let answer = client
        .start_device_authorization()
        .client_id(&registration.client_id)
        .client_secret(registration.client_secret.expose())
        .start_url(start_url)
        .send()
        .await
        .map_err(|err| {
            login_error(
                CallFailure::from_sdk(err),
                session,
                "StartDeviceAuthorization",
            )
        })?;
    let started = Instant::now();
    let mut policy = PollPolicy::new(Some(answer.interval()), answer.expires_in());
    let (Some(device_code), Some(user_code), Some(verification_uri)) = (
        answer.device_code(),
        answer.user_code(),
        answer.verification_uri(),
    ) else {
        return Err(LoginError::Refused {
            session: session.to_string(),
            operation: "StartDeviceAuthorization",
            code: "IncompleteAnswer".into(),
            meaning: "the answer had no device code, user code or verification URI".into(),
        });
    };
    let pending = PendingLogin {
        session: session.to_string(),
        verification_uri: verification_uri.to_string(),
        verification_uri_complete: answer
            .verification_uri_complete()
            .unwrap_or(verification_uri)
            .to_string(),
        user_code: user_code.to_string(),
        expires_at: SystemTime::now() + Duration::from_secs(answer.expires_in().max(0) as u64),
        flow: LoginFlow::DeviceCode,
        flow_reason: String::new(),
        callback_port: None,
    };
    tracing::info!(session, user_code, "waiting for the login to be approved");
    on_pending(&pending);

    let mut cancel = std::pin::pin!(cancel);
    loop {
        let Some(poll_at) = policy.next_poll_at() else {
            return Err(LoginError::CodeExpired {
                session: session.to_string(),
            });
        };
        tokio::select! {
            () = tokio::time::sleep_until(started + poll_at) => {}
            () = &mut cancel => return Err(LoginError::Cancelled { session: session.to_string() }),
        }
        let poll = client
            .create_token()
            .client_id(&registration.client_id)
            .client_secret(registration.client_secret.expose())
            .grant_type(GRANT_DEVICE_CODE)
            .device_code(device_code)
            .send()
            .await;
        let failure = match poll {
            Ok(answer) => return token_set(session, &answer, None),
            Err(err) => CallFailure::from_sdk(err),
        };
        let answer = match failure.code() {
            Some("AuthorizationPendingException") => KeepPolling::Pending,
            Some("SlowDownException") => KeepPolling::SlowDown,
            Some("ExpiredTokenException") => {
                return Err(LoginError::CodeExpired {
                    session: session.to_string(),
                })
            }
            Some("AccessDeniedException") => {
                return Err(LoginError::Denied {
                    session: session.to_string(),
                })
            }
            _ if is_transient(&failure) => {
                tracing::warn!(
                    session,
                    "a poll for the login's approval failed ({}); polling on",
                    failure.code().unwrap_or("no usable answer")
                );
                KeepPolling::Pending
            }
            _ => return Err(login_error(failure, session, "CreateToken")),
        };
        policy.record(started.elapsed(), answer);
    }
}

/// A failure that says nothing about the login: no answer, or the service's own trouble.
fn is_transient(failure: &CallFailure) -> bool {
    match failure.code() {
        None => true,
        Some(code) => matches!(
            code,
            "InternalServerException" | "ThrottlingException" | "ServiceUnavailableException"
        ),
    }
}
