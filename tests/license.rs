//! A License Manager profile end to end, with the real parts: `license create-token` signed by
//! an sso-agent SSO profile, the real agent over its socket, `credential-process` and boto3,
//! against the emulator's License Manager and STS. Run in `scripts/with-keyring`.

mod common;

use common::home::*;
use common::*;
use serde_json::{json, Value};
use sso_agent::emulator::fixture::DEFAULT_LICENSE_ARN;
use sso_agent::emulator::RunningEmulator;
use std::io::Write;
use std::process::{Command, Stdio};

const ROLE: &str = "arn:aws:iam::111122223333:role/AWSLicenseManagerConsumptionRole";

/// Adds the License Manager profile `licensed` and `licensed-cli`, whose credential_process is
/// sso-agent's helper for it. The keyring item is per profile name and the tests share one
/// keyring, so each test's profile has a name of its own.
fn add_license_profiles(world: &AgentHome, licensed: &str) {
    let config = world.home.join(".aws/config");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&config)
        .unwrap();
    write!(
        file,
        "\n[profile {licensed}]\nsso_agent_license_role_arn = {ROLE}\n\
         sso_agent_license_token_properties = seat=1\nregion = us-east-1\n\n\
         [profile licensed-cli]\ncredential_process = {BIN} credential-process --profile {licensed}\n"
    )
    .unwrap();
}

fn create_token(world: &AgentHome, licensed: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "license",
        "create-token",
        "--profile",
        licensed,
        "--license-arn",
        DEFAULT_LICENSE_ARN,
        "--role-arn",
        ROLE,
        "--token-property",
        "seat=1",
        "--source-profile",
        "dev",
    ];
    args.extend_from_slice(extra);
    stdout_of(&world.run(&args))
}

