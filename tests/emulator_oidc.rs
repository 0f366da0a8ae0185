//! The real aws-sdk-ssooidc client against the emulator: every operation, every grant and every
//! modeled error, each produced by the condition that causes it at AWS.

mod common;

use aws_sdk_ssooidc::operation::create_token::CreateTokenError;
use aws_sdk_ssooidc::operation::register_client::RegisterClientError;
use aws_sdk_ssooidc::operation::start_device_authorization::StartDeviceAuthorizationError;
use common::*;
use serde_json::json;

fn create_token_error<T: std::fmt::Debug>(
    result: Result<T, aws_sdk_ssooidc::error::SdkError<CreateTokenError>>,
) -> CreateTokenError {
    result
        .expect_err("CreateToken should fail")
        .into_service_error()
}

#[tokio::test]
async fn register_client_answers_every_modeled_member() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let answer = oidc
        .register_client()
        .client_name("sso-agent-test")
        .client_type("public")
        .scopes("sso:account:access")
        .send()
        .await
        .unwrap();
    assert!(answer.client_id().is_some_and(|id| !id.is_empty()));
    assert!(answer
        .client_secret()
        .is_some_and(|secret| secret.len() > 20));
    let issued = answer.client_id_issued_at();
    assert!(issued > 1_700_000_000, "epoch seconds, got {issued}");
    assert_eq!(answer.client_secret_expires_at(), issued + 90 * 24 * 3600);
    assert_eq!(
        answer.authorization_endpoint(),
        Some(format!("{}/authorize", emulator.base_url).as_str())
    );
    assert_eq!(
        answer.token_endpoint(),
        Some(format!("{}/token", emulator.base_url).as_str())
    );
}

#[tokio::test]
async fn device_flow_goes_pending_then_slow_down_then_token() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let client = register(&oidc).await;
    let answer = oidc
        .start_device_authorization()
        .client_id(&client.client_id)
        .client_secret(&client.client_secret)
        .start_url(START_URL)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.interval(), 1);
    assert_eq!(answer.expires_in(), 600);
    let user_code = answer.user_code().unwrap();
    assert_eq!(
        answer.verification_uri(),
        Some(format!("{}/device", emulator.base_url).as_str())
    );
    assert_eq!(
        answer.verification_uri_complete(),
        Some(format!("{}/device?user_code={user_code}", emulator.base_url).as_str())
    );
    let login = DeviceLogin {
        device_code: answer.device_code().unwrap().to_string(),
        user_code: user_code.to_string(),
        verification_uri_complete: String::new(),
    };

    // Not yet approved: pending. Polled again at once: too fast.
    let err = create_token_error(device_poll(&oidc, &client, &login).send().await);
    assert!(
        matches!(&err, CreateTokenError::AuthorizationPendingException(e)
            if e.error() == Some("authorization_pending")),
        "{err:?}"
    );
    let err = create_token_error(device_poll(&oidc, &client, &login).send().await);
    assert!(
        matches!(&err, CreateTokenError::SlowDownException(e) if e.error() == Some("slow_down")),
        "{err:?}"
    );

    control(
        &emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": login.user_code}),
    )
    .await;
    // The interval is now 1 + 5 s: a poll after only 2 s is still too fast.
    advance(&emulator, 2).await;
    let err = create_token_error(device_poll(&oidc, &client, &login).send().await);
    assert!(
        matches!(err, CreateTokenError::SlowDownException(_)),
        "{err:?}"
    );
    advance(&emulator, 11).await;
    let token = device_poll(&oidc, &client, &login).send().await.unwrap();
    assert!(token.access_token().is_some_and(|t| !t.is_empty()));
    assert!(token.refresh_token().is_some_and(|t| !t.is_empty()));
    assert_eq!(token.token_type(), Some("Bearer"));
    assert_eq!(token.expires_in(), 8 * 3600);
    assert_eq!(token.id_token().map(|t| t.split('.').count()), Some(3));

    // A device code is good for one token.
    advance(&emulator, 20).await;
    let err = create_token_error(device_poll(&oidc, &client, &login).send().await);
    assert!(
        matches!(err, CreateTokenError::InvalidGrantException(_)),
        "{err:?}"
    );

    let outcomes: Vec<String> = calls(&emulator)
        .await
        .iter()
        .filter(|call| call["operation"] == "CreateToken")
        .map(|call| call["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        outcomes,
        [
            "AuthorizationPendingException",
            "SlowDownException",
            "SlowDownException",
            "ok",
            "InvalidGrantException"
        ]
    );
}

