//! STS `AssumeRoleWithWebIdentity` in the query protocol (botocore `sts/2011-06-15`): a form
//! body `Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=…&RoleSessionName=…&
//! WebIdentityToken=…`, unsigned, answered in XML; errors are an XML `ErrorResponse`.
//!
//! It takes only License Manager access tokens this emulator signed. Each modeled error from its
//! cause:
//! - InvalidIdentityToken: not a JWT, not signed here, or not an access token (a refresh token).
//! - ExpiredTokenException: an access token past its hour.
//! - IDPRejectedClaim: a RoleArn the token does not name (the consumption role's trust policy
//!   accepts only the roles in the token).
//! - PackedPolicyTooLarge: a session policy (Policy plus PolicyArns) that packs past the limit.
//! - RegionDisabledException: the role's account has STS turned off in the emulator's Region
//!   (fixture `disabled_regions`, scenario `region`).
//! - MalformedPolicyDocument: a Policy that is not a JSON object.
//! - IDPCommunicationError: only an injected fault (the emulator is its own identity provider).

use super::jwt::{self, Invalid};
use super::license_manager::iso8601;
use super::pages::escape;
use super::state::{random_token, Emulator, IssuedRoleCredentials};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const ASSUME_ROLE_WITH_WEB_IDENTITY: &str = "AssumeRoleWithWebIdentity";
/// AWSLicenseManagerConsumptionRole is made with a one-hour maximum session.
const MAX_SESSION_DURATION: u64 = 3600;
const MIN_SESSION_DURATION: u64 = 900;
/// The packed session policy's limit, in bytes of the emulator's packing.
const PACKED_POLICY_LIMIT: usize = 2048;

/// Every error the model declares for AssumeRoleWithWebIdentity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsErrorKind {
    MalformedPolicyDocument,
    PackedPolicyTooLarge,
    IdpRejectedClaim,
    IdpCommunicationError,
    InvalidIdentityToken,
    ExpiredToken,
    RegionDisabled,
}

impl StsErrorKind {
    pub const ALL: [StsErrorKind; 7] = [
        Self::MalformedPolicyDocument,
        Self::PackedPolicyTooLarge,
        Self::IdpRejectedClaim,
        Self::IdpCommunicationError,
        Self::InvalidIdentityToken,
        Self::ExpiredToken,
        Self::RegionDisabled,
    ];

    /// The `Code` on the wire (the model's `error.code`).
    pub fn code(self) -> &'static str {
        match self {
            Self::MalformedPolicyDocument => "MalformedPolicyDocument",
            Self::PackedPolicyTooLarge => "PackedPolicyTooLarge",
            Self::IdpRejectedClaim => "IDPRejectedClaim",
            Self::IdpCommunicationError => "IDPCommunicationError",
            Self::InvalidIdentityToken => "InvalidIdentityToken",
            Self::ExpiredToken => "ExpiredTokenException",
            Self::RegionDisabled => "RegionDisabledException",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::IdpRejectedClaim | Self::RegionDisabled => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

/// An STS error's `Code`, for the call log (STS sends no `x-amzn-ErrorType`).
#[derive(Clone)]
pub struct ErrorCode(pub String);

/// An STS error answer; also the shape of the protocol's own errors (`MissingParameter`, …).
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        escape(code),
        escape(message),
        request_id()
    );
    let mut response = xml(status, body);
    response
        .extensions_mut()
        .insert(ErrorCode(code.to_string()));
    response
}

pub fn modeled_error(kind: StsErrorKind, message: &str) -> Response {
    error(kind.status(), kind.code(), message)
}

fn xml(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

fn request_id() -> String {
    let hex = random_token("", 32).to_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `POST /` with a form body and no `X-Amz-Target`: the query protocol.
pub async fn handle(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    match params.get("Action").map(String::as_str) {
        Some(ASSUME_ROLE_WITH_WEB_IDENTITY) => {}
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                &format!("Could not find operation {other} for version 2011-06-15; the emulator's STS serves AssumeRoleWithWebIdentity"),
            )
        }
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "MissingAction",
                "Missing Action",
            )
        }
    }
    if params.get("Version").map(String::as_str) != Some("2011-06-15") {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            "Version must be 2011-06-15",
        );
    }
    assume_role_with_web_identity(&emulator, &params)
}

