//! The real aws-sdk-licensemanager and aws-sdk-sts clients against the emulator: CreateToken,
//! GetAccessToken, DeleteToken, ListTokens and AssumeRoleWithWebIdentity, and every modeled
//! error, each produced by the condition that causes it.

mod common;

use aws_credential_types::Credentials;
use aws_sdk_licensemanager::error::ProvideErrorMetadata;
use aws_sdk_licensemanager::operation::create_token::CreateTokenError;
use aws_sdk_licensemanager::operation::delete_token::DeleteTokenError;
use aws_sdk_licensemanager::operation::get_access_token::GetAccessTokenError;
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use sso_agent::emulator::fixture::DEFAULT_LICENSE_ARN;
use sso_agent::emulator::{Fixture, RunningEmulator};

const ROLE: &str = "arn:aws:iam::111122223333:role/AWSLicenseManagerConsumptionRole";
const OTHER_ROLE: &str = "arn:aws:iam::111122223333:role/Other";

/// Role credentials the emulator's portal issued for `account`/`role`, as an SDK would sign with.
async fn role_credentials(emulator: &RunningEmulator, account: &str, role: &str) -> Credentials {
    let oidc = oidc(emulator).await;
    let (_, access, _) = logged_in(emulator, &oidc).await;
    let answer = portal(emulator)
        .await
        .get_role_credentials()
        .access_token(access)
        .account_id(account)
        .role_name(role)
        .send()
        .await
        .expect("GetRoleCredentials succeeds");
    let credentials = answer.role_credentials().unwrap();
    Credentials::new(
        credentials.access_key_id().unwrap(),
        credentials.secret_access_key().unwrap(),
        credentials.session_token().map(str::to_string),
        None,
        "emulator",
    )
}

/// A License Manager client on the emulator, signing with `credentials` (unsigned without);
/// retries off so each call is one HTTP request.
async fn license_manager(
    emulator: &RunningEmulator,
    region: &str,
    credentials: Option<Credentials>,
) -> aws_sdk_licensemanager::Client {
    let sdk = sso_agent::aws_sdk::sdk_config(region).await;
    let mut config = aws_sdk_licensemanager::config::Builder::from(&sdk)
        .endpoint_url(&emulator.base_url)
        .retry_config(aws_sdk_licensemanager::config::retry::RetryConfig::disabled());
    config = match credentials {
        Some(credentials) => config.credentials_provider(credentials),
        None => config.allow_no_auth(),
    };
    aws_sdk_licensemanager::Client::from_conf(config.build())
}

async fn developer_client(emulator: &RunningEmulator) -> aws_sdk_licensemanager::Client {
    let credentials = role_credentials(emulator, "111122223333", "Developer").await;
    license_manager(emulator, REGION, Some(credentials)).await
}

