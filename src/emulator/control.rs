//! The control API under `/_emulator/`, used by tests, the demo and benchmarks.

use super::oidc::{decide_user_code, DecisionError};
use super::scenario::Scenario;
use super::state::{Decision, Emulator};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"message": message.into()}))).into_response()
}

/// A control request's JSON body. Only `content-type: application/json` is taken: a web page can
/// send a form or text/plain to a loopback port without asking (no CORS preflight), but not JSON,
/// so no page the person happens to open can approve a code or change the scenario.
fn parse<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, (StatusCode, String)> {
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the control API takes only `content-type: application/json`; send the body as JSON with that header".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|err| {
        (
            StatusCode::BAD_REQUEST,
            format!("invalid request body: {err}"),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserCodeRequest {
    user_code: String,
    /// Approve as this fixture user (default: the fixture's first user).
    #[serde(default)]
    user: Option<String>,
}

pub async fn approve(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    decide(&emulator, &headers, &body, true)
}

pub async fn deny(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    decide(&emulator, &headers, &body, false)
}

fn decide(emulator: &Emulator, headers: &HeaderMap, body: &Bytes, approve: bool) -> Response {
    let request: UserCodeRequest = match parse(headers, body) {
        Ok(request) => request,
        Err((status, message)) => return failure(status, message),
    };
    let decision = if approve {
        let user = request
            .user
            .unwrap_or_else(|| emulator.fixture.default_user());
        if !emulator.fixture.has_user(&user) {
            return failure(StatusCode::BAD_REQUEST, format!("unknown user {user}"));
        }
        Decision::Approved { user }
    } else {
        Decision::Denied
    };
    match decide_user_code(&mut emulator.lock(), &request.user_code, decision) {
        Ok(()) => {
            Json(json!({"user_code": request.user_code, "approved": approve})).into_response()
        }
        Err(err @ DecisionError::UnknownCode) => failure(StatusCode::NOT_FOUND, err.to_string()),
        Err(err) => failure(StatusCode::CONFLICT, err.to_string()),
    }
}

pub async fn get_scenario(State(emulator): State<Arc<Emulator>>) -> Response {
    Json(emulator.lock().scenario.clone()).into_response()
}

pub async fn put_scenario(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scenario: Scenario = match parse(&headers, &body) {
        Ok(scenario) => scenario,
        Err((status, message)) => return failure(status, message),
    };
    if let Err(message) = scenario.validate() {
        return failure(StatusCode::BAD_REQUEST, message);
    }
    emulator.lock().scenario = scenario.clone();
    Json(scenario).into_response()
}

pub async fn log(State(emulator): State<Arc<Emulator>>) -> Response {
    Json(json!({"calls": emulator.lock().log})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceRequest {
    seconds: u64,
}

/// Moves the emulator's clock forward, as if the machine had slept: tokens and codes expire
/// without a test having to wait.
pub async fn advance_clock(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: AdvanceRequest = match parse(&headers, &body) {
        Ok(request) => request,
        Err((status, message)) => return failure(status, message),
    };
    let mut inner = emulator.lock();
    inner.clock_offset += Duration::from_secs(request.seconds);
    Json(json!({"offset_seconds": inner.clock_offset.as_secs()})).into_response()
}
