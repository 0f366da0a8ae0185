//! The PKCE authorization-code flow through the real SDK, with a real HTTP redirect from the
//! emulator's authorize endpoint to a loopback listener, as the AWS CLI does it.

mod common;

use aws_sdk_ssooidc::operation::create_token::CreateTokenError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const VERIFIER: &str = "sso-agent-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz.~_AB";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Accepts one request on a loopback port, answers 200, and hands back its query parameters.
async fn redirect_listener() -> (String, tokio::task::JoinHandle<HashMap<String, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_uri = format!(
        "http://127.0.0.1:{}/oauth/callback",
        listener.local_addr().unwrap().port()
    );
    let received = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the request head");
            head.extend_from_slice(&buf[..n]);
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndone")
            .await
            .unwrap();
        let head = String::from_utf8(head).unwrap();
        let target = head.split_whitespace().nth(1).unwrap().to_string();
        let url = url::Url::parse(&format!("http://127.0.0.1{target}")).unwrap();
        assert_eq!(url.path(), "/oauth/callback");
        url.query_pairs().into_owned().collect()
    });
    (redirect_uri, received)
}

async fn register_pkce(oidc: &aws_sdk_ssooidc::Client) -> Registration {
    let answer = oidc
        .register_client()
        .client_name("sso-agent-pkce")
        .client_type("public")
        .scopes("sso:account:access")
        .grant_types("authorization_code")
        .grant_types("refresh_token")
        .redirect_uris("http://127.0.0.1/oauth/callback")
        .issuer_url(START_URL)
        .send()
        .await
        .unwrap();
    Registration {
        client_id: answer.client_id().unwrap().into(),
        client_secret: answer.client_secret().unwrap().into(),
    }
}

fn authorize_url(base: &str, client_id: &str, redirect_uri: &str, state: &str) -> String {
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("code_challenge_method", "S256")
        .append_pair("scopes", "sso:account:access")
        .append_pair("code_challenge", &challenge(VERIFIER));
    url.into()
}

#[tokio::test]
async fn pkce_flow_redirects_to_the_loopback_listener_and_the_code_buys_a_token() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let oidc = oidc(&emulator).await;
    let client = register_pkce(&oidc).await;
    let (redirect_uri, received) = redirect_listener().await;

    let url = authorize_url(
        &emulator.base_url,
        &client.client_id,
        &redirect_uri,
        "state-42",
    );
    let landed = reqwest::get(url).await.expect("the redirect is followed");
    assert_eq!(landed.text().await.unwrap(), "done");
    let query = received.await.unwrap();
    assert_eq!(query["state"], "state-42");
    let code = query["code"].clone();

    let exchange = |verifier: &str| {
        oidc.create_token()
            .client_id(&client.client_id)
            .client_secret(&client.client_secret)
            .grant_type("authorization_code")
            .code(&code)
            .code_verifier(verifier)
            .redirect_uri(&redirect_uri)
            .send()
    };
    let token = exchange(VERIFIER)
        .await
        .expect("the code and verifier buy a token");
    assert!(token.access_token().is_some());
    assert!(token.refresh_token().is_some());

    // A code is good once.
    let err = exchange(VERIFIER).await.unwrap_err().into_service_error();
    assert!(
        matches!(err, CreateTokenError::InvalidGrantException(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wrong_verifier_is_invalid_grant() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let oidc = oidc(&emulator).await;
    let client = register_pkce(&oidc).await;
    let (redirect_uri, received) = redirect_listener().await;
    let url = authorize_url(&emulator.base_url, &client.client_id, &redirect_uri, "s");
    reqwest::get(url).await.unwrap();
    let code = received.await.unwrap()["code"].clone();
    let err = oidc
        .create_token()
        .client_id(&client.client_id)
        .client_secret(&client.client_secret)
        .grant_type("authorization_code")
        .code(&code)
        .code_verifier("a-different-verifier-of-enough-length-0123456789-abcdefghijklmn")
        .redirect_uri(&redirect_uri)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(&err, CreateTokenError::InvalidGrantException(e)
            if e.error_description().unwrap_or_default().contains("verifier")),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_authorize_requests_are_refused_without_or_with_a_redirect() {
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let client = register_pkce(&oidc).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Unknown client or unregistered redirect URI: an error page, never a redirect.
    for url in [
        authorize_url(
            &emulator.base_url,
            "no-such-client",
            "http://127.0.0.1:1/oauth/callback",
            "s",
        ),
        authorize_url(
            &emulator.base_url,
            &client.client_id,
            "http://127.0.0.1:1/elsewhere",
            "s",
        ),
    ] {
        let response = no_redirects.get(url).send().await.unwrap();
        assert_eq!(response.status(), 400);
    }

    // A known client with a bad request: redirected back with the OAuth error and the state.
    let url = authorize_url(
        &emulator.base_url,
        &client.client_id,
        "http://127.0.0.1:9/oauth/callback",
        "st",
    )
    .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let response = no_redirects.get(url).send().await.unwrap();
    assert!(response.status().is_redirection());
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let query: HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["error"], "invalid_request");
    assert_eq!(query["state"], "st");
    assert_eq!(location.port(), Some(9));
}
