//! The services' error shapes, exactly as they travel on the wire.
//!
//! sso-oidc: `x-amzn-ErrorType: <Name>:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/`
//! and an OAuth body `{"error": "<code>", "error_description": "…"}`.
//! sso portal: `x-amzn-ErrorType: <Name>` and `{"message": "…", "__type": "…#<Name>"}`.
//! License Manager (awsJson1.1): `x-amzn-ErrorType: <Name>` and `{"__type": "<Name>",
//! "Message": "…"}` (the model's member is `Message`), 400, or 500 for the one server fault.
//! STS (awsQuery): an XML `ErrorResponse` with `Type`, `Code` and `Message`, in `sts.rs`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

const OIDC_ERROR_NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazonaws.sso.oidc/";
const PORTAL_ERROR_NAMESPACE: &str = "com.amazonaws.switchboard.portal";

/// Every error the sso-oidc model (2019-06-10) declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcErrorKind {
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    AccessDenied,
    InvalidGrant,
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InternalServer,
}

impl OidcErrorKind {
    pub const ALL: [OidcErrorKind; 13] = [
        Self::AuthorizationPending,
        Self::SlowDown,
        Self::ExpiredToken,
        Self::AccessDenied,
        Self::InvalidGrant,
        Self::InvalidClient,
        Self::InvalidRequest,
        Self::InvalidScope,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidClientMetadata,
        Self::InvalidRedirectUri,
        Self::InternalServer,
    ];

    /// The exception's shape name, as carried in `x-amzn-ErrorType`.
    pub fn exception_name(self) -> &'static str {
        match self {
            Self::AuthorizationPending => "AuthorizationPendingException",
            Self::SlowDown => "SlowDownException",
            Self::ExpiredToken => "ExpiredTokenException",
            Self::AccessDenied => "AccessDeniedException",
            Self::InvalidGrant => "InvalidGrantException",
            Self::InvalidClient => "InvalidClientException",
            Self::InvalidRequest => "InvalidRequestException",
            Self::InvalidScope => "InvalidScopeException",
            Self::UnauthorizedClient => "UnauthorizedClientException",
            Self::UnsupportedGrantType => "UnsupportedGrantTypeException",
            Self::InvalidClientMetadata => "InvalidClientMetadataException",
            Self::InvalidRedirectUri => "InvalidRedirectUriException",
            Self::InternalServer => "InternalServerException",
        }
    }

    /// The OAuth 2.0 `error` code in the body.
    pub fn oauth_code(self) -> &'static str {
        match self {
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::AccessDenied => "access_denied",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidScope => "invalid_scope",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InternalServer => "server_error",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient => StatusCode::UNAUTHORIZED,
            Self::InternalServer => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn from_exception_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.exception_name() == name)
    }
}

/// An sso-oidc error answer.
#[derive(Debug, Clone)]
pub struct OidcError {
    pub kind: OidcErrorKind,
    pub description: String,
}

impl OidcError {
    pub fn new(kind: OidcErrorKind, description: impl Into<String>) -> Self {
        Self {
            kind,
            description: description.into(),
        }
    }
}

impl IntoResponse for OidcError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.kind.oauth_code(), "error_description": self.description});
        let error_type = format!("{}:{OIDC_ERROR_NAMESPACE}", self.kind.exception_name());
        error_response(self.kind.status(), &error_type, body)
    }
}

/// Every error the sso portal model (2019-06-10) declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalErrorKind {
    InvalidRequest,
    Unauthorized,
    ResourceNotFound,
    TooManyRequests,
}

impl PortalErrorKind {
    pub const ALL: [PortalErrorKind; 4] = [
        Self::InvalidRequest,
        Self::Unauthorized,
        Self::ResourceNotFound,
        Self::TooManyRequests,
    ];

