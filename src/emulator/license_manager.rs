//! AWS License Manager's token operations in its own wire protocol, awsJson1.1: `POST /` with
//! `X-Amz-Target: AWSLicenseManager.<Op>` and a JSON body (botocore
//! `license-manager/2018-08-01`). CreateToken, DeleteToken and ListTokens are signed (SigV4) by
//! a principal of the license's account; GetAccessToken is taken unsigned, as software without
//! an AWS account calls it (see docs/design.md).
//!
//! Each modeled error comes from its cause:
//! - ValidationException: a missing or malformed member, more than 3 TokenProperties, a refresh
//!   token that is not one of ours in shape, TokenProperties GetAccessToken was given that the
//!   token does not carry, a ClientToken reused for another request.
//! - AuthorizationException: a principal whose IAM policy does not allow the call (a `ReadOnly`
//!   role creating or deleting tokens).
//! - AccessDeniedException: a license not granted to the caller's account; a refresh token that
//!   is forged, expired or deleted.
//! - RateLimitExceededException: more calls a second than the scenario's `license_rate_limit`.
//! - ResourceLimitExceededException: more live tokens for a license than
//!   `license_tokens_per_license`.
//! - ResourceNotFoundException: an unknown license or TokenId.
//! - RedirectException: a token call signed for a Region other than the license's home Region.
//! - ServerInternalException: only an injected fault.

use super::caller::{signed_caller, Caller, Refused};
use super::jwt::{self, Claims, Invalid};
use super::state::{random_token, CallDetail, ClientTokenUse, Emulator, Inner, LicenseToken};
use super::wire::{LicenseError, LicenseErrorKind as Kind};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const TARGET_PREFIX: &str = "AWSLicenseManager.";
/// The operations as their `X-Amz-Target` names them (also their names in the call log).
pub const CREATE_TOKEN: &str = "AWSLicenseManager.CreateToken";
pub const GET_ACCESS_TOKEN: &str = "AWSLicenseManager.GetAccessToken";
pub const DELETE_TOKEN: &str = "AWSLicenseManager.DeleteToken";
pub const LIST_TOKENS: &str = "AWSLicenseManager.ListTokens";
pub const OPERATIONS: [&str; 4] = [CREATE_TOKEN, GET_ACCESS_TOKEN, DELETE_TOKEN, LIST_TOKENS];

/// Access tokens are valid for one hour (the API reference).
pub const ACCESS_TOKEN_TTL: u64 = 3600;
const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(600);
const DEFAULT_EXPIRATION_DAYS: u64 = 365;
const MAX_TOKEN_PROPERTIES: usize = 3;
/// The issuer License Manager's tokens name (the federated principal of its consumption role).
pub const ISSUER: &str = "openid-license-manager.amazonaws.com";

/// The operation an `X-Amz-Target` header names, if it is one of ours.
pub fn operation(target: &str) -> Option<&'static str> {
    OPERATIONS.into_iter().find(|op| *op == target)
}

pub async fn handle(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let answer = match operation(target) {
        Some(CREATE_TOKEN) => create_token(&emulator, &headers, &body),
        Some(GET_ACCESS_TOKEN) => get_access_token(&emulator, &body),
        Some(DELETE_TOKEN) => delete_token(&emulator, &headers, &body),
        Some(LIST_TOKENS) => list_tokens(&emulator, &headers, &body),
        _ => {
            return super::wire::message_error(
                axum::http::StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                &format!(
                    "the emulator's License Manager serves {}",
                    OPERATIONS.join(", ")
                ),
            )
        }
    };
    let mut response = match answer {
        Ok(value) => Json(value).into_response(),
        Err(Failure::License(err)) => err.into_response(),
        Err(Failure::Auth(refused)) => refused.into_response(),
    };
    if operation(target) == Some(GET_ACCESS_TOKEN) {
        if let Some(token_id) = requested_token_id(&emulator, &body) {
            response
                .extensions_mut()
                .insert(CallDetail(format!("TokenId={token_id}")));
        }
    }
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
}

/// The TokenId a GetAccessToken request's token names, for the call log (never the token).
fn requested_token_id(emulator: &Emulator, body: &[u8]) -> Option<String> {
    let request: GetAccessTokenRequest = serde_json::from_slice(body).ok()?;
    let claims = emulator.jwt.verify(request.token.as_deref()?).ok()?;
    Some(claims.jti)
}