#[tokio::test]
async fn scenario_counts_force_slow_down_and_pending_then_auto_approve() {
    let emulator = emulator().await;
    scenario(
        &emulator,
        json!({"slow_down_polls": 1, "pending_polls": 1, "auto_approve_after_polls": 1}),
    )
    .await;
    let oidc = oidc(&emulator).await;
    let client = register(&oidc).await;
    let login = start_device(&oidc, &client).await;
    let err = create_token_error(device_poll(&oidc, &client, &login).send().await);
    assert!(matches!(err, CreateTokenError::SlowDownException(_)));
    advance(&emulator, 6).await;
    let err = create_token_error(device_poll(&oidc, &client, &login).send().await);
    assert!(matches!(
        err,
        CreateTokenError::AuthorizationPendingException(_)
    ));
    advance(&emulator, 6).await;
    device_poll(&oidc, &client, &login)
        .send()
        .await
        .expect("auto-approved after the forced answers");
}

#[tokio::test]
async fn denied_code_is_access_denied() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let client = register(&oidc).await;
    let login = start_device(&oidc, &client).await;
    control(
        &emulator,
        "POST",
        "/_emulator/deny",
        json!({"user_code": login.user_code}),
    )
    .await;
    let err = create_token_error(device_poll(&oidc, &client, &login).send().await);
    assert!(
        matches!(&err, CreateTokenError::AccessDeniedException(e) if e.error() == Some("access_denied")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_expired_device_code_is_expired_token() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let client = register(&oidc).await;
    let login = start_device(&oidc, &client).await;
    advance(&emulator, 601).await;
    let err = create_token_error(device_poll(&oidc, &client, &login).send().await);
    assert!(
        matches!(err, CreateTokenError::ExpiredTokenException(_)),
        "{err:?}"
    );
    // Approving it is refused too.
    let (status, _) = control_raw(
        &emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": login.user_code}),
    )
    .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn refresh_rotates_and_the_previous_token_has_a_grace_period() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let (client, _, first_refresh) = logged_in(&emulator, &oidc).await;
    let refresh = |token: &str| {
        oidc.create_token()
            .client_id(&client.client_id)
            .client_secret(&client.client_secret)
            .grant_type("refresh_token")
            .refresh_token(token)
            .send()
    };
    let renewed = refresh(&first_refresh).await.unwrap();
    let second_refresh = renewed.refresh_token().unwrap().to_string();
    assert_ne!(second_refresh, first_refresh, "refresh tokens rotate");
    assert!(renewed.access_token().is_some());

    // Inside the grace period the previous token still works (a client killed before storing
    // the new one recovers); after it, it is invalid_grant.
    refresh(&first_refresh)
        .await
        .expect("previous token within grace");
    advance(&emulator, 61).await;
    let err = create_token_error(refresh(&first_refresh).await);
    assert!(
        matches!(&err, CreateTokenError::InvalidGrantException(e) if e.error() == Some("invalid_grant")),
        "{err:?}"
    );
    refresh(&second_refresh)
        .await
        .expect("the rotated token works");

    // Without rotation the answer carries no refresh token: the client keeps its own.
    scenario(&emulator, json!({"rotate_refresh_tokens": false})).await;
    let (client, _, kept) = logged_in(&emulator, &oidc).await;
    let renewed = oidc
        .create_token()
        .client_id(&client.client_id)
        .client_secret(&client.client_secret)
        .grant_type("refresh_token")
        .refresh_token(&kept)
        .send()
        .await
        .unwrap();
    assert!(renewed.refresh_token().is_none());
    assert!(renewed.access_token().is_some());
}

#[tokio::test]
async fn refresh_tokens_expire_and_need_the_account_access_scope() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"refresh_token_ttl": 100})).await;
    let oidc = oidc(&emulator).await;
    let (client, _, refresh) = logged_in(&emulator, &oidc).await;
    advance(&emulator, 101).await;
    let err = create_token_error(
        oidc.create_token()
            .client_id(&client.client_id)
            .client_secret(&client.client_secret)
            .grant_type("refresh_token")
            .refresh_token(&refresh)
            .send()
            .await,
    );
    assert!(matches!(err, CreateTokenError::InvalidGrantException(_)));

    // Registered without sso:account:access: a token, but no refresh token.
    let no_scope = oidc
        .register_client()
        .client_name("legacy")
        .client_type("public")
        .send()
        .await
        .unwrap();
    let client = Registration {
        client_id: no_scope.client_id().unwrap().into(),
        client_secret: no_scope.client_secret().unwrap().into(),
    };
    let login = start_device(&oidc, &client).await;
    control(
        &emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": login.user_code}),
    )
    .await;
    let token = device_poll(&oidc, &client, &login).send().await.unwrap();
    assert!(token.access_token().is_some());
    assert!(token.refresh_token().is_none());
}