async fn sts(emulator: &RunningEmulator) -> aws_sdk_sts::Client {
    let sdk = sso_agent::aws_sdk::sdk_config(REGION).await;
    let config = aws_sdk_sts::config::Builder::from(&sdk)
        .endpoint_url(&emulator.base_url)
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

fn claims(jwt: &str) -> Value {
    let body = jwt.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// CreateToken for the built-in license and ROLE: (TokenId, Token).
async fn create_token(
    client: &aws_sdk_licensemanager::Client,
    client_token: &str,
) -> (String, String) {
    let answer = client
        .create_token()
        .license_arn(DEFAULT_LICENSE_ARN)
        .role_arns(ROLE)
        .token_properties("seat=1")
        .client_token(client_token)
        .send()
        .await
        .expect("CreateToken succeeds");
    (
        answer.token_id().unwrap().to_string(),
        answer.token().unwrap().to_string(),
    )
}

async fn access_token(emulator: &RunningEmulator, refresh: &str) -> String {
    license_manager(emulator, REGION, None)
        .await
        .get_access_token()
        .token(refresh)
        .send()
        .await
        .expect("GetAccessToken succeeds")
        .access_token()
        .unwrap()
        .to_string()
}

fn assume(
    sts: &aws_sdk_sts::Client,
    role: &str,
    token: &str,
) -> aws_sdk_sts::operation::assume_role_with_web_identity::builders::AssumeRoleWithWebIdentityFluentBuilder
{
    sts.assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name("sso-agent")
        .web_identity_token(token)
}

#[tokio::test]
async fn a_refresh_token_becomes_an_access_token_then_role_credentials() {
    let emulator = emulator().await;
    let client = developer_client(&emulator).await;
    let (token_id, refresh) = create_token(&client, "first").await;
    let refresh_claims = claims(&refresh);
    assert_eq!(refresh_claims["aud"], DEFAULT_LICENSE_ARN);
    assert_eq!(refresh_claims["amr"], json!(["seat=1"]));
    assert_eq!(refresh_claims["roles"], json!([ROLE]));
    assert_eq!(refresh_claims["jti"], token_id.as_str());
    let lifetime =
        refresh_claims["exp"].as_u64().unwrap() - refresh_claims["iat"].as_u64().unwrap();
    assert_eq!(
        lifetime,
        365 * 24 * 3600,
        "ExpirationInDays defaults to 365"
    );

    // GetAccessToken unsigned, as software without AWS credentials calls it.
    let access = access_token(&emulator, &refresh).await;
    let access_claims = claims(&access);
    assert_eq!(
        access_claims["exp"].as_u64().unwrap() - access_claims["iat"].as_u64().unwrap(),
        3600
    );
    assert_eq!(access_claims["roles"], json!([ROLE]));

    let answer = assume(&sts(&emulator).await, ROLE, &access)
        .send()
        .await
        .expect("AssumeRoleWithWebIdentity succeeds");
    let credentials = answer.credentials().unwrap();
    assert!(credentials.access_key_id().starts_with("ASIA"));
    assert!(!credentials.secret_access_key().is_empty());
    let expires = credentials.expiration().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now + 3500..=now + 3700).contains(&expires), "an hour");
    assert_eq!(
        answer.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::111122223333:assumed-role/AWSLicenseManagerConsumptionRole/sso-agent"
    );
    assert_eq!(answer.audience(), Some(DEFAULT_LICENSE_ARN));

    // The role's credentials are real to the emulator: they sign a License Manager call.
    let as_role = Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token().to_string()),
        None,
        "sts",
    );
    let listed = license_manager(&emulator, REGION, Some(as_role))
        .await
        .list_tokens()
        .send()
        .await
        .expect("ListTokens signed by the STS credentials");
    assert_eq!(listed.tokens().len(), 1);

    let log = calls(&emulator).await;
    for operation in [
        "AWSLicenseManager.CreateToken",
        "AWSLicenseManager.GetAccessToken",
        "AssumeRoleWithWebIdentity",
        "AWSLicenseManager.ListTokens",
    ] {
        assert_eq!(count(&log, operation, None), 1, "{operation}: {log:?}");
    }
    let secrets = emulator.state.issued_secrets();
    assert!(secrets.contains(&refresh) && secrets.contains(&access));
    assert!(secrets.iter().any(|s| s == credentials.session_token()));
}

#[tokio::test]
async fn the_same_client_token_within_ten_minutes_is_the_same_token() {
    let emulator = emulator().await;
    let client = developer_client(&emulator).await;
    let first = create_token(&client, "retry-me").await;
    assert_eq!(create_token(&client, "retry-me").await, first);
    // The same ClientToken for another request is refused, not a second token.
    let err = client
        .create_token()
        .license_arn(DEFAULT_LICENSE_ARN)
        .role_arns(OTHER_ROLE)
        .client_token("retry-me")
        .send()
        .await
        .expect_err("another request under a used ClientToken")
        .into_service_error();
    assert!(
        matches!(err, CreateTokenError::ValidationException(_)),
        "{err:?}"
    );
    advance(&emulator, 601).await;
    let later = create_token(&client, "retry-me").await;
    assert_ne!(
        later.0, first.0,
        "ten minutes on, the ClientToken is new again"
    );
    let listed = client.list_tokens().send().await.unwrap();
    assert_eq!(listed.tokens().len(), 2);
}