enum Failure {
    License(LicenseError),
    /// The signature's own errors (common to every signed service).
    Auth(Refused),
}

impl From<LicenseError> for Failure {
    fn from(err: LicenseError) -> Self {
        Failure::License(err)
    }
}

type Answer = Result<Value, Failure>;

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, LicenseError> {
    serde_json::from_slice(body)
        .map_err(|err| LicenseError::validation(format!("the request body is not valid: {err}")))
}

fn rate_limited(inner: &mut Inner) -> Result<(), LicenseError> {
    let Some(limit) = inner.scenario.license_rate_limit else {
        return Ok(());
    };
    let now = Instant::now();
    while inner
        .recent_license_calls
        .front()
        .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(1))
    {
        inner.recent_license_calls.pop_front();
    }
    if inner.recent_license_calls.len() >= limit as usize {
        return Err(LicenseError::new(Kind::RateLimitExceeded, "Rate exceeded"));
    }
    inner.recent_license_calls.push_back(now);
    Ok(())
}

fn signed(inner: &Inner, headers: &HeaderMap) -> Result<Caller, Failure> {
    signed_caller(inner, headers).map_err(Failure::Auth)
}

/// The policy check: a read-only role may list tokens, not make or delete them.
fn may_change_tokens(caller: &Caller, action: &str) -> Result<(), LicenseError> {
    if caller.role_name == "ReadOnly" {
        return Err(LicenseError::new(
            Kind::Authorization,
            format!(
                "User: arn:aws:sts::{}:assumed-role/{}/session is not authorized to perform: license-manager:{action}",
                caller.account_id, caller.role_name
            ),
        ));
    }
    Ok(())
}

/// The home-Region rule: token calls for a license go to its home Region.
fn in_home_region(home_region: &str, caller: &Caller) -> Result<(), LicenseError> {
    if caller.region == home_region {
        return Ok(());
    }
    Err(LicenseError {
        location: Some(format!(
            "https://license-manager.{home_region}.amazonaws.com"
        )),
        ..LicenseError::new(
            Kind::Redirect,
            format!("This is not the correct Region for the resource; call {home_region}"),
        )
    })
}

fn check_arn(member: &str, value: &str) -> Result<(), LicenseError> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && !parts[2].is_empty()
        && !parts[5].is_empty()
        && value.len() <= 2048
        && !value.chars().any(char::is_whitespace);
    match valid {
        true => Ok(()),
        false => Err(LicenseError::validation(format!(
            "{member} `{value}` is not an ARN"
        ))),
    }
}

fn check_properties(properties: &[String]) -> Result<(), LicenseError> {
    if properties.len() > MAX_TOKEN_PROPERTIES {
        return Err(LicenseError::validation(format!(
            "TokenProperties has {} members; at most {MAX_TOKEN_PROPERTIES} are allowed",
            properties.len()
        )));
    }
    Ok(())
}

#[derive(Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateTokenRequest {
    license_arn: Option<String>,
    role_arns: Vec<String>,
    expiration_in_days: Option<i64>,
    token_properties: Vec<String>,
    client_token: Option<String>,
}

