//! The AWS federation endpoint (`signin.aws.amazon.com/federation`) as `GET /federation`, and
//! the page a console sign-in lands on (`/console`), so `sso-agent console` and a real browser
//! can follow the whole link.
//!
//! What the real endpoint does, as AWS documents it ("Enable custom identity broker access to
//! the AWS console", IAM User Guide, id_roles_providers_enable-console-custom-url):
//! - `Action=getSigninToken&SessionDuration=N&Session=<url-encoded JSON>` with the role's
//!   temporary credentials as `sessionId`, `sessionKey` and `sessionToken`; `SessionDuration` is
//!   900..=43200 seconds. The answer is `{"SigninToken": "…"}`; the token is valid for 15 minutes.
//! - `Action=login&Issuer=…&Destination=<console URL>&SigninToken=…` signs the browser in and
//!   sends it to `Destination`.
//!
//! A wrong request is answered HTTP 400 with a servlet container's HTML status page, not an AWS
//! error document. AWS Knowledge Center "invalid-credentials-parameter" shows it for bad
//! credentials: `HTTP Status 400 - Invalid credentials parameter` with the description "The
//! request sent by the client was syntactically incorrect"; aws-vault issue #77 quotes the same
//! page, and joshdk/aws-console issue #42 sees a bare `400 Bad Request` for a SessionDuration the
//! endpoint would not take. So here: every credentials problem (no `Session`, not JSON, a key
//! this emulator never issued, a wrong secret or session token, expired credentials) is that
//! same 400 page, saying no more than AWS does; a non-numeric or out-of-range `SessionDuration` and
//! an unknown `Action` are 400 pages of the same shape with their own message (those wordings
//! are the emulator's, AWS does not document them). The call log's `detail` says which check
//! failed, for tests.
//!
//! `SessionDuration` may be left out (the emulator then takes 3600 s, as the client's default;
//! AWS documents no default for role credentials).
//!
//! A sign-in token works until it expires (15 minutes of the emulator's clock), as many times
//! as it is used: AWS documents its 15-minute validity and nothing about a single use, and a
//! browser that reloads the link or a link preview must not break it here if it would not break
//! it at AWS.

use super::pages::{escape, message, page};
use super::state::{random_token, CallDetail, ConsoleSession, Emulator, SigninToken};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// `SessionDuration` bounds, in seconds (IAM User Guide, as above).
pub const SESSION_DURATION_MIN: u64 = 900;
pub const SESSION_DURATION_MAX: u64 = 43200;
const DEFAULT_SESSION_DURATION: u64 = 3600;
/// How long a sign-in token can be used.
const SIGNIN_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

const INVALID_CREDENTIALS: &str = "Invalid credentials parameter";

type Params = Query<HashMap<String, String>>;

/// The `Session` parameter's JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Session {
    session_id: String,
    session_key: String,
    session_token: String,
}

/// A 400 page in the real endpoint's shape; `why` goes to the call log only.
fn bad_request(message: &str, why: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><title>Error</title></head><body>\
         <h1>HTTP Status 400 - {message}</h1><hr><p><b>type</b> Status report</p>\
         <p><b>message</b> <u>{message}</u></p>\
         <p><b>description</b> <u>The request sent by the client was syntactically incorrect.</u></p>\
         <hr></body></html>",
        message = escape(message)
    );
    let mut response = (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
        body,
    )
        .into_response();
    response
        .extensions_mut()
        .insert(CallDetail(why.to_string()));
    response
}

/// `GET /federation`: getSigninToken or login, by `Action`.
pub async fn federation(State(emulator): State<Arc<Emulator>>, Query(params): Params) -> Response {
    match params.get("Action").map(String::as_str) {
        Some("getSigninToken") => get_signin_token(&emulator, &params),
        Some("login") => login(&emulator, &params),
        _ => bad_request("Invalid Action parameter", "unknown Action"),
    }
}

