//! sso-oidc: RegisterClient, StartDeviceAuthorization and CreateToken (all three grants).
//! Every error is produced by the condition that causes it at AWS.

use super::state::{
    random_token, random_user_code, AccessToken, CallDetail, Client, Decision, DeviceGrant,
    Emulator, Grant, Inner, RefreshToken, GRANT_AUTHORIZATION_CODE, GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN, GRANT_TYPES, SCOPE_ACCOUNT_ACCESS,
};
use super::wire::{OidcError, OidcErrorKind as Kind};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Scopes IAM Identity Center knows; any other is InvalidScope.
const KNOWN_SCOPES: [&str; 8] = [
    SCOPE_ACCOUNT_ACCESS,
    "openid",
    "aws",
    "codewhisperer:completions",
    "codewhisperer:analysis",
    "codewhisperer:conversations",
    "codewhisperer:taskassist",
    "codewhisperer:transformations",
];

/// How much SlowDown adds to a device code's interval (RFC 8628 §3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
const AUTHORIZATION_CODE_TTL: Duration = Duration::from_secs(300);

type OidcResult = Result<Response, OidcError>;

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, OidcError> {
    serde_json::from_slice(body)
        .map_err(|err| OidcError::new(Kind::InvalidRequest, format!("Invalid request body: {err}")))
}

fn required<'a>(value: &'a Option<String>, member: &str) -> Result<&'a str, OidcError> {
    match value.as_deref() {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(OidcError::new(
            Kind::InvalidRequest,
            format!("{member} is required"),
        )),
    }
}

fn flatten(result: OidcResult) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

// ---------------------------------------------------------------------------------------------
// RegisterClient

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterClientRequest {
    client_name: Option<String>,
    client_type: Option<String>,
    scopes: Option<Vec<String>>,
    redirect_uris: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    #[allow(dead_code)] // accepted as AWS does; nothing here depends on it
    issuer_url: Option<String>,
}

pub async fn register_client(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    flatten(register(&emulator, &body))
}

fn register(emulator: &Emulator, body: &Bytes) -> OidcResult {
    let request: RegisterClientRequest = parse(body)?;
    let client_name = required(&request.client_name, "clientName")?;
    let client_type = required(&request.client_type, "clientType")?;
    if client_type != "public" {
        return Err(OidcError::new(
            Kind::InvalidClientMetadata,
            format!("Invalid client type: {client_type}; only public clients are supported"),
        ));
    }
    let scopes = request.scopes.unwrap_or_default();
    if let Some(scope) = scopes
        .iter()
        .find(|scope| !KNOWN_SCOPES.contains(&scope.as_str()))
    {
        return Err(OidcError::new(
            Kind::InvalidScope,
            format!("Invalid scope: {scope}"),
        ));
    }
    // Without grantTypes a client gets the device grant and, with the scope, refresh.
    let grant_types = request
        .grant_types
        .unwrap_or_else(|| vec![GRANT_DEVICE_CODE.into(), GRANT_REFRESH_TOKEN.into()]);
    if let Some(grant) = grant_types
        .iter()
        .find(|grant| !GRANT_TYPES.contains(&grant.as_str()))
    {
        return Err(OidcError::new(
            Kind::UnsupportedGrantType,
            format!("Unsupported grant type: {grant}"),
        ));
    }
    let redirect_uris = request.redirect_uris.unwrap_or_default();
    if let Some(uri) = redirect_uris.iter().find(|uri| !is_loopback_http(uri)) {
        return Err(OidcError::new(
            Kind::InvalidRedirectUri,
            format!("Invalid redirect URI: {uri}; only http loopback URIs are allowed"),
        ));
    }
    if grant_types
        .iter()
        .any(|grant| grant == GRANT_AUTHORIZATION_CODE)
        && redirect_uris.is_empty()
    {
        return Err(OidcError::new(
            Kind::InvalidRedirectUri,
            "The authorization_code grant needs at least one redirect URI",
        ));
    }

    let mut inner = emulator.lock();
    let client_id = random_token("emu-client-", 22);
    let client_secret = random_token("emu-secret-", 48);
    let issued_at = inner.epoch_seconds();
    let ttl = inner.scenario.client_secret_ttl;
    let client = Client {
        client_name: client_name.to_string(),
        client_secret: client_secret.clone(),
        secret_expires_at: inner.now() + Duration::from_secs(ttl),
        scopes,
        grant_types,
        redirect_uris,
    };
    inner.clients.insert(client_id.clone(), client);
    inner.issued.push(client_secret.clone());
    Ok(Json(json!({
        "clientId": client_id,
        "clientSecret": client_secret,
        "clientIdIssuedAt": issued_at,
        "clientSecretExpiresAt": issued_at + ttl,
        "authorizationEndpoint": format!("{}/authorize", emulator.base_url),
        "tokenEndpoint": format!("{}/token", emulator.base_url),
    }))
    .into_response())
}