#[tokio::test]
async fn create_token_refuses_bad_input_with_validation_exception() {
    let emulator = emulator().await;
    let client = developer_client(&emulator).await;
    let too_many = client
        .create_token()
        .license_arn(DEFAULT_LICENSE_ARN)
        .set_token_properties(Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]))
        .client_token("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(too_many, CreateTokenError::ValidationException(_)),
        "{too_many:?}"
    );
    assert!(too_many.message().unwrap().contains("at most 3"));
    let bad_arn = client
        .create_token()
        .license_arn("not-an-arn")
        .client_token("y")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(bad_arn, CreateTokenError::ValidationException(_)),
        "{bad_arn:?}"
    );
}

#[tokio::test]
async fn create_token_errors_come_from_their_causes() {
    let emulator = emulator().await;

    // A read-only role's policy does not allow CreateToken.
    let read_only = role_credentials(&emulator, "111122223333", "ReadOnly").await;
    let err = license_manager(&emulator, REGION, Some(read_only))
        .await
        .create_token()
        .license_arn(DEFAULT_LICENSE_ARN)
        .client_token("a")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, CreateTokenError::AuthorizationException(_)),
        "{err:?}"
    );

    // The license is granted to the dev account, not to staging.
    let staging = role_credentials(&emulator, "222233334444", "Developer").await;
    let err = license_manager(&emulator, REGION, Some(staging))
        .await
        .create_token()
        .license_arn(DEFAULT_LICENSE_ARN)
        .client_token("b")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, CreateTokenError::AccessDeniedException(_)),
        "{err:?}"
    );

    let client = developer_client(&emulator).await;
    let err = client
        .create_token()
        .license_arn(
            "arn:aws:license-manager::111122223333:license:l-ffffffffffffffffffffffffffffffff",
        )
        .client_token("c")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, CreateTokenError::ResourceNotFoundException(_)),
        "{err:?}"
    );

    // Signed for another Region than the license's home Region.
    let credentials = role_credentials(&emulator, "111122223333", "Developer").await;
    let err = license_manager(&emulator, "eu-west-1", Some(credentials))
        .await
        .create_token()
        .license_arn(DEFAULT_LICENSE_ARN)
        .client_token("d")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match &err {
        CreateTokenError::RedirectException(redirect) => assert_eq!(
            redirect.location(),
            Some("https://license-manager.us-east-1.amazonaws.com")
        ),
        other => panic!("{other:?}"),
    }

    scenario(&emulator, json!({"license_tokens_per_license": 1})).await;
    let (token_id, _) = create_token(&client, "e").await;
    let err = client
        .create_token()
        .license_arn(DEFAULT_LICENSE_ARN)
        .client_token("f")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, CreateTokenError::ResourceLimitExceededException(_)),
        "{err:?}"
    );
    client
        .delete_token()
        .token_id(token_id)
        .send()
        .await
        .unwrap();
    create_token(&client, "f").await;

    scenario(&emulator, json!({"license_rate_limit": 1})).await;
    client.list_tokens().send().await.unwrap();
    let err = client
        .create_token()
        .license_arn(DEFAULT_LICENSE_ARN)
        .client_token("g")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, CreateTokenError::RateLimitExceededException(_)),
        "{err:?}"
    );

    scenario(
        &emulator,
        json!({"faults": [{"operation": "AWSLicenseManager.CreateToken", "status": 500}]}),
    )
    .await;
    let err = client
        .create_token()
        .license_arn(DEFAULT_LICENSE_ARN)
        .client_token("h")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, CreateTokenError::ServerInternalException(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn signed_operations_refuse_unsigned_and_unknown_callers() {
    let emulator = emulator().await;
    let unsigned = license_manager(&emulator, REGION, None).await;
    let err = unsigned.list_tokens().send().await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("MissingAuthenticationTokenException"),
        "{err:?}"
    );
    let stranger = Credentials::new(
        "ASIASTRANGER0000",
        "secret",
        Some("token".into()),
        None,
        "t",
    );
    let err = license_manager(&emulator, REGION, Some(stranger))
        .await
        .list_tokens()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"), "{err:?}");
}