#[tokio::test]
async fn wrong_unknown_or_expired_clients_are_invalid_client() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let client = register(&oidc).await;
    let wrong = Registration {
        client_id: client.client_id.clone(),
        client_secret: "not-the-secret".into(),
    };
    let err = oidc
        .start_device_authorization()
        .client_id(&wrong.client_id)
        .client_secret(&wrong.client_secret)
        .start_url(START_URL)
        .send()
        .await
        .unwrap_err();
    let raw_status = err.raw_response().map(|raw| raw.status().as_u16());
    assert!(
        matches!(
            err.into_service_error(),
            StartDeviceAuthorizationError::InvalidClientException(_)
        ),
        "unknown secret"
    );
    assert_eq!(raw_status, Some(401));

    let login = start_device(&oidc, &client).await;
    let err = create_token_error(device_poll(&oidc, &wrong, &login).send().await);
    assert!(matches!(&err, CreateTokenError::InvalidClientException(e)
        if e.error() == Some("invalid_client")));

    advance(&emulator, 90 * 24 * 3600 + 1).await;
    let err = create_token_error(device_poll(&oidc, &client, &login).send().await);
    assert!(
        matches!(&err, CreateTokenError::InvalidClientException(e)
            if e.error_description().unwrap_or_default().contains("expired")),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_or_malformed_members_are_invalid_request() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let client = register(&oidc).await;
    let err = create_token_error(
        oidc.create_token()
            .client_id(&client.client_id)
            .client_secret(&client.client_secret)
            .grant_type(DEVICE_GRANT)
            .send()
            .await,
    );
    assert!(
        matches!(&err, CreateTokenError::InvalidRequestException(e)
            if e.error() == Some("invalid_request")),
        "{err:?}"
    );
    let err = oidc
        .start_device_authorization()
        .client_id(&client.client_id)
        .client_secret(&client.client_secret)
        .start_url("not a url")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(matches!(
        err,
        StartDeviceAuthorizationError::InvalidRequestException(_)
    ));

    // Raw bad JSON: the same error on the wire, no panic, no hang.
    let response = reqwest::Client::new()
        .post(format!("{}/token", emulator.base_url))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers()["x-amzn-errortype"]
        .to_str()
        .unwrap()
        .starts_with("InvalidRequestException:"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn unknown_scopes_are_invalid_scope() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let err = oidc
        .register_client()
        .client_name("x")
        .client_type("public")
        .scopes("no:such:scope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, RegisterClientError::InvalidScopeException(_)),
        "{err:?}"
    );

    let (client, _, refresh) = logged_in(&emulator, &oidc).await;
    let err = create_token_error(
        oidc.create_token()
            .client_id(&client.client_id)
            .client_secret(&client.client_secret)
            .grant_type("refresh_token")
            .refresh_token(&refresh)
            .scope("openid")
            .send()
            .await,
    );
    assert!(
        matches!(&err, CreateTokenError::InvalidScopeException(e) if e.error() == Some("invalid_scope")),
        "{err:?}"
    );
}

#[tokio::test]
async fn grants_the_client_did_not_register_are_unauthorized_client() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let pkce_only = oidc
        .register_client()
        .client_name("pkce-only")
        .client_type("public")
        .scopes("sso:account:access")
        .grant_types("authorization_code")
        .redirect_uris("http://127.0.0.1/oauth/callback")
        .send()
        .await
        .unwrap();
    let err = oidc
        .start_device_authorization()
        .client_id(pkce_only.client_id().unwrap())
        .client_secret(pkce_only.client_secret().unwrap())
        .start_url(START_URL)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            err,
            StartDeviceAuthorizationError::UnauthorizedClientException(_)
        ),
        "{err:?}"
    );

    let device_only = oidc
        .register_client()
        .client_name("device-only")
        .client_type("public")
        .scopes("sso:account:access")
        .grant_types(DEVICE_GRANT)
        .send()
        .await
        .unwrap();
    let err = create_token_error(
        oidc.create_token()
            .client_id(device_only.client_id().unwrap())
            .client_secret(device_only.client_secret().unwrap())
            .grant_type("refresh_token")
            .refresh_token("whatever")
            .send()
            .await,
    );
    assert!(
        matches!(&err, CreateTokenError::UnauthorizedClientException(e)
            if e.error() == Some("unauthorized_client")),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_grant_types_are_unsupported_grant_type() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let err = oidc
        .register_client()
        .client_name("x")
        .client_type("public")
        .grant_types("password")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(matches!(
        err,
        RegisterClientError::UnsupportedGrantTypeException(_)
    ));
    let client = register(&oidc).await;
    let err = create_token_error(
        oidc.create_token()
            .client_id(&client.client_id)
            .client_secret(&client.client_secret)
            .grant_type("password")
            .send()
            .await,
    );
    assert!(
        matches!(&err, CreateTokenError::UnsupportedGrantTypeException(e)
            if e.error() == Some("unsupported_grant_type")),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_registrations_are_invalid_client_metadata_or_redirect_uri() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let err = oidc
        .register_client()
        .client_name("x")
        .client_type("confidential")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(&err, RegisterClientError::InvalidClientMetadataException(e)
            if e.error() == Some("invalid_client_metadata")),
        "{err:?}"
    );
    let err = oidc
        .register_client()
        .client_name("x")
        .client_type("public")
        .grant_types("authorization_code")
        .redirect_uris("https://attacker.example/cb")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(&err, RegisterClientError::InvalidRedirectUriException(e)
            if e.error() == Some("invalid_redirect_uri")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_injected_500_is_internal_server_and_other_modeled_errors_can_be_injected() {
    let emulator = emulator().await;
    scenario(
        &emulator,
        json!({"faults": [
            {"operation": "CreateToken", "status": 500},
            {"operation": "RegisterClient", "status": 400, "error": "SlowDownException"}
        ]}),
    )
    .await;
    let oidc = oidc(&emulator).await;
    let err = oidc
        .register_client()
        .client_name("x")
        .client_type("public")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, RegisterClientError::SlowDownException(_)),
        "{err:?}"
    );
    let client = register(&oidc).await;
    let login = start_device(&oidc, &client).await;
    let err = device_poll(&oidc, &client, &login)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert!(
        matches!(&err.into_service_error(), CreateTokenError::InternalServerException(e)
            if e.error() == Some("server_error")),
    );
    // The fault was used up: the next poll is answered normally.
    advance(&emulator, 2).await;
    let err = create_token_error(device_poll(&oidc, &client, &login).send().await);
    assert!(matches!(
        err,
        CreateTokenError::AuthorizationPendingException(_)
    ));
}