/// RFC 8252 §7.3: native apps redirect to a loopback IP literal over plain http, any port.
pub fn is_loopback_http(uri: &str) -> bool {
    match url::Url::parse(uri) {
        Ok(url) => {
            url.scheme() == "http"
                && matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
        }
        Err(_) => false,
    }
}

/// Whether `given` is one of the client's registered redirect URIs, the port aside.
pub fn redirect_uri_registered(client: &Client, given: &str) -> bool {
    let Ok(given) = url::Url::parse(given) else {
        return false;
    };
    client.redirect_uris.iter().any(|registered| {
        url::Url::parse(registered).is_ok_and(|registered| {
            registered.scheme() == given.scheme()
                && registered.host_str() == given.host_str()
                && registered.path() == given.path()
        })
    })
}

/// Checks a client's id and secret; an unknown, wrong or expired one is InvalidClient.
fn authenticate<'a>(
    inner: &'a Inner,
    client_id: &str,
    client_secret: &str,
) -> Result<&'a Client, OidcError> {
    let client = inner
        .clients
        .get(client_id)
        .filter(|client| client.client_secret == client_secret)
        .ok_or_else(|| OidcError::new(Kind::InvalidClient, "Invalid client provided"))?;
    if inner.now() >= client.secret_expires_at {
        return Err(OidcError::new(
            Kind::InvalidClient,
            "Client registration has expired",
        ));
    }
    Ok(client)
}

// ---------------------------------------------------------------------------------------------
// StartDeviceAuthorization

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartDeviceAuthorizationRequest {
    client_id: Option<String>,
    client_secret: Option<String>,
    start_url: Option<String>,
}

pub async fn start_device_authorization(
    State(emulator): State<Arc<Emulator>>,
    body: Bytes,
) -> Response {
    flatten(start_device(&emulator, &body))
}

fn start_device(emulator: &Emulator, body: &Bytes) -> OidcResult {
    let request: StartDeviceAuthorizationRequest = parse(body)?;
    let client_id = required(&request.client_id, "clientId")?;
    let client_secret = required(&request.client_secret, "clientSecret")?;
    let start_url = required(&request.start_url, "startUrl")?;
    if url::Url::parse(start_url).is_err() {
        return Err(OidcError::new(
            Kind::InvalidRequest,
            format!("Invalid start URL: {start_url}"),
        ));
    }
    let mut inner = emulator.lock();
    let client = authenticate(&inner, client_id, client_secret)?;
    if !client.allows_grant(GRANT_DEVICE_CODE) {
        return Err(OidcError::new(
            Kind::UnauthorizedClient,
            "This client is not registered for the device_code grant",
        ));
    }
    let device_code = random_token("emu-device-", 40);
    let user_code = random_user_code();
    let (interval, ttl) = (inner.scenario.interval, inner.scenario.device_code_ttl);
    let grant = DeviceGrant {
        user_code: user_code.clone(),
        client_id: client_id.to_string(),
        expires_at: inner.now() + Duration::from_secs(ttl),
        interval: Duration::from_secs(interval),
        last_poll: None,
        polls: 0,
        decision: Decision::Pending,
    };
    inner.device_grants.insert(device_code.clone(), grant);
    inner
        .user_codes
        .insert(user_code.clone(), device_code.clone());
    let verification_uri = format!("{}/device", emulator.base_url);
    Ok(Json(json!({
        "deviceCode": device_code,
        "userCode": user_code,
        "verificationUri": verification_uri,
        "verificationUriComplete": format!("{verification_uri}?user_code={user_code}"),
        "expiresIn": ttl,
        "interval": interval,
    }))
    .into_response())
}

