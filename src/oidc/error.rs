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
    #[error("the browser login for sso-session {session} got no answer within {seconds} s (was the tab closed?); log in again, or with `sso-agent login --use-device-code` if the browser cannot reach this machine")]
    BrowserTimedOut { session: String, seconds: u64 },
    #[error("the browser's answer for sso-session {session} {problem}, so it was not used; log in again with `sso-agent login --sso-session {session}`")]
    StateMismatch {
        session: String,
        problem: &'static str,
    },
    #[error("the browser login for sso-session {session} ended with `{error}`{}; log in again, or with `sso-agent login --use-device-code`", description_text(.description))]
    AuthorizeFailed {
        session: String,
        error: String,
        description: Option<String>,
    },
    #[error("cannot listen on {} for the browser's answer for sso-session {session} ({reason}); {}choose a port with `--redirect-port N`, or log in with `--use-device-code`", listen_text(*.port), if *.port == 0 { "" } else { "free the port, " })]
    CallbackPort {
        session: String,
        /// 0: an ephemeral port.
        port: u16,
        reason: String,
    },
    #[error("the system's random source failed ({reason}); the login for sso-session {session} cannot start")]
    Random { session: String, reason: String },
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

/// An `error_description` from the callback, quoted and cut short (it is the server's text).
fn description_text(description: &Option<String>) -> String {
    match description.as_deref().filter(|d| !d.is_empty()) {
        Some(text) => {
            let text: String = text.chars().take(200).collect();
            format!(" (\"{text}\")")
        }
        None => String::new(),
    }
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

/// Where the callback listener tried to listen: a fixed port, or any free one (0).
fn listen_text(port: u16) -> String {
    if port == 0 {
        "an ephemeral port of 127.0.0.1".to_string()
    } else {
        format!("127.0.0.1:{port}")
    }
}
