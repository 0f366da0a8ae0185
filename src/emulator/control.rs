//! The control API under `/_emulator/`, used by tests, the demo and benchmarks.

use super::oidc::{decide_user_code, DecisionError};
use super::scenario::Scenario;
use super::state::{Decision, Emulator};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
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

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|err| format!("invalid request body: {err}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserCodeRequest {
    user_code: String,
    /// Approve as this fixture user (default: the fixture's first user).
    #[serde(default)]
    user: Option<String>,
}

pub async fn approve(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    decide(&emulator, &body, true)
}

pub async fn deny(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    decide(&emulator, &body, false)
}

fn decide(emulator: &Emulator, body: &Bytes, approve: bool) -> Response {
    let request: UserCodeRequest = match parse(body) {
        Ok(request) => request,
        Err(message) => return failure(StatusCode::BAD_REQUEST, message),
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

pub async fn put_scenario(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    let scenario: Scenario = match parse(&body) {
        Ok(scenario) => scenario,
        Err(message) => return failure(StatusCode::BAD_REQUEST, message),
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
pub async fn advance_clock(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    let request: AdvanceRequest = match parse(&body) {
        Ok(request) => request,
        Err(message) => return failure(StatusCode::BAD_REQUEST, message),
    };
    let mut inner = emulator.lock();
    inner.clock_offset += Duration::from_secs(request.seconds);
    Json(json!({"offset_seconds": inner.clock_offset.as_secs()})).into_response()
}
