//! `sso-agent emulator` as a real process: its first stdout line, loopback-only listening,
//! fixtures, and the real SDK talking to it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sso-agent");

/// Kills the process when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the emulator and returns it with the URL from its first stdout line.
fn start(args: &[&str]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .arg("emulator")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line was {line:?}"))
        .to_string();
    (Running(child), url)
}

async fn portal_accounts(url: &str) -> Vec<String> {
    let sdk = sso_agent::aws_sdk::sdk_config("eu-west-1").await;
    let oidc = aws_sdk_ssooidc::Client::from_conf(
        aws_sdk_ssooidc::config::Builder::from(&sdk)
            .endpoint_url(url)
            .build(),
    );
    let client = oidc
        .register_client()
        .client_name("cli-test")
        .client_type("public")
        .scopes("sso:account:access")
        .send()
        .await
        .unwrap();
    let (id, secret) = (client.client_id().unwrap(), client.client_secret().unwrap());
    let device = oidc
        .start_device_authorization()
        .client_id(id)
        .client_secret(secret)
        .start_url("https://example.awsapps.com/start")
        .send()
        .await
        .unwrap();
    let approved = reqwest::Client::new()
        .post(format!("{url}/_emulator/approve"))
        .json(&serde_json::json!({"user_code": device.user_code().unwrap()}))
        .send()
        .await
        .unwrap();
    assert!(approved.status().is_success());
    let token = oidc
        .create_token()
        .client_id(id)
        .client_secret(secret)
        .grant_type("urn:ietf:params:oauth:grant-type:device_code")
        .device_code(device.device_code().unwrap())
        .send()
        .await
        .unwrap();
    let portal = aws_sdk_sso::Client::from_conf(
        aws_sdk_sso::config::Builder::from(&sdk)
            .endpoint_url(url)
            .build(),
    );
    portal
        .list_accounts()
        .access_token(token.access_token().unwrap())
        .send()
        .await
        .unwrap()
        .account_list()
        .iter()
        .map(|account| account.account_name().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn first_line_names_a_loopback_url_the_sdk_can_use() {
    let (_emulator, url) = start(&[]);
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("not a loopback URL: {url}"));
    assert_ne!(port, 0);
    assert_eq!(portal_accounts(&url).await, ["dev", "staging", "prod"]);
}

#[tokio::test]
async fn a_fixture_file_sets_the_accounts() {
    let dir = std::env::temp_dir().join(format!("sso-agent-fixture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = dir.join("fixture.json");
    std::fs::write(
        &fixture,
        r#"{"accounts": [{"account_id": "123456789012", "account_name": "sandbox",
                          "email_address": "s@example.com", "roles": ["Admin"]}]}"#,
    )
    .unwrap();
    let (_emulator, url) = start(&["--fixture", fixture.to_str().unwrap()]);
    assert_eq!(portal_accounts(&url).await, ["sandbox"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_non_loopback_address_or_a_bad_fixture_is_a_clear_error() {
    let output = Command::new(BIN)
        .args(["emulator", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(output.stdout.is_empty());

    let output = Command::new(BIN)
        .args(["emulator", "--fixture", "/nonexistent/fixture.json"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/fixture.json") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

/// A web page can post a form or text/plain to a loopback port without a CORS preflight; the
/// control API takes JSON only, so such a request changes nothing.
#[tokio::test]
async fn the_control_api_takes_json_only() {
    let (_emulator, url) = start(&[]);
    let http = reqwest::Client::new();
    let scenario = format!("{url}/_emulator/scenario");
    let before = http
        .get(&scenario)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (method, path, content_type, body) in [
        (
            "PUT",
            "/_emulator/scenario",
            "text/plain",
            r#"{"auto_approve_after_polls": 1}"#,
        ),
        (
            "POST",
            "/_emulator/advance",
            "application/x-www-form-urlencoded",
            "seconds=700",
        ),
        (
            "POST",
            "/_emulator/approve",
            "text/plain",
            r#"{"user_code": "ABCD-EFGH"}"#,
        ),
        (
            "POST",
            "/_emulator/deny",
            "",
            r#"{"user_code": "ABCD-EFGH"}"#,
        ),
    ] {
        let mut request = http
            .request(method.parse().unwrap(), format!("{url}{path}"))
            .body(body);
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 415, "{method} {path} as {content_type:?}");
        let text = answer.text().await.unwrap();
        assert!(text.contains("content-type: application/json"), "{text}");
    }
    let after = http
        .get(&scenario)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(before, after, "the scenario is unchanged");
    // The same request as JSON is taken.
    let taken = http
        .put(&scenario)
        .json(&serde_json::json!({"auto_approve_after_polls": 1}))
        .send()
        .await
        .unwrap();
    assert!(taken.status().is_success(), "{}", taken.status());
    let now = http
        .get(&scenario)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(now, before);
}