    pub fn exception_name(self) -> &'static str {
        match self {
            Self::InvalidRequest => "InvalidRequestException",
            Self::Unauthorized => "UnauthorizedException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::TooManyRequests => "TooManyRequestsException",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::ResourceNotFound => StatusCode::NOT_FOUND,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    pub fn from_exception_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.exception_name() == name)
    }
}

/// An sso portal error answer.
#[derive(Debug, Clone)]
pub struct PortalError {
    pub kind: PortalErrorKind,
    pub message: String,
}

impl PortalError {
    pub fn new(kind: PortalErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            PortalErrorKind::Unauthorized,
            "Session token not found or invalid",
        )
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let name = self.kind.exception_name();
        let body =
            json!({"message": self.message, "__type": format!("{PORTAL_ERROR_NAMESPACE}#{name}")});
        error_response(self.kind.status(), name, body)
    }
}

/// Every error the license-manager model (2018-08-01) declares for the token operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseErrorKind {
    Validation,
    Authorization,
    AccessDenied,
    RateLimitExceeded,
    ServerInternal,
    ResourceLimitExceeded,
    ResourceNotFound,
    Redirect,
}

impl LicenseErrorKind {
    pub const ALL: [LicenseErrorKind; 8] = [
        Self::Validation,
        Self::Authorization,
        Self::AccessDenied,
        Self::RateLimitExceeded,
        Self::ServerInternal,
        Self::ResourceLimitExceeded,
        Self::ResourceNotFound,
        Self::Redirect,
    ];

    pub fn exception_name(self) -> &'static str {
        match self {
            Self::Validation => "ValidationException",
            Self::Authorization => "AuthorizationException",
            Self::AccessDenied => "AccessDeniedException",
            Self::RateLimitExceeded => "RateLimitExceededException",
            Self::ServerInternal => "ServerInternalException",
            Self::ResourceLimitExceeded => "ResourceLimitExceededException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::Redirect => "RedirectException",
        }
    }

    /// awsJson1.1 without an `httpStatusCode` in the model: 400, 500 for the fault.
    pub fn status(self) -> StatusCode {
        match self {
            Self::ServerInternal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn from_exception_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.exception_name() == name)
    }
}

/// A License Manager error answer.
#[derive(Debug, Clone)]
pub struct LicenseError {
    pub kind: LicenseErrorKind,
    pub message: String,
    /// RedirectException's `Location`: the endpoint of the license's home Region.
    pub location: Option<String>,
}

impl LicenseError {
    pub fn new(kind: LicenseErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            location: None,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(LicenseErrorKind::Validation, message)
    }
}

impl IntoResponse for LicenseError {
    fn into_response(self) -> Response {
        let name = self.kind.exception_name();
        let mut body = json!({"__type": name, "Message": self.message});
        if let Some(location) = self.location {
            body["Location"] = json!(location);
        }
        let mut response = error_response(self.kind.status(), name, body);
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        response
    }
}

/// An error that is neither service's modeled shape (an injected fault with a bare status).
pub fn generic_error(status: StatusCode, name: &str) -> Response {
    message_error(status, name, &format!("injected {name}"))
}

/// An error of no service's modeled shape, with its own message.
pub fn message_error(status: StatusCode, name: &str, message: &str) -> Response {
    error_response(status, name, json!({"message": message, "__type": name}))
}

fn error_response(status: StatusCode, error_type: &str, body: serde_json::Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_oidc_error_round_trips_through_its_name() {
        for kind in OidcErrorKind::ALL {
            assert_eq!(
                OidcErrorKind::from_exception_name(kind.exception_name()),
                Some(kind)
            );
        }
        assert_eq!(
            OidcErrorKind::InvalidClient.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(OidcErrorKind::InternalServer.oauth_code(), "server_error");
    }

    #[test]
    fn oidc_error_carries_header_and_oauth_body() {
        let response =
            OidcError::new(OidcErrorKind::SlowDown, "Client is polling too fast").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "SlowDownException:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/"
        );
    }
}