/// Records a person's (or the control API's) decision on a user code.
pub fn decide_user_code(
    inner: &mut Inner,
    user_code: &str,
    decision: Decision,
) -> Result<(), DecisionError> {
    let now = inner.now();
    let device_code = inner
        .user_codes
        .get(user_code)
        .ok_or(DecisionError::UnknownCode)?;
    let grant = inner
        .device_grants
        .get_mut(device_code)
        .ok_or(DecisionError::UnknownCode)?;
    if now >= grant.expires_at {
        return Err(DecisionError::Expired);
    }
    if grant.decision != Decision::Pending {
        return Err(DecisionError::AlreadyDecided);
    }
    grant.decision = decision;
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
pub enum DecisionError {
    UnknownCode,
    Expired,
    AlreadyDecided,
}

impl std::fmt::Display for DecisionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::UnknownCode => "unknown user code",
            Self::Expired => "this code has expired",
            Self::AlreadyDecided => "this code has already been approved or denied",
        })
    }
}

// ---------------------------------------------------------------------------------------------
// CreateToken

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateTokenRequest {
    client_id: Option<String>,
    client_secret: Option<String>,
    grant_type: Option<String>,
    device_code: Option<String>,
    code: Option<String>,
    refresh_token: Option<String>,
    scope: Option<Vec<String>>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
}

pub async fn create_token(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    let grant = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| value.get("grantType")?.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut response = flatten(token(&emulator, &body));
    response.extensions_mut().insert(CallDetail(grant));
    response
}

fn token(emulator: &Emulator, body: &Bytes) -> OidcResult {
    let request: CreateTokenRequest = parse(body)?;
    let client_id = required(&request.client_id, "clientId")?;
    let client_secret = required(&request.client_secret, "clientSecret")?;
    let grant_type = required(&request.grant_type, "grantType")?;
    if !GRANT_TYPES.contains(&grant_type) {
        return Err(OidcError::new(
            Kind::UnsupportedGrantType,
            format!("Unsupported grant type: {grant_type}"),
        ));
    }
    let mut inner = emulator.lock();
    let client = authenticate(&inner, client_id, client_secret)?;
    if !client.allows_grant(grant_type) {
        return Err(OidcError::new(
            Kind::UnauthorizedClient,
            format!("This client is not registered for the {grant_type} grant"),
        ));
    }
    if let Some(scope) = request
        .scope
        .iter()
        .flatten()
        .find(|scope| !client.scopes.contains(scope))
    {
        return Err(OidcError::new(
            Kind::InvalidScope,
            format!("Scope {scope} was not registered for this client"),
        ));
    }
    let grant = match grant_type {
        GRANT_DEVICE_CODE => {
            let device_code = required(&request.device_code, "deviceCode")?;
            redeem_device_code(&mut inner, client_id, device_code)?
        }
        GRANT_REFRESH_TOKEN => {
            let refresh_token = required(&request.refresh_token, "refreshToken")?;
            redeem_refresh_token(&mut inner, client_id, refresh_token)?
        }
        _ => {
            let code = required(&request.code, "code")?;
            let verifier = required(&request.code_verifier, "codeVerifier")?;
            let redirect_uri = required(&request.redirect_uri, "redirectUri")?;
            redeem_authorization_code(&mut inner, client_id, code, verifier, redirect_uri)?
        }
    };
    // A refresh answer carries a refresh token only when it rotates; a first login always does.
    let new_refresh_token =
        grant_type != GRANT_REFRESH_TOKEN || inner.scenario.rotate_refresh_tokens;
    Ok(Json(issue_tokens(emulator, &mut inner, grant, new_refresh_token)).into_response())
}