fn get_signin_token(emulator: &Emulator, params: &HashMap<String, String>) -> Response {
    let duration = match params.get("SessionDuration") {
        None => DEFAULT_SESSION_DURATION,
        Some(text) => match text.parse::<u64>() {
            Ok(seconds) if (SESSION_DURATION_MIN..=SESSION_DURATION_MAX).contains(&seconds) => {
                seconds
            }
            _ => {
                return bad_request(
                    "Invalid SessionDuration parameter",
                    "SessionDuration out of range",
                )
            }
        },
    };
    let Some(session) = params.get("Session") else {
        return bad_request(INVALID_CREDENTIALS, "no Session");
    };
    let Ok(session) = serde_json::from_str::<Session>(session) else {
        return bad_request(INVALID_CREDENTIALS, "Session is not the credentials JSON");
    };
    let mut inner = emulator.lock();
    let now = inner.now();
    let Some(issued) = inner.role_credentials.get(&session.session_id) else {
        return bad_request(INVALID_CREDENTIALS, "unknown access key");
    };
    if issued.secret_access_key != session.session_key {
        return bad_request(INVALID_CREDENTIALS, "wrong secret access key");
    }
    if issued.session_token != session.session_token {
        return bad_request(INVALID_CREDENTIALS, "wrong session token");
    }
    if now >= issued.expires_at {
        return bad_request(INVALID_CREDENTIALS, "expired credentials");
    }
    let token = SigninToken {
        account_id: issued.account_id.clone(),
        role_name: issued.role_name.clone(),
        user: issued.user.clone(),
        session_duration: Duration::from_secs(duration),
        expires_at: now + SIGNIN_TOKEN_TTL,
    };
    let signin_token = random_token("emu-signin-", 96);
    inner.issued.push(signin_token.clone());
    inner.signin_tokens.insert(signin_token.clone(), token);
    let mut response = Json(json!({"SigninToken": signin_token})).into_response();
    response
        .extensions_mut()
        .insert(CallDetail(format!("SessionDuration={duration}")));
    response
}

fn login_failed(status: StatusCode, text: &str, why: &str) -> Response {
    let mut response = message(status, "Sign-in failed", text);
    response
        .extensions_mut()
        .insert(CallDetail(why.to_string()));
    response
}

fn login(emulator: &Emulator, params: &HashMap<String, String>) -> Response {
    let destination = params
        .get("Destination")
        .filter(|url| url.starts_with("https://") || url.starts_with("http://"));
    let Some(destination) = destination else {
        return login_failed(
            StatusCode::BAD_REQUEST,
            "The Destination parameter is missing or is not an http(s) URL.",
            "bad Destination",
        );
    };
    let mut inner = emulator.lock();
    let now = inner.now();
    let token = params
        .get("SigninToken")
        .and_then(|token| inner.signin_tokens.get(token))
        .filter(|token| now < token.expires_at)
        .cloned();
    let Some(token) = token else {
        return login_failed(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid or has expired. Get a new one and try again.",
            "unknown or expired SigninToken",
        );
    };
    let id = random_token("emu-console-", 32);
    inner.console_sessions.insert(
        id.clone(),
        ConsoleSession {
            account_id: token.account_id,
            role_name: token.role_name,
            user: token.user,
            destination: destination.clone(),
            issuer: params.get("Issuer").cloned().unwrap_or_default(),
            expires_at: now + token.session_duration,
        },
    );
    // 302, as the real endpoint's redirect to the console (axum's Redirect::to is a 303).
    let mut response = (
        StatusCode::FOUND,
        [(header::LOCATION, format!("/console?session={id}"))],
    )
        .into_response();
    response
        .extensions_mut()
        .insert(CallDetail("signed in".into()));
    response
}

#[derive(Deserialize)]
pub struct ConsoleQuery {
    session: Option<String>,
}

/// `GET /console?session=…`: where a console sign-in lands; it names the role and account.
pub async fn console_page(
    State(emulator): State<Arc<Emulator>>,
    Query(query): Query<ConsoleQuery>,
) -> Response {
    let inner = emulator.lock();
    let Some(session) = query
        .session
        .as_ref()
        .and_then(|id| inner.console_sessions.get(id))
    else {
        return message(
            StatusCode::NOT_FOUND,
            "No console session",
            "There is no console session here; sign in again.",
        );
    };
    if inner.now() >= session.expires_at {
        return message(
            StatusCode::UNAUTHORIZED,
            "Session expired",
            "Your console session has expired; sign in again.",
        );
    }
    let body = format!(
        "<p>Signed in to the AWS console as role <b id=\"role-name\">{role}</b> in account \
         <b id=\"account-id\">{account}</b> (user <span id=\"user\">{user}</span>).</p>\
         <p>The console would now show <a id=\"destination\" href=\"{destination}\">{destination}</a>.</p>\
         <p class=\"note\">Signed in through <span id=\"issuer\">{issuer}</span>.</p>",
        role = escape(&session.role_name),
        account = escape(&session.account_id),
        user = escape(&session.user),
        destination = escape(&session.destination),
        issuer = escape(&session.issuer),
    );
    page("AWS Management Console", &body).into_response()
}