fn licensed_status(world: &AgentHome, licensed: &str) -> Value {
    let status = status(world);
    status["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["profile"] == licensed)
        .cloned()
        .unwrap_or_else(|| panic!("no {licensed} line in {status}"))
}

fn failing_credentials(world: &AgentHome, profile: &str) -> String {
    let output = world.run(&["credential-process", "--profile", profile]);
    assert!(!output.status.success(), "credential-process should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The refresh token as the keyring holds it (the test reads it to import it again).
fn keyring_token(profile: &str) -> String {
    let output = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "sso-agent-license",
            "username",
            profile,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "the profile has a keyring item");
    let record: Value = serde_json::from_slice(&output.stdout).unwrap();
    record["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_token_then_32_cold_callers_make_one_get_access_token_and_one_assume_role() {
    let (emulator, mut world) = approving_world("license").await;
    let licensed = "licensed-cold";
    add_license_profiles(&world, licensed);

    let printed = create_token(&world, licensed, &[]);
    assert!(
        printed.contains("Stored License Manager token"),
        "{printed}"
    );
    assert!(printed.contains(DEFAULT_LICENSE_ARN), "{printed}");
    let log = calls(&emulator).await;
    assert_eq!(count(&log, "AWSLicenseManager.CreateToken", None), 1);
    assert!(
        !printed.contains(&keyring_token(licensed)),
        "never the token"
    );

    // 32 cold callers at once: one GetAccessToken, one AssumeRoleWithWebIdentity.
    let callers: Vec<_> = (0..32)
        .map(|_| {
            world
                .command(&["credential-process", "--profile", licensed])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let answers: Vec<Value> = callers
        .into_iter()
        .map(|caller| {
            serde_json::from_str(&stdout_of(&caller.wait_with_output().unwrap())).unwrap()
        })
        .collect();
    let key = answers[0]["AccessKeyId"].as_str().unwrap().to_string();
    assert!(answers
        .iter()
        .all(|answer| answer["AccessKeyId"] == key.as_str()));
    let log = calls(&emulator).await;
    assert_eq!(
        count(&log, "AWSLicenseManager.GetAccessToken", None),
        1,
        "{log:?}"
    );
    assert_eq!(count(&log, "AssumeRoleWithWebIdentity", None), 1, "{log:?}");
    // The key is the one the emulator's STS issued.
    let secret = answers[0]["SecretAccessKey"].as_str().unwrap();
    assert!(emulator.state.issued_secrets().iter().any(|s| s == secret));
    assert!(answers[0]["SessionToken"]
        .as_str()
        .unwrap()
        .starts_with("emu-sts-"));

    // boto3 through the helper profile resolves the same key.
    let output = world
        .program("/usr/bin/python3")
        .args([
            "-c",
            "import boto3; c = boto3.Session(profile_name='licensed-cli').get_credentials(); print(c.method, c.access_key)",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&output).trim(), format!("custom-process {key}"));

    // Every other way out serves the same cached credentials: export, and the endpoint's grant.
    let exported: Value = serde_json::from_str(&stdout_of(&world.run(&[
        "export",
        "--profile",
        licensed,
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(exported["AccessKeyId"], key.as_str());
    let env = stdout_of(&world.run(&["ecs-env", "--profile", licensed, "--ttl", "5m"]));
    assert!(env.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"), "{env}");
    let log = calls(&emulator).await;
    assert_eq!(count(&log, "AssumeRoleWithWebIdentity", None), 1, "{log:?}");

    // status: the token's id and expiry, the credentials' expiry, no problem.
    let line = licensed_status(&world, licensed);
    assert_eq!(line["token"]["license_arn"], DEFAULT_LICENSE_ARN);
    assert!(line["token"]["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(line["credentials_expiration"].is_string(), "{line}");
    assert!(line["problem"].is_null(), "{line}");
    let text = stdout_of(&world.run(&["status"]));
    assert!(
        text.contains(&format!(
            "license profile {licensed} ({ROLE}, us-east-1): token "
        )),
        "{text}"
    );
    assert!(text.contains("; credentials until "), "{text}");

    // A restart serves the profile from the keyring, with no new import.
    let pid = status(&world)["pid"].as_u64().unwrap() as u32;
    stdout_of(&world.run(&["stop"]));
    world.wait_agent(pid);
    // Logging everything it may: the search below finds no token or key in any of it.
    world.start_agent_with(|agent| {
        agent.env("SSO_AGENT_LOG", "trace");
    });
    let again = credentials(&world, licensed);
    assert!(again["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    let log = calls(&emulator).await;
    assert_eq!(count(&log, "AWSLicenseManager.CreateToken", None), 1);
    assert_eq!(count(&log, "AWSLicenseManager.GetAccessToken", None), 2);
    // The refresh token, both access tokens and the STS keys are among the issued secrets.
    assert!(emulator
        .state
        .issued_secrets()
        .contains(&keyring_token(licensed)));
    assert!(
        !world.logs().is_empty(),
        "the agents' logs are searched, not empty"
    );
    world.assert_no_secret_in_files();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_expired_token_fails_with_the_command_that_fixes_it() {
    let (emulator, world) = approving_world("license-gone").await;
    let licensed = "licensed-gone";
    add_license_profiles(&world, licensed);

    // No token yet.
    let message = failing_credentials(&world, licensed);
    assert!(
        message.contains(&format!("sso-agent license import --profile {licensed}")),
        "{message}"
    );
    assert!(licensed_status(&world, licensed)["problem"]
        .as_str()
        .unwrap()
        .contains("license import"));

    // Deleted upstream while the keyring still has it.
    create_token(&world, licensed, &[]);
    let token = keyring_token(licensed);
    let deleted =
        stdout_of(&world.run(&["license", "delete", "--profile", licensed, "--upstream"]));
    assert!(
        deleted.contains("Deleted License Manager token"),
        "{deleted}"
    );
    assert!(failing_credentials(&world, licensed).contains("no License Manager token"));
    let imported = stdout_of(&import_token(&world, licensed, &token));
    assert!(
        imported.contains("Stored License Manager token"),
        "{imported}"
    );
    assert!(!imported.contains(&token));
    let message = failing_credentials(&world, licensed);
    assert!(message.contains("deleted"), "{message}");
    assert!(
        message.contains(&format!(
            "sso-agent license create-token --profile {licensed}"
        )),
        "{message}"
    );
    let problem = licensed_status(&world, licensed)["problem"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(problem.contains("license create-token"), "{problem}");
    assert!(!problem.contains(&token));

    // Expired: a one-day token, two days later on the emulator's clock.
    create_token(&world, licensed, &["--expiration-days", "1"]);
    advance(&emulator, 2 * 24 * 3600).await;
    let message = failing_credentials(&world, licensed);
    assert!(message.contains("expired"), "{message}");
    assert!(
        message.contains(&format!("sso-agent license import --profile {licensed}")),
        "{message}"
    );

    // A profile with both kinds of source is refused, naming file, section and keys.
    let config = world.home.join(".aws/config");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&config)
        .unwrap();
    write!(
        file,
        "\n[profile both]\nsso_session = {}\nsso_account_id = 111122223333\nsso_role_name = Developer\nsso_agent_license_role_arn = {ROLE}\nregion = us-east-1\n",
        world.session
    )
    .unwrap();
    let message = failing_credentials(&world, "both");
    for part in [
        "[profile both]",
        "sso_session",
        "sso_agent_license_role_arn",
        ".aws/config",
    ] {
        assert!(message.contains(part), "{part} in {message}");
    }
    let bad = world.run(&[
        "license",
        "import",
        "--profile",
        licensed,
        "--file",
        "/dev/null",
    ]);
    assert!(!bad.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_retried_and_sts_refusals_say_what_to_change() {
    let (emulator, world) = approving_world("license-limits").await;
    let licensed = "licensed-limits";
    add_license_profiles(&world, licensed);
    create_token(&world, licensed, &[]);

    // Two RateLimitExceeded answers: the agent waits and asks again, the caller gets credentials.
    scenario(
        &emulator,
        serde_json::json!({"faults": [{"operation": "AWSLicenseManager.GetAccessToken",
            "count": 2, "status": 400, "error": "RateLimitExceededException"}]}),
    )
    .await;
    let answer = credentials(&world, licensed);
    assert!(answer["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    let log = calls(&emulator).await;
    let outcomes: Vec<&str> = log
        .iter()
        .filter(|call| call["operation"] == "AWSLicenseManager.GetAccessToken")
        .map(|call| call["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "RateLimitExceededException",
            "RateLimitExceededException",
            "ok"
        ]
    );

    // The same token in a profile whose role is not one of the token's: IDPRejectedClaim, and
    // the message names the key to change.
    let other = "licensed-other-role";
    let config = world.home.join(".aws/config");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&config)
        .unwrap();
    write!(
        file,
        "\n[profile {other}]\nsso_agent_license_role_arn = arn:aws:iam::111122223333:role/NotInTheToken\nregion = us-east-1\n"
    )
    .unwrap();
    stdout_of(&import_token(&world, other, &keyring_token(licensed)));
    let message = failing_credentials(&world, other);
    assert!(message.contains("IDPRejectedClaim"), "{message}");
    assert!(message.contains("sso_agent_license_role_arn"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_renewer_renews_a_license_role_with_the_access_token_it_kept() {
    let (emulator, world) = approving_world("license-renew").await;
    let licensed = "licensed-renew";
    add_license_profiles(&world, licensed);
    create_token(&world, licensed, &[]);
    // Credentials that are due for renewal (20 minutes ahead) ten seconds after they arrive,
    // and still handed out (15 minutes) meanwhile.
    scenario(&emulator, serde_json::json!({"role_credentials_ttl": 1210})).await;
    let first = credentials(&world, licensed);

    // Bounded: the renewer acts within its retry gap of the due time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let log = calls(&emulator).await;
        if count(&log, "AssumeRoleWithWebIdentity", None) >= 2 {
            // The access token of the first call was kept for its hour: no second GetAccessToken.
            assert_eq!(
                count(&log, "AWSLicenseManager.GetAccessToken", None),
                1,
                "{log:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no renewal within a minute: {log:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let renewed = credentials(&world, licensed);
    assert_ne!(
        renewed["AccessKeyId"], first["AccessKeyId"],
        "served the renewed credentials"
    );
}

/// The TokenId in "Stored License Manager token ID for …".
fn token_id(printed: &str) -> String {
    printed
        .split_whitespace()
        .nth(4)
        .unwrap_or_else(|| panic!("no token id in {printed}"))
        .to_string()
}

/// Writes a `[profile NAME]` for the License Manager role, with no helper profile beside it.
fn add_bare_license_profile(world: &AgentHome, name: &str) {
    let config = world.home.join(".aws/config");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&config)
        .unwrap();
    write!(
        file,
        "\n[profile {name}]\nsso_agent_license_role_arn = {ROLE}\n\
         sso_agent_license_token_properties = seat=1\nregion = us-east-1\n"
    )
    .unwrap();
}

/// Puts text that is not a license record in the profile's keyring item.
fn plant_corrupt_item(profile: &str) {
    let mut child = Command::new("secret-tool")
        .args([
            "store",
            "--label=corrupt",
            "service",
            "sso-agent-license",
            "username",
            profile,
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"token\": \"canary-corrupt\"")
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn keyring_has_item(profile: &str) -> bool {
    Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "sso-agent-license",
            "username",
            profile,
        ])
        .output()
        .unwrap()
        .status
        .success()
}

fn import_token(world: &AgentHome, profile: &str, token: &str) -> std::process::Output {
    let mut import = world
        .command(&["license", "import", "--profile", profile])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    import
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    import.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_keyring_item_is_replaced_by_import_and_removed_by_delete() {
    let (_emulator, world) = approving_world("license-corrupt").await;
    let (corrupt, unopened, donor) = (
        "licensed-corrupt",
        "licensed-corrupt-unopened",
        "licensed-donor",
    );
    for name in [corrupt, unopened, donor] {
        add_bare_license_profile(&world, name);
    }
    plant_corrupt_item(corrupt);
    plant_corrupt_item(unopened);

    let message = failing_credentials(&world, corrupt);
    assert!(message.contains("keyring"), "{message}");
    assert!(!message.contains("canary-corrupt"), "{message}");

    // The command the situation calls for works on the unreadable item.
    create_token(&world, donor, &[]);
    let imported = import_token(&world, corrupt, &keyring_token(donor));
    let printed = stdout_of(&imported);
    assert!(
        printed.contains("Stored License Manager token") && printed.contains("in the keyring"),
        "{printed}"
    );
    let answer = credentials(&world, corrupt);
    assert!(answer["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));

    // `delete` of an item the agent never could read: gone, and said so.
    let deleted = stdout_of(&world.run(&["license", "delete", "--profile", unopened]));
    assert!(
        deleted.contains("Forgot the License Manager token"),
        "{deleted}"
    );
    assert!(!keyring_has_item(unopened));
}

/// An agent whose store is memory says so when it stores a token: not "in the keyring".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_stored_in_memory_is_said_to_be_lost_when_the_agent_stops() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "license-memory");
    world.start_agent_with(|agent| {
        agent.env("SSO_AGENT_STORE", "memory");
    });
    add_bare_license_profile(&world, "licensed-memory");
    let printed = create_token(&world, "licensed-memory", &[]);
    assert!(
        printed.contains("in the agent's memory store (lost when the agent stops)"),
        "{printed}"
    );
    assert!(!printed.contains("keyring"), "{printed}");
    // Stopping the agent says the token is gone, and how to put one back.
    let stopped = world.run(&["stop"]);
    let said = String::from_utf8_lossy(&stopped.stderr);
    assert!(said.contains("are gone with it"), "{said}");
    assert!(said.contains("for profile licensed-memory"), "{said}");
    assert!(said.contains("sso-agent license import"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_imported_during_a_fetch_gets_its_own_access_token() {
    let (emulator, world) = approving_world("license-race").await;
    let (licensed, other) = ("licensed-race", "licensed-race-other");
    add_bare_license_profile(&world, licensed);
    add_bare_license_profile(&world, other);
    let old_id = token_id(&create_token(&world, licensed, &[]));
    let new_id = token_id(&create_token(&world, other, &[]));
    let new_token = keyring_token(other);

    // The first fetch waits in GetAccessToken while the profile's token is replaced.
    scenario(
        &emulator,
        serde_json::json!({"faults": [{"operation": "AWSLicenseManager.GetAccessToken",
            "count": 1, "delay_ms": 2000}]}),
    )
    .await;
    let in_flight = world
        .command(&["credential-process", "--profile", licensed])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    stdout_of(&import_token(&world, licensed, &new_token));
    stdout_of(&in_flight.wait_with_output().unwrap());
    let log = calls(&emulator).await;
    assert_eq!(
        count(
            &log,
            "AWSLicenseManager.GetAccessToken",
            Some(&format!("TokenId={old_id}"))
        ),
        1,
        "the first fetch was in flight with the old token when the new one came: {log:?}"
    );

    // The new token's first request asks for an access token of its own.
    credentials(&world, licensed);
    assert_eq!(
        count(
            &calls(&emulator).await,
            "AWSLicenseManager.GetAccessToken",
            Some(&format!("TokenId={new_id}"))
        ),
        1,
        "the old token's access token was not reused"
    );
}

/// ListTokens signed by the `dev` profile's credentials (the account the tokens are made in).
async fn tokens_of_dev(emulator: &RunningEmulator, world: &AgentHome) -> usize {
    let dev = credentials(world, "dev");
    let signer = aws_sdk_licensemanager::config::Credentials::new(
        dev["AccessKeyId"].as_str().unwrap(),
        dev["SecretAccessKey"].as_str().unwrap(),
        dev["SessionToken"].as_str().map(str::to_string),
        None,
        "dev",
    );
    let sdk = sso_agent::aws_sdk::sdk_config(REGION).await;
    let config = aws_sdk_licensemanager::config::Builder::from(&sdk)
        .endpoint_url(&emulator.base_url)
        .credentials_provider(signer)
        .build();
    aws_sdk_licensemanager::Client::from_conf(config)
        .list_tokens()
        .send()
        .await
        .unwrap()
        .tokens()
        .iter()
        .filter(|token| token.status() != Some("DELETED"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_token_whose_answer_is_lost_or_not_stored_makes_one_token() {
    let (emulator, mut world) = approving_world("license-idempotent").await;
    let licensed = "licensed-idempotent";
    add_bare_license_profile(&world, licensed);

    // CreateToken runs but its answer is lost: the SDK's retry carries the same ClientToken.
    scenario(
        &emulator,
        serde_json::json!({"auto_approve_after_polls": 1,
            "faults": [{"operation": "AWSLicenseManager.CreateToken",
            "count": 1, "status": 500, "after_call": true}]}),
    )
    .await;
    create_token(&world, licensed, &[]);
    assert_eq!(
        count(
            &calls(&emulator).await,
            "AWSLicenseManager.CreateToken",
            None
        ),
        2
    );
    assert_eq!(tokens_of_dev(&emulator, &world).await, 1, "one token");

    // The agent dies before it stores the next token: the error names the ClientToken, and
    // the same command with it gets that token back instead of a second one.
    stdout_of(&world.run(&["stop"]));
    let aborting = world.start_agent_with(|agent| {
        agent.env("SSO_AGENT_FAILPOINT", "license:before-save");
    });
    let lost = world.run(&[
        "license",
        "create-token",
        "--profile",
        licensed,
        "--license-arn",
        DEFAULT_LICENSE_ARN,
        "--role-arn",
        ROLE,
        "--token-property",
        "seat=1",
        "--source-profile",
        "dev",
    ]);
    assert!(!lost.status.success());
    let message = String::from_utf8_lossy(&lost.stderr).into_owned();
    assert!(message.contains("was not stored"), "{message}");
    let client_token = message
        .split("--client-token ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no --client-token in {message}"))
        .to_string();
    // The client sees its connection end while the aborting agent is still closing its other
    // descriptors, the listening socket among them: a new agent started at once would find it
    // still answering and refuse to start.
    assert!(!world.wait_agent(aborting).success());
    world.start_agent();
    let printed = create_token(&world, licensed, &["--client-token", &client_token]);
    assert!(
        printed.contains("Stored License Manager token"),
        "{printed}"
    );
    assert_eq!(
        tokens_of_dev(&emulator, &world).await,
        2,
        "not a third token"
    );
    credentials(&world, licensed);
}
