//! Shared by the integration tests: an emulator per test, the real SDK clients pointed at it,
//! and a small client for the emulator's control API.
#![allow(dead_code)] // each test file uses its own subset

use aws_sdk_ssooidc::config::retry::RetryConfig;
use serde_json::{json, Value};
use sso_agent::emulator::{Fixture, RunningEmulator};

pub const REGION: &str = "us-east-1";
pub const START_URL: &str = "https://example.awsapps.com/start";
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub async fn emulator() -> RunningEmulator {
    RunningEmulator::start("127.0.0.1:0".parse().unwrap(), Fixture::default())
        .await
        .expect("the emulator starts on loopback")
}

/// sso-oidc client on the emulator; retries off so each call is one HTTP request.
pub async fn oidc(emulator: &RunningEmulator) -> aws_sdk_ssooidc::Client {
    let sdk = sso_agent::aws_sdk::sdk_config(REGION).await;
    let config = aws_sdk_ssooidc::config::Builder::from(&sdk)
        .endpoint_url(&emulator.base_url)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_ssooidc::Client::from_conf(config)
}

/// sso portal client on the emulator; retries off.
pub async fn portal(emulator: &RunningEmulator) -> aws_sdk_sso::Client {
    let sdk = sso_agent::aws_sdk::sdk_config(REGION).await;
    let config = aws_sdk_sso::config::Builder::from(&sdk)
        .endpoint_url(&emulator.base_url)
        .retry_config(aws_sdk_sso::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sso::Client::from_conf(config)
}

pub struct Registration {
    pub client_id: String,
    pub client_secret: String,
}

/// RegisterClient as sso-agent will: public, sso:account:access, device + refresh grants.
pub async fn register(oidc: &aws_sdk_ssooidc::Client) -> Registration {
    let answer = oidc
        .register_client()
        .client_name("sso-agent-test")
        .client_type("public")
        .scopes("sso:account:access")
        .grant_types(DEVICE_GRANT)
        .grant_types("refresh_token")
        .send()
        .await
        .expect("RegisterClient succeeds");
    Registration {
        client_id: answer.client_id().unwrap().to_string(),
        client_secret: answer.client_secret().unwrap().to_string(),
    }
}

pub struct DeviceLogin {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri_complete: String,
}

pub async fn start_device(oidc: &aws_sdk_ssooidc::Client, client: &Registration) -> DeviceLogin {
    let answer = oidc
        .start_device_authorization()
        .client_id(&client.client_id)
        .client_secret(&client.client_secret)
        .start_url(START_URL)
        .send()
        .await
        .expect("StartDeviceAuthorization succeeds");
    DeviceLogin {
        device_code: answer.device_code().unwrap().to_string(),
        user_code: answer.user_code().unwrap().to_string(),
        verification_uri_complete: answer.verification_uri_complete().unwrap().to_string(),
    }
}

pub fn device_poll(
    oidc: &aws_sdk_ssooidc::Client,
    client: &Registration,
    login: &DeviceLogin,
) -> aws_sdk_ssooidc::operation::create_token::builders::CreateTokenFluentBuilder {
    oidc.create_token()
        .client_id(&client.client_id)
        .client_secret(&client.client_secret)
        .grant_type(DEVICE_GRANT)
        .device_code(&login.device_code)
}

/// A whole device login, approved through the control API: (registration, access, refresh).
pub async fn logged_in(
    emulator: &RunningEmulator,
    oidc: &aws_sdk_ssooidc::Client,
) -> (Registration, String, String) {
    let client = register(oidc).await;
    let login = start_device(oidc, &client).await;
    control(
        emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": login.user_code}),
    )
    .await;
    let token = device_poll(oidc, &client, &login)
        .send()
        .await
        .expect("the approved code gives a token");
    let access = token.access_token().unwrap().to_string();
    let refresh = token.refresh_token().unwrap().to_string();
    (client, access, refresh)
}

/// Calls the control API and returns its JSON answer; panics on a non-2xx status.
pub async fn control(emulator: &RunningEmulator, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = control_raw(emulator, method, path, body).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

pub async fn control_raw(
    emulator: &RunningEmulator,
    method: &str,
    path: &str,
    body: Value,
) -> (reqwest::StatusCode, Value) {
    let url = format!("{}{path}", emulator.base_url);
    let request = match method {
        "GET" => reqwest::Client::new().get(url),
        "PUT" => reqwest::Client::new().put(url).json(&body),
        _ => reqwest::Client::new().post(url).json(&body),
    };
    let response = request.send().await.expect("the control API answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn scenario(emulator: &RunningEmulator, scenario: Value) {
    control(emulator, "PUT", "/_emulator/scenario", scenario).await;
}

pub async fn advance(emulator: &RunningEmulator, seconds: u64) {
    control(
        emulator,
        "POST",
        "/_emulator/advance",
        json!({"seconds": seconds}),
    )
    .await;
}

/// The emulator's call log.
pub async fn calls(emulator: &RunningEmulator) -> Vec<Value> {
    control(emulator, "GET", "/_emulator/log", Value::Null).await["calls"]
        .as_array()
        .unwrap()
        .clone()
}
/// How many calls of `operation` (with `detail`, if given) the log has.
pub fn count(calls: &[Value], operation: &str, detail: Option<&str>) -> usize {
    calls
        .iter()
        .filter(|call| call["operation"] == operation)
        .filter(|call| detail.is_none_or(|detail| call["detail"] == detail))
        .count()
}

pub mod browser;
pub mod desktop;
pub mod home;