fn redeem_device_code(
    inner: &mut Inner,
    client_id: &str,
    device_code: &str,
) -> Result<Grant, OidcError> {
    let now = inner.now();
    let scenario = inner.scenario.clone();
    let grant = inner
        .device_grants
        .get_mut(device_code)
        .filter(|grant| grant.client_id == client_id)
        .ok_or_else(|| OidcError::new(Kind::InvalidGrant, "Invalid device code provided"))?;
    if now >= grant.expires_at {
        return Err(OidcError::new(
            Kind::ExpiredToken,
            "Device code has expired",
        ));
    }
    if grant.decision == Decision::Redeemed {
        return Err(OidcError::new(
            Kind::InvalidGrant,
            "Device code has already been used",
        ));
    }
    grant.polls += 1;
    let too_soon = grant
        .last_poll
        .is_some_and(|last| now.duration_since(last) < grant.interval);
    grant.last_poll = Some(now);
    if too_soon || grant.polls <= scenario.slow_down_polls {
        grant.interval += SLOW_DOWN_STEP;
        return Err(OidcError::new(Kind::SlowDown, "Client is polling too fast"));
    }
    if scenario
        .auto_approve_after_polls
        .is_some_and(|after| grant.polls >= after)
        && grant.decision == Decision::Pending
    {
        grant.decision = Decision::Approved {
            user: String::new(),
        };
    }
    if grant.polls <= scenario.slow_down_polls + scenario.pending_polls {
        return Err(pending());
    }
    match &grant.decision {
        Decision::Pending => Err(pending()),
        Decision::Denied => Err(OidcError::new(
            Kind::AccessDenied,
            "The user denied the authorization request",
        )),
        Decision::Redeemed => unreachable!("checked above"),
        Decision::Approved { user } => {
            // An empty user (auto-approval) becomes the fixture's default user at issue time.
            let user = user.clone();
            grant.decision = Decision::Redeemed;
            let scopes = inner.clients[client_id].scopes.clone();
            Ok(Grant {
                client_id: client_id.to_string(),
                user,
                scopes,
                session: inner.new_session(),
            })
        }
    }
}

fn pending() -> OidcError {
    OidcError::new(Kind::AuthorizationPending, "Authorization is still pending")
}

fn redeem_refresh_token(
    inner: &mut Inner,
    client_id: &str,
    refresh_token: &str,
) -> Result<Grant, OidcError> {
    let now = inner.now();
    let (rotate, grace) = (
        inner.scenario.rotate_refresh_tokens,
        Duration::from_secs(inner.scenario.refresh_grace),
    );
    let invalid = || OidcError::new(Kind::InvalidGrant, "Invalid refresh token provided");
    let ended = |session| inner.session_ended(session);
    let record = inner
        .refresh_tokens
        .get(refresh_token)
        .filter(|record| record.grant.client_id == client_id && !ended(record.grant.session))
        .ok_or_else(invalid)?;
    if now >= record.expires_at {
        return Err(invalid());
    }
    if record
        .rotated_at
        .is_some_and(|rotated| now.duration_since(rotated) > grace)
    {
        return Err(invalid());
    }
    let grant = record.grant.clone();
    if rotate {
        if let Some(record) = inner.refresh_tokens.get_mut(refresh_token) {
            record.rotated_at.get_or_insert(now);
        }
    }
    Ok(grant)
}

