//! The container-credentials endpoint, with real clients: boto3 and aws-sdk-rust's default
//! chain (its ECS provider) resolve the emulator-issued key through `ecs-env` and under
//! `exec --ecs`; wrong, missing, ended and other-profile tokens get no credentials.

mod common;

use common::home::{approving_world, credentials, status, stdout_of, AgentHome, BIN};
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;

/// The variables `ecs-env` prints, read back by a real sh.
fn grant(world: &AgentHome, profile: &str, extra: &[&str]) -> HashMap<String, String> {
    let mut args = vec!["ecs-env", "--profile", profile];
    args.extend_from_slice(extra);
    let lines = stdout_of(&world.run(&args));
    assert!(lines.contains("# this grant ends at"), "{lines}");
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{lines}\nprintf '%s\\n%s' \"$AWS_CONTAINER_CREDENTIALS_FULL_URI\" \"$AWS_CONTAINER_AUTHORIZATION_TOKEN\""))
        .output()
        .unwrap();
    let printed = stdout_of(&output);
    let (url, token) = printed.split_once('\n').unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(token.len(), 64);
    HashMap::from([
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI".to_string(),
            url.to_string(),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN".to_string(),
            token.to_string(),
        ),
    ])
}

/// boto3's view of the credentials with only `env` to go on: (method, access key).
fn boto3_resolves(world: &AgentHome, env: &HashMap<String, String>) -> String {
    let script =
        "import boto3; c = boto3.Session().get_credentials(); print(c.method, c.access_key)";
    let output = world
        .program("/usr/bin/python3")
        .args(["-c", script])
        .envs(env)
        .env_remove("AWS_CONFIG_FILE")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    stdout_of(&output).trim().to_string()
}

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_the_rust_sdk_resolve_the_issued_key_from_ecs_env() {
    let (emulator, world) = approving_world("ecs-env").await;
    let expected = credentials(&world, "dev");
    let key = expected["AccessKeyId"].as_str().unwrap();
    let env = grant(&world, "dev", &[]);
    assert_eq!(
        boto3_resolves(&world, &env),
        format!("container-role {key}")
    );

    // aws-sdk-rust's default chain, in a process of its own with only these variables.
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "rust_sdk_child_prints_its_credentials",
            "--nocapture",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", &world.home)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(&env)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains(&format!("resolved {key} for account 111122223333")),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The body is the container-credentials format, with AccountId.
    let (status_code, body) = get(
        &env["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        Some(&env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]),
    )
    .await;
    assert_eq!(status_code, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["AccessKeyId"], key);
    assert_eq!(body["SecretAccessKey"], expected["SecretAccessKey"]);
    assert_eq!(body["Token"], expected["SessionToken"]);
    assert_eq!(body["Expiration"], expected["Expiration"]);
    assert_eq!(body["AccountId"], "111122223333");
    assert!(emulator
        .state
        .issued_secrets()
        .contains(&body["SecretAccessKey"].as_str().unwrap().to_string()));

    // All of it from the cache: one GetRoleCredentials for the role, however many requests.
    let calls = calls(&emulator).await;
    assert_eq!(count(&calls, "GetRoleCredentials", None), 1);
    let shown = status(&world);
    let grants = shown["container_grants"].as_array().unwrap();
    assert_eq!(grants.len(), 1, "{shown}");
    assert_eq!(grants[0]["profile"], "dev");
    assert!(grants[0]["ends_at"].is_string() && grants[0]["pid"].is_null());
    assert!(shown["container_endpoint"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    // The grant's token is in no log.
    assert!(!world
        .logs()
        .contains(&env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]));
}

/// Run by the test above with the container variables set: the SDK's default chain.
#[tokio::test]
#[ignore = "run by boto3_and_the_rust_sdk_resolve_the_issued_key_from_ecs_env"]
async fn rust_sdk_child_prints_its_credentials() {
    use aws_credential_types::provider::ProvideCredentials;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let credentials = config
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    println!(
        "resolved {} for account {}",
        credentials.access_key_id(),
        credentials
            .account_id()
            .map(|id| id.as_str())
            .unwrap_or("none")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_wrong_and_other_profile_tokens_get_no_credentials() {
    let (_emulator, world) = approving_world("ecs-refuse").await;
    let dev = grant(&world, "dev", &["--ttl", "1h"]);
    let url = &dev["AWS_CONTAINER_CREDENTIALS_FULL_URI"];
    let token = &dev["AWS_CONTAINER_AUTHORIZATION_TOKEN"];
    let secret = credentials(&world, "dev")["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_string();

    let (code, body) = get(url, None).await;
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN"), "{body}");
    let mut wrong = token.clone();
    wrong.replace_range(0..1, if wrong.starts_with('0') { "1" } else { "0" });
    let (code, body) = get(url, Some(&wrong)).await;
    assert_eq!(code, 403, "{body}");
    let (code, _) = get(url, Some("")).await;
    assert_eq!(code, 403);
    // dev's token on staging's path.
    let staging_url = url.replace("/profile/dev", "/profile/staging");
    let (code, body) = get(&staging_url, Some(token)).await;
    assert_eq!(code, 403, "{body}");
    // Not GET, and not a profile path.
    let response = reqwest::Client::new()
        .post(url)
        .header("Authorization", token.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let root = url.split("/profile/").next().unwrap();
    let (code, _) = get(&format!("{root}/"), Some(token)).await;
    assert_eq!(code, 404);
    for body in [
        get(url, None).await.1,
        get(&staging_url, Some(token)).await.1,
    ] {
        assert!(!body.contains(&secret));
    }
    // The right token still works after all that.
    assert_eq!(get(url, Some(token)).await.0, 200);

    // A grant for a profile the config does not have is refused before any token is made.
    let output = world.run(&["ecs-env", "--profile", "no-such-profile"]);
    assert!(!output.status.success());
    let output = world.run(&["ecs-env", "--profile", "dev", "--ttl", "9d"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at most 7d"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_ecs_gives_no_keys_serves_while_the_command_runs_and_ends_with_it() {
    let (_emulator, world) = approving_world("exec-ecs").await;
    let key = credentials(&world, "dev")["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    // The command: boto3 resolves through the endpoint; it prints what it was given.
    // And the agent's status, asked from inside: the grant is this very process's.
    let script = format!(
        "import boto3, os, json, subprocess\n\
        c = boto3.Session().get_credentials()\n\
        print(c.method, c.access_key)\n\
        print('keys' if 'AWS_ACCESS_KEY_ID' in os.environ else 'no-keys')\n\
        print(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'])\n\
        print(os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN'])\n\
        grants = json.loads(subprocess.run(['{BIN}', 'status', '--json'], capture_output=True).stdout)['container_grants']\n\
        print([(g['profile'], g['pid'] == os.getpid(), g['ends_at']) for g in grants])\n"
    );
    let output = world
        .command(&[
            "exec",
            "--profile",
            "dev",
            "--ecs",
            "--",
            "/usr/bin/python3",
            "-c",
            &script,
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIAOLDKEY")
        .env("AWS_SECRET_ACCESS_KEY", "old")
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let printed = stdout_of(&output);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[0], format!("container-role {key}"));
    assert_eq!(lines[1], "no-keys");
    assert_eq!(lines[4], "[('dev', True, None)]", "{printed}");
    // The command has exited: its grant is over.
    let (code, body) = get(lines[2], Some(lines[3])).await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(status(&world)["container_grants"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_end_on_revoke_and_logout_and_web_pages_are_refused() {
    let (_emulator, world) = approving_world("ecs-revoke").await;
    let dev = grant(&world, "dev", &["--ttl", "1h"]);
    let url = dev["AWS_CONTAINER_CREDENTIALS_FULL_URI"].clone();
    let token = dev["AWS_CONTAINER_AUTHORIZATION_TOKEN"].clone();
    assert_eq!(get(&url, Some(&token)).await.0, 200);

    // What only a web page sends: another Host (DNS rebinding), an Origin.
    let client = reqwest::Client::new();
    let asked = |headers: &[(&str, &str)]| {
        let mut request = client.get(&url).header("Authorization", token.as_str());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let port = url::Url::parse(&url).unwrap().port().unwrap();
    let rebound = format!("attacker.example:{port}");
    assert_eq!(asked(&[("Host", &rebound)]).await.unwrap().status(), 421);
    let origin = asked(&[("Origin", "https://attacker.example")])
        .await
        .unwrap();
    assert_eq!(origin.status(), 403);
    let localhost = format!("localhost:{port}");
    assert_eq!(asked(&[("Host", &localhost)]).await.unwrap().status(), 200);
    // A client that leaves the port out of Host (as for a default port) is still this endpoint.
    assert_eq!(asked(&[("Host", "127.0.0.1")]).await.unwrap().status(), 200);

    // status names the grant, never its token.
    let shown = stdout_of(&world.run(&["status"]));
    assert!(shown.contains("grant for profile dev: until "), "{shown}");
    assert!(!shown.contains(&token), "{shown}");

    // A mistyped profile ends nothing and says which was meant.
    let typo = world.run(&["ecs-env", "--profile", "devv", "--revoke"]);
    assert!(!typo.status.success());
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("did you mean [profile dev]?"),
        "{typo:?}"
    );
    assert_eq!(get(&url, Some(&token)).await.0, 200);

    // --revoke ends it; a later one lives until the session is logged out of.
    let revoked = stdout_of(&world.run(&["ecs-env", "--profile", "dev", "--revoke"]));
    assert!(
        revoked.contains("Ended 1 ecs-env grant(s) for profile dev"),
        "{revoked}"
    );
    assert_eq!(get(&url, Some(&token)).await.0, 403);
    let again = grant(&world, "dev", &[]);
    let (url, token) = (
        &again["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        &again["AWS_CONTAINER_AUTHORIZATION_TOKEN"],
    );
    assert_eq!(get(url, Some(token)).await.0, 200);
    assert!(world.run(&["logout", "--profile", "dev"]).status.success());
    let (code, body) = get(url, Some(token)).await;
    assert_eq!(code, 403, "{body}");
    // ... and asking with it started no login for the session just left.
    let after = status(&world);
    assert_eq!(after["container_grants"], serde_json::json!([]));
    assert!(
        after["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|session| session["pending_login"].is_null()),
        "{after}"
    );

    // A grant live when the agent stops is named, so its users can be restarted.
    grant(&world, "dev", &["--ttl", "1h"]);
    let stopped = world.run(&["stop"]);
    let warning = String::from_utf8_lossy(&stopped.stderr);
    assert!(
        warning.contains("1 container-credentials grant(s) ended with it (profile dev)"),
        "{warning}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_profile_that_would_win_over_the_endpoint_is_warned_about() {
    let (_emulator, world) = approving_world("ecs-default").await;
    let warned = |args: &[&str]| {
        let output = world.run(args);
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stderr)
            .contains("the SDKs take the default profile before the container endpoint")
    };
    let exec_ecs = ["exec", "--profile", "dev", "--ecs", "--", "true"];
    assert!(!warned(&["ecs-env", "--profile", "dev"]));
    assert!(!warned(&exec_ecs));
    // Keys for [default] in the credentials file: boto3 would take them first.
    let credentials = world.home.join(".aws/credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = x\n",
    )
    .unwrap();
    assert!(warned(&["ecs-env", "--profile", "dev"]));
    assert!(warned(&exec_ecs));
    // Keys given to the command itself are not the endpoint's business.
    assert!(!warned(&["exec", "--profile", "dev", "--", "true"]));
    std::fs::remove_file(&credentials).unwrap();
    // A [default] in the config with a credential source of its own.
    let config = world.home.join(".aws/config");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[default]\ncredential_process = /bin/false\n"),
    )
    .unwrap();
    assert!(warned(&exec_ecs));
}

#[test]
fn an_endpoint_off_loopback_is_refused_at_start() {
    let output = Command::new(BIN)
        .arg("daemon")
        .env("SSO_AGENT_ECS_LISTEN", "0.0.0.0:9911")
        .env(
            "SSO_AGENT_SOCKET",
            std::env::temp_dir().join("sso-agent-never/agent.sock"),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("127.0.0.1 only"), "{stderr}");
}