fn create_token(emulator: &Emulator, headers: &HeaderMap, body: &[u8]) -> Answer {
    let request: CreateTokenRequest = parse(body)?;
    let mut inner = emulator.lock();
    rate_limited(&mut inner)?;
    let caller = signed(&inner, headers)?;
    let license_arn = request
        .license_arn
        .clone()
        .ok_or_else(|| LicenseError::validation("LicenseArn is required"))?;
    let client_token = request
        .client_token
        .clone()
        .filter(|token| !token.trim().is_empty())
        .ok_or_else(|| LicenseError::validation("ClientToken is required"))?;
    check_arn("LicenseArn", &license_arn)?;
    for role in &request.role_arns {
        check_arn("RoleArns", role)?;
    }
    check_properties(&request.token_properties)?;
    let days = match request.expiration_in_days {
        None => DEFAULT_EXPIRATION_DAYS,
        Some(days) if days >= 1 => days as u64,
        Some(days) => {
            return Err(LicenseError::validation(format!(
                "ExpirationInDays must be at least 1, not {days}"
            ))
            .into())
        }
    };
    may_change_tokens(&caller, "CreateToken")?;
    let Some(license) = emulator.fixture.license(&license_arn) else {
        return Err(LicenseError::new(
            Kind::ResourceNotFound,
            format!("License {license_arn} not found"),
        )
        .into());
    };
    if license.beneficiary != caller.account_id {
        return Err(LicenseError::new(
            Kind::AccessDenied,
            format!(
                "License {license_arn} is not granted to account {}",
                caller.account_id
            ),
        )
        .into());
    }
    in_home_region(&license.home_region, &caller)?;

    // The same ClientToken within ten minutes: the same token, or a refusal if the request differs.
    let now = inner.now();
    let fingerprint = serde_json::to_string(&request).unwrap_or_default();
    let idempotency_key = (caller.account_id.clone(), client_token);
    inner
        .client_tokens
        .retain(|_, used| now.duration_since(used.at) < IDEMPOTENCY_WINDOW);
    if let Some(used) = inner.client_tokens.get(&idempotency_key) {
        if used.request != fingerprint {
            return Err(LicenseError::validation(
                "ClientToken was already used with other parameters; use a new ClientToken",
            )
            .into());
        }
        let token = &inner.license_tokens[&used.token_id];
        return Ok(create_token_answer(&used.token_id, &token.token));
    }

    let limit = inner.scenario.license_tokens_per_license as usize;
    let epoch = inner.epoch_seconds();
    let live = inner
        .license_tokens
        .values()
        .filter(|token| token.license_arn == license_arn && !token.deleted)
        .filter(|token| token.expires_epoch > epoch)
        .count();
    if live >= limit {
        return Err(LicenseError::new(
            Kind::ResourceLimitExceeded,
            format!("License {license_arn} already has {live} tokens, the most allowed; delete one first"),
        )
        .into());
    }
    let token_id = random_token("", 32).to_lowercase();
    let claims = Claims {
        iss: ISSUER.to_string(),
        jti: token_id.clone(),
        typ: jwt::REFRESH.to_string(),
        aud: license_arn.clone(),
        amr: request.token_properties.clone(),
        roles: request.role_arns.clone(),
        sub: caller.account_id.clone(),
        iat: epoch,
        exp: epoch + days * 24 * 3600,
    };
    let token = emulator.jwt.sign(&claims);
    inner.issued.push(token.clone());
    let serial = inner.next_serial();
    inner.license_tokens.insert(
        token_id.clone(),
        LicenseToken {
            account_id: caller.account_id.clone(),
            license_arn,
            role_arns: request.role_arns,
            token_properties: request.token_properties,
            expires_epoch: claims.exp,
            deleted: false,
            token: token.clone(),
            serial,
        },
    );
    inner.client_tokens.insert(
        idempotency_key,
        ClientTokenUse {
            token_id: token_id.clone(),
            request: fingerprint,
            at: now,
        },
    );
    Ok(create_token_answer(&token_id, &token))
}

