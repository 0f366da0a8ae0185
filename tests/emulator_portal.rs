//! The real aws-sdk-sso client against the emulator: role credentials, pagination, logout, and
//! every modeled portal error; and the injected faults an agent must survive.

mod common;

use aws_sdk_sso::operation::get_role_credentials::GetRoleCredentialsError;
use aws_sdk_sso::operation::list_account_roles::ListAccountRolesError;
use aws_sdk_sso::operation::list_accounts::ListAccountsError;
use aws_sdk_sso::operation::logout::LogoutError;
use aws_sdk_ssooidc::operation::create_token::CreateTokenError;
use common::*;
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::test]
async fn role_credentials_expire_in_epoch_milliseconds() {
    let emulator = emulator().await;
    let (_, access, _) = logged_in(&emulator, &oidc(&emulator).await).await;
    let portal = portal(&emulator).await;
    let answer = portal
        .get_role_credentials()
        .access_token(&access)
        .account_id("111122223333")
        .role_name("Developer")
        .send()
        .await
        .unwrap();
    let credentials = answer.role_credentials().unwrap();
    assert!(credentials.access_key_id().unwrap().starts_with("ASIA"));
    assert_eq!(credentials.secret_access_key().unwrap().len(), 40);
    assert!(credentials.session_token().is_some());
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let lifetime_ms = credentials.expiration() - now_ms;
    assert!(
        (3_590_000..=3_600_000).contains(&lifetime_ms),
        "one hour in ms, got {lifetime_ms}"
    );
}

#[tokio::test]
async fn accounts_and_roles_page_with_next_token() {
    let emulator = emulator().await;
    let (_, access, _) = logged_in(&emulator, &oidc(&emulator).await).await;
    let portal = portal(&emulator).await;

    let mut account_ids = Vec::new();
    let mut next_token = None;
    let mut pages = 0;
    loop {
        let page = portal
            .list_accounts()
            .access_token(&access)
            .max_results(1)
            .set_next_token(next_token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        for account in page.account_list() {
            account_ids.push(account.account_id().unwrap().to_string());
            assert!(account.account_name().is_some() && account.email_address().is_some());
        }
        next_token = page.next_token().map(str::to_string);
        if next_token.is_none() || pages > 10 {
            break;
        }
    }
    assert_eq!(
        account_ids,
        ["111122223333", "222233334444", "333344445555"]
    );
    assert_eq!(pages, 3);

    // The SDK's own paginator walks the roles the same way.
    let roles: Vec<String> = portal
        .list_account_roles()
        .access_token(&access)
        .account_id("111122223333")
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .map(|role| role.role_name().unwrap().to_string())
        .collect();
    assert_eq!(roles, ["Developer", "ReadOnly", "AdministratorAccess"]);

    let err = portal
        .list_accounts()
        .access_token(&access)
        .next_token("forged")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, ListAccountsError::InvalidRequestException(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_bad_token_is_unauthorized_whatever_it_asks() {
    let emulator = emulator().await;
    let portal = portal(&emulator).await;
    let err = portal
        .get_role_credentials()
        .access_token("aoa-forged")
        .account_id("no-such-account")
        .role_name("Developer")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(401));
    let err = err.into_service_error();
    assert!(
        matches!(&err, GetRoleCredentialsError::UnauthorizedException(e)
            if e.message() == Some("Session token not found or invalid")),
        "{err:?}"
    );
    let err = portal
        .list_account_roles()
        .access_token("aoa-forged")
        .account_id("111122223333")
        .max_results(0)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(matches!(
        err,
        ListAccountRolesError::UnauthorizedException(_)
    ));

    // An expired access token is as bad as a forged one.
    let (_, access, _) = logged_in(&emulator, &oidc(&emulator).await).await;
    advance(&emulator, 8 * 3600 + 1).await;
    let err = portal
        .list_accounts()
        .access_token(&access)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(matches!(err, ListAccountsError::UnauthorizedException(_)));
}

#[tokio::test]
async fn unassigned_roles_are_not_found_and_bad_parameters_invalid() {
    let emulator = emulator().await;
    let (_, access, _) = logged_in(&emulator, &oidc(&emulator).await).await;
    let portal = portal(&emulator).await;
    let err = portal
        .get_role_credentials()
        .access_token(&access)
        .account_id("333344445555")
        .role_name("AdministratorAccess")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
    assert!(matches!(
        err.into_service_error(),
        GetRoleCredentialsError::ResourceNotFoundException(_)
    ));
    let err = portal
        .list_account_roles()
        .access_token(&access)
        .account_id("999999999999")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(matches!(
        err,
        ListAccountRolesError::ResourceNotFoundException(_)
    ));
    let err = portal
        .list_accounts()
        .access_token(&access)
        .max_results(1000)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(matches!(err, ListAccountsError::InvalidRequestException(_)));
}

#[tokio::test]
async fn more_calls_than_the_rate_limit_are_too_many_requests() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"portal_rate_limit": 2})).await;
    let (_, access, _) = logged_in(&emulator, &oidc(&emulator).await).await;
    let portal = portal(&emulator).await;
    let mut throttled = 0;
    for _ in 0..4 {
        if let Err(err) = portal.list_accounts().access_token(&access).send().await {
            assert!(matches!(
                err.into_service_error(),
                ListAccountsError::TooManyRequestsException(_)
            ));
            throttled += 1;
        }
    }
    assert!(throttled >= 2, "4 calls at a limit of 2/s: {throttled}");
}

