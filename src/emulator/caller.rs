//! Who signed a request: the SigV4 `Authorization` header's access key, looked up among the role
//! credentials this emulator issued (sso portal or STS), with its session token and expiry.
//!
//! The signature itself is not recomputed: a key, secret and session token only this emulator
//! handed out already tell its callers apart, and the SDK that signs is the real one.
//! Failures answer as AWS does for every signed service (common errors, not in any model):
//! no signature → `MissingAuthenticationTokenException`, a key or token it never issued →
//! `UnrecognizedClientException`, credentials past their expiry → `ExpiredTokenException`.

use super::state::Inner;
use super::wire::message_error;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// The principal behind a signed request, and the Region it signed for.
pub struct Caller {
    pub account_id: String,
    pub role_name: String,
    pub region: String,
}

/// Why a signed call was refused before the service looked at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Unsigned,
    Unrecognized,
    Expired,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (name, message) = match self {
            Refused::Unsigned => (
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
            Refused::Unrecognized => (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            Refused::Expired => (
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
        };
        message_error(StatusCode::BAD_REQUEST, name, message)
    }
}

pub fn signed_caller(inner: &Inner, headers: &HeaderMap) -> Result<Caller, Refused> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let Some(authorization) = header("authorization") else {
        return Err(Refused::Unsigned);
    };
    let unrecognized = || Refused::Unrecognized;
    let Some((access_key_id, region)) = credential_scope(authorization) else {
        return Err(unrecognized());
    };
    let Some(issued) = inner.role_credentials.get(access_key_id) else {
        return Err(unrecognized());
    };
    if header("x-amz-security-token") != Some(issued.session_token.as_str()) {
        return Err(unrecognized());
    }
    if inner.now() >= issued.expires_at {
        return Err(Refused::Expired);
    }
    Ok(Caller {
        account_id: issued.account_id.clone(),
        role_name: issued.role_name.clone(),
        region: region.to_string(),
    })
}

/// `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, …` → (AKID, REGION).
fn credential_scope(authorization: &str) -> Option<(&str, &str)> {
    let rest = authorization.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let credential = rest
        .split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("Credential="))?;
    let mut scope = credential.split('/');
    let access_key_id = scope.next()?;
    let _date = scope.next()?;
    let region = scope.next()?;
    Some((access_key_id, region))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_scope_gives_the_key_and_region() {
        let header = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260101/eu-west-1/license-manager/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(credential_scope(header), Some(("ASIAEXAMPLE", "eu-west-1")));
        assert_eq!(credential_scope("Bearer x"), None);
    }
}