fn create_token_answer(token_id: &str, token: &str) -> Value {
    json!({"TokenId": token_id, "TokenType": "REFRESH_TOKEN", "Token": token})
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct GetAccessTokenRequest {
    token: Option<String>,
    token_properties: Vec<String>,
}

fn get_access_token(emulator: &Emulator, body: &[u8]) -> Answer {
    let request: GetAccessTokenRequest = parse(body)?;
    let mut inner = emulator.lock();
    rate_limited(&mut inner)?;
    let token = request
        .token
        .filter(|token| !token.is_empty())
        .ok_or_else(|| LicenseError::validation("Token is required"))?;
    check_properties(&request.token_properties)?;
    let denied = |why: &str| LicenseError::new(Kind::AccessDenied, why.to_string());
    let claims = match emulator.jwt.verify(&token) {
        Ok(claims) if claims.typ == jwt::REFRESH => claims,
        Ok(_) => return Err(LicenseError::validation("Token is not a refresh token").into()),
        Err(Invalid::Malformed) => {
            return Err(LicenseError::validation("Token is not a valid JWT").into())
        }
        Err(Invalid::Signature) => return Err(denied("Token signature is not valid").into()),
    };
    let epoch = inner.epoch_seconds();
    if epoch >= claims.exp {
        return Err(denied("Token has expired").into());
    }
    let known = inner.license_tokens.get(&claims.jti);
    if known.is_none_or(|known| known.deleted) {
        return Err(denied("Token has been deleted").into());
    }
    if let Some(missing) = request
        .token_properties
        .iter()
        .find(|property| !claims.amr.contains(property))
    {
        return Err(LicenseError::validation(format!(
            "TokenProperties `{missing}` is not a property of this token"
        ))
        .into());
    }
    let access = Claims {
        iss: ISSUER.to_string(),
        jti: random_token("", 32).to_lowercase(),
        typ: jwt::ACCESS.to_string(),
        aud: claims.aud,
        amr: claims.amr,
        roles: claims.roles,
        sub: claims.jti,
        iat: epoch,
        exp: epoch + ACCESS_TOKEN_TTL,
    };
    let access_token = emulator.jwt.sign(&access);
    inner.issued.push(access_token.clone());
    Ok(json!({"AccessToken": access_token}))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct DeleteTokenRequest {
    token_id: Option<String>,
}

fn delete_token(emulator: &Emulator, headers: &HeaderMap, body: &[u8]) -> Answer {
    let request: DeleteTokenRequest = parse(body)?;
    let mut inner = emulator.lock();
    rate_limited(&mut inner)?;
    let caller = signed(&inner, headers)?;
    let token_id = request
        .token_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| LicenseError::validation("TokenId is required"))?;
    may_change_tokens(&caller, "DeleteToken")?;
    let not_found = || {
        LicenseError::new(
            Kind::ResourceNotFound,
            format!("Token {token_id} not found"),
        )
    };
    let license_arn = match inner.license_tokens.get(&token_id) {
        Some(token) if token.account_id == caller.account_id && !token.deleted => {
            token.license_arn.clone()
        }
        _ => return Err(not_found().into()),
    };
    if let Some(license) = emulator.fixture.license(&license_arn) {
        in_home_region(&license.home_region, &caller)?;
    }
    if let Some(token) = inner.license_tokens.get_mut(&token_id) {
        token.deleted = true;
    }
    Ok(json!({}))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ListTokensRequest {
    token_ids: Vec<String>,
    filters: Vec<Filter>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Filter {
    name: String,
    values: Vec<String>,
}

fn list_tokens(emulator: &Emulator, headers: &HeaderMap, body: &[u8]) -> Answer {
    let request: ListTokensRequest = parse(body)?;
    let mut inner = emulator.lock();
    rate_limited(&mut inner)?;
    let caller = signed(&inner, headers)?;
    let max = match request.max_results {
        None => 100,
        Some(max @ 1..=100) => max as usize,
        Some(max) => {
            return Err(
                LicenseError::validation(format!("MaxResults must be 1 to 100, not {max}")).into(),
            )
        }
    };
    let mut licenses: Option<Vec<String>> = None;
    for filter in &request.filters {
        match filter.name.as_str() {
            "LicenseArns" => licenses = Some(filter.values.clone()),
            other => {
                return Err(LicenseError::validation(format!(
                    "filter `{other}` is not supported; the one filter is LicenseArns"
                ))
                .into())
            }
        }
    }
    let start: u64 = match request.next_token.as_deref() {
        None => 0,
        Some(next) => next
            .parse()
            .map_err(|_| LicenseError::validation("NextToken is not valid"))?,
    };
    let mut tokens: Vec<(&String, &LicenseToken)> = inner
        .license_tokens
        .iter()
        .filter(|(_, token)| token.account_id == caller.account_id)
        .filter(|(id, _)| request.token_ids.is_empty() || request.token_ids.contains(id))
        .filter(|(_, token)| {
            licenses
                .as_ref()
                .is_none_or(|arns| arns.contains(&token.license_arn))
        })
        .filter(|(_, token)| token.serial >= start)
        .collect();
    tokens.sort_by_key(|(_, token)| token.serial);
    let next = tokens.get(max).map(|(_, token)| token.serial.to_string());
    let page: Vec<Value> = tokens
        .into_iter()
        .take(max)
        .map(|(id, token)| {
            json!({
                "TokenId": id,
                "TokenType": "REFRESH_TOKEN",
                "LicenseArn": token.license_arn,
                "ExpirationTime": iso8601(token.expires_epoch),
                "TokenProperties": token.token_properties,
                "RoleArns": token.role_arns,
                // The model knows two: an expired token is still AVAILABLE in the list.
                "Status": if token.deleted { "DELETED" } else { "AVAILABLE" },
            })
        })
        .collect();
    let mut answer = json!({"Tokens": page});
    if let Some(next) = next {
        answer["NextToken"] = json!(next);
    }
    Ok(answer)
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso8601(epoch: u64) -> String {
    aws_smithy_types::DateTime::from_secs(epoch as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}