#[tokio::test]
async fn get_access_token_checks_signature_expiry_deletion_and_properties() {
    let emulator = emulator().await;
    let client = developer_client(&emulator).await;
    let unsigned = license_manager(&emulator, REGION, None).await;
    let get = |token: &str, properties: &[&str]| {
        unsigned
            .get_access_token()
            .token(token)
            .set_token_properties(Some(properties.iter().map(|p| p.to_string()).collect()))
            .send()
    };
    let (token_id, refresh) = create_token(&client, "a").await;

    // Its own property passes; one it does not carry is refused.
    get(&refresh, &["seat=1"]).await.unwrap();
    let err = get(&refresh, &["seat=2"])
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, GetAccessTokenError::ValidationException(_)),
        "{err:?}"
    );

    let err = get("not-a-jwt", &[])
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, GetAccessTokenError::ValidationException(_)),
        "{err:?}"
    );

    // The same claims under another signature: denied.
    let mut parts: Vec<&str> = refresh.split('.').collect();
    let forged_signature = "A".repeat(43);
    parts[2] = &forged_signature;
    let err = get(&parts.join("."), &[])
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, GetAccessTokenError::AccessDeniedException(_)),
        "{err:?}"
    );
    assert!(err.message().unwrap().contains("signature"));

    // Deleted: denied, and DeleteToken again does not find it.
    client
        .delete_token()
        .token_id(&token_id)
        .send()
        .await
        .unwrap();
    let err = get(&refresh, &[]).await.unwrap_err().into_service_error();
    assert!(
        matches!(err, GetAccessTokenError::AccessDeniedException(_)),
        "{err:?}"
    );
    assert!(err.message().unwrap().contains("deleted"));
    let err = client
        .delete_token()
        .token_id(&token_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, DeleteTokenError::ResourceNotFoundException(_)),
        "{err:?}"
    );

    // Expired: a one-day token, a day and a second later.
    let short = client
        .create_token()
        .license_arn(DEFAULT_LICENSE_ARN)
        .role_arns(ROLE)
        .expiration_in_days(1)
        .client_token("b")
        .send()
        .await
        .unwrap();
    advance(&emulator, 24 * 3600 + 1).await;
    let err = get(short.token().unwrap(), &[])
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, GetAccessTokenError::AccessDeniedException(_)),
        "{err:?}"
    );
    assert!(err.message().unwrap().contains("expired"));

    scenario(
        &emulator,
        json!({"faults": [{"operation": "AWSLicenseManager.GetAccessToken", "status": 400, "error": "AuthorizationException"}]}),
    )
    .await;
    let err = get("x", &[]).await.unwrap_err().into_service_error();
    assert!(
        matches!(err, GetAccessTokenError::AuthorizationException(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn list_tokens_pages_filters_and_shows_deleted_tokens() {
    let emulator = emulator().await;
    let client = developer_client(&emulator).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(create_token(&client, &format!("t{n}")).await.0);
    }
    client
        .delete_token()
        .token_id(&ids[1])
        .send()
        .await
        .unwrap();
    let first = client.list_tokens().max_results(2).send().await.unwrap();
    assert_eq!(first.tokens().len(), 2);
    let rest = client
        .list_tokens()
        .max_results(2)
        .next_token(first.next_token().expect("a second page"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.tokens().len(), 1);
    assert!(rest.next_token().is_none());
    let all: Vec<_> = first.tokens().iter().chain(rest.tokens()).collect();
    let listed: Vec<&str> = all.iter().map(|t| t.token_id().unwrap()).collect();
    assert_eq!(listed, ids);
    assert_eq!(all[1].status(), Some("DELETED"));
    assert_eq!(all[0].status(), Some("AVAILABLE"));
    assert_eq!(all[0].license_arn(), Some(DEFAULT_LICENSE_ARN));
    assert_eq!(all[0].role_arns(), [ROLE]);
    assert!(all[0].expiration_time().unwrap().ends_with('Z'));

    let by_license = client
        .list_tokens()
        .filters(
            aws_sdk_licensemanager::types::Filter::builder()
                .name("LicenseArns")
                .values("arn:aws:license-manager::111122223333:license:l-other")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(by_license.tokens().is_empty());
    let by_id = client
        .list_tokens()
        .token_ids(&ids[2])
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.tokens().len(), 1);
}

#[tokio::test]
async fn assume_role_with_web_identity_errors_come_from_their_causes() {
    let fixture: Fixture = serde_json::from_value(json!({
        "accounts": [
            {"account_id": "111122223333", "account_name": "dev", "email_address": "d@x",
             "roles": ["Developer"]},
            {"account_id": "444455556666", "account_name": "closed", "email_address": "c@x",
             "roles": ["Developer"], "disabled_regions": ["us-east-1"]}
        ],
        "licenses": [{"license_arn": DEFAULT_LICENSE_ARN, "name": "Pro",
                      "beneficiary": "111122223333", "home_region": "us-east-1"}]
    }))
    .unwrap();
    let emulator = RunningEmulator::start("127.0.0.1:0".parse().unwrap(), fixture)
        .await
        .unwrap();
    let closed_role = "arn:aws:iam::444455556666:role/AWSLicenseManagerConsumptionRole";
    let client = developer_client(&emulator).await;
    let refresh = client
        .create_token()
        .license_arn(DEFAULT_LICENSE_ARN)
        .role_arns(ROLE)
        .role_arns(closed_role)
        .client_token("a")
        .send()
        .await
        .unwrap()
        .token()
        .unwrap()
        .to_string();
    let access = access_token(&emulator, &refresh).await;
    let sts = sts(&emulator).await;
    let error_of =
        |result: Result<_, aws_sdk_sts::error::SdkError<AssumeRoleWithWebIdentityError>>| {
            result
                .expect_err("AssumeRoleWithWebIdentity fails")
                .into_service_error()
        };

    // A refresh token is not an access token; nor is anything the emulator did not sign.
    let err = error_of(assume(&sts, ROLE, &refresh).send().await);
    assert!(
        matches!(
            err,
            AssumeRoleWithWebIdentityError::InvalidIdentityTokenException(_)
        ),
        "{err:?}"
    );
    let err = error_of(assume(&sts, ROLE, "eyJhbGciOiJub25lIn0.e30.").send().await);
    assert!(
        matches!(
            err,
            AssumeRoleWithWebIdentityError::InvalidIdentityTokenException(_)
        ),
        "{err:?}"
    );

    let err = error_of(assume(&sts, OTHER_ROLE, &access).send().await);
    assert!(
        matches!(
            err,
            AssumeRoleWithWebIdentityError::IdpRejectedClaimException(_)
        ),
        "{err:?}"
    );

    let err = error_of(assume(&sts, closed_role, &access).send().await);
    assert!(
        matches!(
            err,
            AssumeRoleWithWebIdentityError::RegionDisabledException(_)
        ),
        "{err:?}"
    );

    let err = error_of(assume(&sts, ROLE, &access).policy("not json").send().await);
    assert!(
        matches!(
            err,
            AssumeRoleWithWebIdentityError::MalformedPolicyDocumentException(_)
        ),
        "{err:?}"
    );

    let mut packed =
        assume(&sts, ROLE, &access).policy(r#"{"Version":"2012-10-17","Statement":[]}"#);
    for n in 0..10 {
        let arn = format!("arn:aws:iam::111122223333:policy/{}{n}", "p".repeat(240));
        packed = packed.policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn(arn)
                .build(),
        );
    }
    let err = error_of(packed.send().await);
    assert!(
        matches!(
            err,
            AssumeRoleWithWebIdentityError::PackedPolicyTooLargeException(_)
        ),
        "{err:?}"
    );

    scenario(
        &emulator,
        json!({"faults": [{"operation": "AssumeRoleWithWebIdentity", "status": 400}]}),
    )
    .await;
    let err = error_of(assume(&sts, ROLE, &access).send().await);
    assert!(
        matches!(
            err,
            AssumeRoleWithWebIdentityError::IdpCommunicationErrorException(_)
        ),
        "{err:?}"
    );

    assume(&sts, ROLE, &access)
        .send()
        .await
        .expect("the same token, for its role, works");
    advance(&emulator, 3601).await;
    let err = error_of(assume(&sts, ROLE, &access).send().await);
    assert!(
        matches!(
            err,
            AssumeRoleWithWebIdentityError::ExpiredTokenException(_)
        ),
        "{err:?}"
    );

    let log = calls(&emulator).await;
    assert_eq!(
        count(&log, "AssumeRoleWithWebIdentity", None),
        9,
        "every call logged: {log:?}"
    );
    assert!(log.iter().any(|call| call["outcome"] == "IDPRejectedClaim"));
}