fn redeem_authorization_code(
    inner: &mut Inner,
    client_id: &str,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<Grant, OidcError> {
    let now = inner.now();
    // The client's verifier is its secret: every test world searches its files for it too.
    inner.issued.push(verifier.to_string());
    // A code is good for one exchange, successful or not (RFC 6749 §4.1.2).
    let record = inner
        .authorization_codes
        .remove(code)
        .filter(|record| record.client_id == client_id && now < record.expires_at)
        .ok_or_else(|| OidcError::new(Kind::InvalidGrant, "Invalid authorization code provided"))?;
    if record.redirect_uri != redirect_uri {
        return Err(OidcError::new(
            Kind::InvalidGrant,
            "redirectUri does not match the authorization request",
        ));
    }
    if pkce_challenge(verifier) != record.code_challenge {
        return Err(OidcError::new(
            Kind::InvalidGrant,
            "Code verifier does not match the code challenge",
        ));
    }
    Ok(Grant {
        client_id: client_id.to_string(),
        user: record.user,
        scopes: record.scopes,
        session: inner.new_session(),
    })
}

/// RFC 7636 S256: base64url(sha256(verifier)) without padding.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn new_authorization_code(
    inner: &mut Inner,
    request: &super::state::AuthorizationRequest,
    user: String,
) -> String {
    let code = random_token("emu-code-", 32);
    let record = super::state::AuthorizationCode {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        scopes: request.scopes.clone(),
        user,
        expires_at: inner.now() + AUTHORIZATION_CODE_TTL,
    };
    inner.authorization_codes.insert(code.clone(), record);
    inner.issued.push(code.clone());
    code
}

fn issue_tokens(
    emulator: &Emulator,
    inner: &mut Inner,
    mut grant: Grant,
    new_refresh_token: bool,
) -> serde_json::Value {
    if grant.user.is_empty() {
        grant.user = emulator.fixture.default_user();
    }
    let now = inner.now();
    let access_ttl = inner.scenario.access_token_ttl;
    let access_token = random_token("aoa", 60);
    inner.issued.push(access_token.clone());
    inner.access_tokens.insert(
        access_token.clone(),
        AccessToken {
            grant: grant.clone(),
            expires_at: now + Duration::from_secs(access_ttl),
        },
    );
    let issued_at = inner.epoch_seconds();
    let id_token = unsigned_jwt(&json!({
        "iss": emulator.base_url, "sub": grant.user, "aud": grant.client_id,
        "iat": issued_at, "exp": issued_at + access_ttl,
    }));
    let mut answer = json!({
        "accessToken": access_token,
        "tokenType": "Bearer",
        "expiresIn": access_ttl,
        "idToken": id_token,
    });
    // AWS issues refresh tokens only to clients registered with sso:account:access.
    let refreshable = grant
        .scopes
        .iter()
        .any(|scope| scope == SCOPE_ACCOUNT_ACCESS)
        && inner.clients[&grant.client_id].allows_grant(GRANT_REFRESH_TOKEN);
    if refreshable && new_refresh_token {
        let refresh_token = random_token("aor", 60);
        inner.issued.push(refresh_token.clone());
        let ttl = Duration::from_secs(inner.scenario.refresh_token_ttl);
        inner.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshToken {
                grant,
                expires_at: now + ttl,
                rotated_at: None,
            },
        );
        answer["refreshToken"] = json!(refresh_token);
    }
    answer
}

/// An OpenID Connect ID token with `alg: none`: the shape of the real one, no signature.
fn unsigned_jwt(claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{claims}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn only_plain_http_loopback_redirects_are_accepted() {
        assert!(is_loopback_http("http://127.0.0.1/oauth/callback"));
        assert!(is_loopback_http("http://127.0.0.1:8080/oauth/callback"));
        assert!(is_loopback_http("http://localhost/cb"));
        assert!(!is_loopback_http("https://127.0.0.1/cb"));
        assert!(!is_loopback_http("http://example.com/cb"));
        assert!(!is_loopback_http("not a url"));
    }
}
