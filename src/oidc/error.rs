//! What can end a login or a refresh, in words that say what happened and what to do.

use crate::aws_sdk::CallFailure;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the device code for sso-session {session} expired before it was approved; log in again with `sso-agent login --sso-session {session}`")]
    CodeExpired { session: String },
    #[error("the login for sso-session {session} was denied in the browser; log in again and approve the request")]
    Denied { session: String },
    #[error("the login for sso-session {session} was cancelled")]
    Cancelled { session: String },
    #[error("the session {session} can no longer be refreshed ({reason}); log in again with `sso-agent login --sso-session {session}`")]
    NeedsLogin { session: String, reason: String },
    #[error(
        "IAM Identity Center refused {operation} for sso-session {session}: {meaning} ({code})"
    )]
    Refused {
        session: String,
        operation: &'static str,
        code: String,
        meaning: String,
    },
    #[error("cannot reach IAM Identity Center for sso-session {session} ({operation}): {detail}; {advice}")]
    Unreachable {
        session: String,
        operation: &'static str,
        detail: String,
        /// Names the endpoint when a variable or the config file set it (`config::reachability_advice`).
        advice: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The error a failure of `operation` becomes when nothing more specific applies.
pub(crate) fn login_error(
    failure: CallFailure,
    session: &str,
    operation: &'static str,
) -> LoginError {
    match failure {
        CallFailure::Transport { detail } => LoginError::Unreachable {
            session: session.to_string(),
            operation,
            detail,
            advice: crate::config::reachability_advice(crate::config::SSO_OIDC),
        },
        CallFailure::Service { code, description } => LoginError::Refused {
            session: session.to_string(),
            operation,
            meaning: meaning(&code, &description),
            code,
        },
    }
}

/// What each modeled sso-oidc error means to the person reading it.
fn meaning(code: &str, description: &str) -> String {
    let text = match code {
        "InvalidClientException" => "the client registration is unknown or has expired",
        "InvalidGrantException" => "the authorization is invalid, used or revoked; log in again",
        "InvalidScopeException" => {
            "a scope in `sso_registration_scopes` is not allowed; fix that [sso-session] section"
        }
        "UnauthorizedClientException" => "this client registration may not use that grant",
        "UnsupportedGrantTypeException" => "this IAM Identity Center does not support the grant",
        "InvalidRequestException" => {
            "the request was malformed; check `sso_start_url` and `sso_region`"
        }
        "InvalidClientMetadataException" => "the client registration was refused",
        "InvalidRedirectUriException" => "the redirect URI was refused",
        "InternalServerException" => {
            "IAM Identity Center had an internal error; try again in a minute"
        }
        "SlowDownException" => "too many requests; try again in a minute",
        "AccessDeniedException" => "access was denied",
        "ExpiredTokenException" => "the code or token has expired; log in again",
        _ => "an unexpected error",
    };
    if description.is_empty() {
        text.to_string()
    } else {
        format!("{text} (\"{description}\")")
    }
}
