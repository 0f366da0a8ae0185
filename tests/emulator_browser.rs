//! The pages a person sees, in a real browser: headless Chromium driven over WebDriver
//! (chromium-driver) clicks Approve / Deny, and the SDK's next call sees the outcome.
//! `scripts/test` installs chromium and chromium-driver.

mod common;

use aws_sdk_ssooidc::operation::create_token::CreateTokenError;
use common::browser::HeadlessChromium;
use common::*;
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test]
async fn approving_on_the_verification_page_lets_the_next_poll_get_the_token() {
    let Some(chromium) = HeadlessChromium::start().await else {
        return;
    };
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let client = register(&oidc).await;
    let login = start_device(&oidc, &client).await;

    chromium
        .browser()
        .goto(&login.verification_uri_complete)
        .await
        .unwrap();
    assert_eq!(chromium.text_of("user-code").await, login.user_code);
    assert_eq!(chromium.text_of("client").await, "sso-agent-test");
    let screenshot = chromium.browser().screenshot().await.unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("verification-page.png");
    std::fs::write(&path, &screenshot).unwrap();
    assert!(screenshot.starts_with(b"\x89PNG"));

    chromium.click("approve").await;
    assert!(chromium
        .text_of("result")
        .await
        .contains("close this window"));
    chromium.stop().await;

    let token = device_poll(&oidc, &client, &login)
        .send()
        .await
        .expect("approved in the browser");
    assert!(token.access_token().is_some());
}

#[tokio::test]
async fn denying_on_the_verification_page_is_access_denied() {
    let Some(chromium) = HeadlessChromium::start().await else {
        return;
    };
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let client = register(&oidc).await;
    let login = start_device(&oidc, &client).await;

    // Through the code-entry form, as a person who typed the code would.
    chromium
        .browser()
        .goto(&format!("{}/device", emulator.base_url))
        .await
        .unwrap();
    chromium
        .element("user_code")
        .await
        .send_keys(&login.user_code)
        .await
        .unwrap();
    chromium.click("next").await;
    chromium.click("deny").await;
    assert!(chromium
        .text_of("result")
        .await
        .contains("will not get access"));
    chromium.stop().await;

    let err = device_poll(&oidc, &client, &login)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, CreateTokenError::AccessDeniedException(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn approving_the_pkce_authorize_page_redirects_with_code_and_state() {
    let Some(chromium) = HeadlessChromium::start().await else {
        return;
    };
    let emulator = emulator().await;
    let oidc = oidc(&emulator).await;
    let registered = oidc
        .register_client()
        .client_name("sso-agent-pkce")
        .client_type("public")
        .scopes("sso:account:access")
        .grant_types("authorization_code")
        .redirect_uris("http://127.0.0.1/oauth/callback")
        .send()
        .await
        .unwrap();
    let callback = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_uri = format!(
        "http://127.0.0.1:{}/oauth/callback",
        callback.local_addr().unwrap().port()
    );
    let mut url = url::Url::parse(&format!("{}/authorize", emulator.base_url)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", registered.client_id().unwrap())
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("state", "browser-state")
        .append_pair("code_challenge_method", "S256")
        .append_pair("scopes", "sso:account:access")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        );

    chromium.browser().goto(url.as_str()).await.unwrap();
    // The browser lands on the callback; serve it so the navigation completes.
    let served = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = callback.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = socket.read(&mut buf).await.unwrap();
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .await
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    });
    chromium.click("approve").await;
    let request = tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("the browser followed the redirect")
        .unwrap();
    let target = request.split_whitespace().nth(1).unwrap();
    let landed = url::Url::parse(&format!("http://127.0.0.1{target}")).unwrap();
    let query: HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!(landed.path(), "/oauth/callback");
    assert_eq!(query["state"], "browser-state");
    chromium.stop().await;

    let token = oidc
        .create_token()
        .client_id(registered.client_id().unwrap())
        .client_secret(registered.client_secret().unwrap())
        .grant_type("authorization_code")
        .code(&query["code"])
        .code_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        .redirect_uri(&redirect_uri)
        .send()
        .await
        .expect("the code from the browser buys a token");
    assert!(token.access_token().is_some());
}