fn assume_role_with_web_identity(
    emulator: &Emulator,
    params: &HashMap<String, String>,
) -> Response {
    let mut missing = ["RoleArn", "RoleSessionName", "WebIdentityToken"]
        .into_iter()
        .filter(|name| params.get(*name).is_none_or(|value| value.is_empty()));
    if let Some(name) = missing.next() {
        return error(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            &format!("The request must contain the parameter {name}"),
        );
    }
    let (role_arn, session_name, token) = (
        &params["RoleArn"],
        &params["RoleSessionName"],
        &params["WebIdentityToken"],
    );
    let name_ok = (2..=64).contains(&session_name.len())
        && session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !name_ok {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            &format!("1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and length 2 to 64"),
        );
    }
    // Without DurationSeconds: the scenario's `role_credentials_ttl` (default one hour, as STS).
    let asked = match params.get("DurationSeconds").map(|text| text.parse::<u64>()) {
        None => None,
        Some(Ok(seconds)) if (MIN_SESSION_DURATION..=MAX_SESSION_DURATION).contains(&seconds) => {
            Some(seconds)
        }
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role (900 to 3600 seconds).",
            )
        }
    };
    if let Err(response) = check_session_policy(params) {
        return *response;
    }

    let claims = match emulator.jwt.verify(token) {
        Ok(claims) if claims.typ == jwt::ACCESS => claims,
        Ok(_) | Err(Invalid::Malformed) | Err(Invalid::Signature) => {
            return modeled_error(
                StsErrorKind::InvalidIdentityToken,
                "The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.",
            )
        }
    };
    let mut inner = emulator.lock();
    let duration = asked.unwrap_or(inner.scenario.role_credentials_ttl);
    if inner.epoch_seconds() >= claims.exp {
        return modeled_error(
            StsErrorKind::ExpiredToken,
            "Token expired: current date/time is past the token's exp",
        );
    }
    if !claims.roles.contains(role_arn) {
        return modeled_error(
            StsErrorKind::IdpRejectedClaim,
            "Incorrect token audience: the token does not name this role",
        );
    }
    let Some((account_id, role_name)) = role_of(role_arn) else {
        return modeled_error(
            StsErrorKind::IdpRejectedClaim,
            "RoleArn is not an IAM role ARN",
        );
    };
    let region = inner.scenario.region.clone();
    if emulator.fixture.region_disabled(&account_id, &region) {
        return modeled_error(
            StsErrorKind::RegionDisabled,
            &format!("STS is not activated in this region ({region}) for account:{account_id}. Your account administrator can activate STS in this region using the IAM Console."),
        );
    }

    let access_key_id = random_token("ASIA", 16).to_uppercase();
    let (secret_access_key, session_token) = (random_token("", 40), random_token("emu-sts-", 200));
    inner.issued.push(secret_access_key.clone());
    inner.issued.push(session_token.clone());
    let expires_epoch = inner.epoch_seconds() + duration;
    let expires_at = inner.now() + Duration::from_secs(duration);
    inner.role_credentials.insert(
        access_key_id.clone(),
        IssuedRoleCredentials {
            secret_access_key: secret_access_key.clone(),
            session_token: session_token.clone(),
            account_id: account_id.clone(),
            role_name: role_name.clone(),
            user: format!("license-token/{}", claims.sub),
            expires_at,
        },
    );
    let assumed_id = format!("AROA{}:{session_name}", random_token("", 17).to_uppercase());
    let body = format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"{NAMESPACE}\">\
<AssumeRoleWithWebIdentityResult>\
<Audience>{audience}</Audience>\
<AssumedRoleUser><AssumedRoleId>{assumed_id}</AssumedRoleId><Arn>arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}</Arn></AssumedRoleUser>\
<Provider>{provider}</Provider>\
<Credentials><AccessKeyId>{access_key_id}</AccessKeyId><SecretAccessKey>{secret_access_key}</SecretAccessKey><SessionToken>{session_token}</SessionToken><Expiration>{expiration}</Expiration></Credentials>\
<SubjectFromWebIdentityToken>{subject}</SubjectFromWebIdentityToken>\
</AssumeRoleWithWebIdentityResult>\
<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
</AssumeRoleWithWebIdentityResponse>",
        audience = escape(&claims.aud),
        assumed_id = escape(&assumed_id),
        account_id = escape(&account_id),
        role_name = escape(&role_name),
        session_name = escape(session_name),
        provider = super::license_manager::ISSUER,
        expiration = iso8601(expires_epoch),
        subject = escape(&claims.sub),
        request_id = request_id(),
    );
    xml(StatusCode::OK, body)
}

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME` → (ACCOUNT, NAME).
fn role_of(role_arn: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws") && account.len() == 12 =>
        {
            let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
            (!name.is_empty()).then(|| (account.to_string(), name.to_string()))
        }
        _ => None,
    }
}

/// The session policy: `Policy` must be a JSON object of at most 2048 characters; packed with
/// the `PolicyArns` (whitespace dropped, each ARN counted whole) it must fit the limit.
fn check_session_policy(params: &HashMap<String, String>) -> Result<(), Box<Response>> {
    let policy = params.get("Policy");
    let arns: Vec<&String> = (1..=10)
        .filter_map(|n| params.get(&format!("PolicyArns.member.{n}.arn")))
        .collect();
    let mut packed = arns.iter().map(|arn| arn.len()).sum::<usize>();
    if let Some(policy) = policy {
        if policy.len() > 2048 {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048",
            )));
        }
        if !serde_json::from_str::<serde_json::Value>(policy).is_ok_and(|v| v.is_object()) {
            return Err(Box::new(modeled_error(
                StsErrorKind::MalformedPolicyDocument,
                "The policy is not in the valid JSON format.",
            )));
        }
        packed += policy.chars().filter(|c| !c.is_whitespace()).count();
    }
    if packed > PACKED_POLICY_LIMIT {
        let percent = packed * 100 / PACKED_POLICY_LIMIT;
        return Err(Box::new(modeled_error(
            StsErrorKind::PackedPolicyTooLarge,
            &format!("Packed policy consumes {percent}% of allotted space, please use smaller policy for the session."),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_give_their_account_and_name() {
        assert_eq!(
            role_of("arn:aws:iam::111122223333:role/service-role/AWSLicenseManagerConsumptionRole"),
            Some((
                "111122223333".into(),
                "AWSLicenseManagerConsumptionRole".into()
            ))
        );
        assert_eq!(role_of("arn:aws:s3:::bucket"), None);
        assert_eq!(role_of("arn:aws:iam::111122223333:user/alice"), None);
    }

    #[test]
    fn every_code_round_trips() {
        for kind in StsErrorKind::ALL {
            assert_eq!(StsErrorKind::from_code(kind.code()), Some(kind));
        }
    }
}