#[tokio::test]
async fn logout_ends_the_access_token_and_its_refresh_token() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let (client, access, refresh) = logged_in(&emulator, &oidc).await;
    let portal = portal(&emulator).await;
    portal.logout().access_token(&access).send().await.unwrap();
    let err = portal
        .logout()
        .access_token(&access)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(matches!(err, LogoutError::UnauthorizedException(_)));
    let err = oidc
        .create_token()
        .client_id(&client.client_id)
        .client_secret(&client.client_secret)
        .grant_type("refresh_token")
        .refresh_token(&refresh)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(matches!(err, CreateTokenError::InvalidGrantException(_)));
}

#[tokio::test]
async fn injected_429_reset_garbage_and_delay_reach_the_sdk_as_such() {
    let emulator = emulator().await;
    let (_, access, _) = logged_in(&emulator, &oidc(&emulator).await).await;
    scenario(
        &emulator,
        json!({"faults": [
            {"operation": "GetRoleCredentials", "status": 429},
            {"operation": "GetRoleCredentials", "reset": true},
            {"operation": "GetRoleCredentials", "garbage": true},
            {"operation": "GetRoleCredentials", "delay_ms": 3000}
        ]}),
    )
    .await;
    let sdk = sso_agent::aws_sdk::sdk_config(REGION).await;
    let portal = aws_sdk_sso::Client::from_conf(
        aws_sdk_sso::config::Builder::from(&sdk)
            .endpoint_url(&emulator.base_url)
            .retry_config(aws_sdk_sso::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_sso::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(Duration::from_millis(500))
                    .build(),
            )
            .build(),
    );
    let call = || {
        portal
            .get_role_credentials()
            .access_token(&access)
            .account_id("111122223333")
            .role_name("Developer")
            .send()
    };
    let err = call().await.unwrap_err().into_service_error();
    assert!(
        matches!(err, GetRoleCredentialsError::TooManyRequestsException(_)),
        "{err:?}"
    );
    let err = call().await.unwrap_err();
    assert!(
        matches!(err, aws_sdk_sso::error::SdkError::DispatchFailure(ref failure) if failure.is_io()),
        "a reset is an I/O failure: {err:?}"
    );
    // Garbage under a 200 cannot be parsed: the SDK surfaces it as an unhandled error.
    let err = call().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(200));
    let err = err.into_service_error();
    assert!(
        err.meta().code().is_none() && err.to_string().contains("unhandled"),
        "{err:?}"
    );
    let err = call().await.unwrap_err();
    assert!(
        matches!(err, aws_sdk_sso::error::SdkError::TimeoutError(_)),
        "{err:?}"
    );
    // The faults are used up.
    call().await.expect("served normally again");

    let outcomes: Vec<String> = calls(&emulator)
        .await
        .iter()
        .filter(|call| call["operation"] == "GetRoleCredentials")
        .map(|call| call["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        outcomes,
        [
            "TooManyRequestsException",
            "reset",
            "garbage",
            "abandoned",
            "ok"
        ]
    );
}

#[tokio::test]
async fn unknown_routes_and_bad_control_requests_get_clear_errors() {
    let emulator = emulator().await;
    let response = reqwest::get(format!("{}/no/such/operation", emulator.base_url))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
    let (status, body) = control_raw(
        &emulator,
        "PUT",
        "/_emulator/scenario",
        json!({"faults": [{"operation": "DeleteEverything"}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("DeleteEverything"));
    let (status, _) = control_raw(
        &emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": "NOPE-NOPE"}),
    )
    .await;
    assert_eq!(status, 404);
}
