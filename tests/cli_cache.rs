//! The AWS CLI's own SSO token cache with the real parts: the real agent writing
//! `~/.aws/sso/cache/<sha1>.json` (`sso_agent_cli_cache = true`), Debian's boto3 and
//! aws-sdk-rust's native SSO providers resolving a plain SSO profile (no credential_process) from
//! it against the emulator before and after the agent's refresh, the file's life (mode, logout,
//! the key turned on and off, a planted link), and `import-cli-cache` taking a login made as the
//! AWS CLI makes it.

mod common;

use common::home::{keyring_item, signal, stdout_of, AgentHome};
use common::*;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

const HELPER: &str = env!("CARGO_BIN_EXE_sso-agent-credential-process");

/// Set in the child process the aws-sdk-rust check starts (this test binary, with the world's
/// environment): resolve this profile through aws-config's profile chain and print the key.
const SDK_PROFILE_VAR: &str = "SSO_AGENT_TEST_SDK_PROFILE";

/// Longer than botocore's 15-minute refresh window by 30 s: the agent refreshes 30 s after each
/// token arrives, while boto3 (and aws-sdk-rust, 5 minutes) find it fresh and never refresh.
const TTL: u64 = 15 * 60 + 30;

fn cache(world: &AgentHome) -> Value {
    serde_json::from_slice(&std::fs::read(world.cli_cache_file()).unwrap()).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// boto3 resolving `profile` natively: (credential method, access key id). Debian's botocore
/// (1.29) predates `AWS_ENDPOINT_URL_<SERVICE>`; for it the script hands its clients the same
/// endpoints those variables name, as newer botocore does by itself. Nothing else is changed:
/// the token loading, refresh decision and GetRoleCredentials are botocore's.
fn boto3(world: &AgentHome, profile: &str) -> (String, String) {
    let script = format!(
        "import os, botocore, botocore.session, boto3\n\
         if tuple(int(p) for p in botocore.__version__.split('.')[:2]) < (1, 31):\n\
         \x20   original = botocore.session.Session.create_client\n\
         \x20   def create_client(self, service_name, *args, **kwargs):\n\
         \x20       variable = 'AWS_ENDPOINT_URL_' + service_name.upper().replace('-', '_')\n\
         \x20       if kwargs.get('endpoint_url') is None and variable in os.environ:\n\
         \x20           kwargs['endpoint_url'] = os.environ[variable]\n\
         \x20       return original(self, service_name, *args, **kwargs)\n\
         \x20   botocore.session.Session.create_client = create_client\n\
         c = boto3.Session(profile_name='{profile}').get_credentials()\n\
         print(c.method, c.get_frozen_credentials().access_key)"
    );
    let output = world
        .program("/usr/bin/python3")
        .args(["-c", &script])
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    let printed = stdout_of(&output);
    let words: Vec<&str> = printed.split_whitespace().collect();
    assert_eq!(words.len(), 2, "{printed}");
    (words[0].to_string(), words[1].to_string())
}

/// aws-sdk-rust (aws-config's profile chain with its `sso` feature) resolving `profile`, in a
/// child process with the world's environment: the access key id.
fn aws_sdk_rust(world: &AgentHome, profile: &str) -> String {
    let output = world
        .program(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "boto3_and_aws_sdk_rust_resolve_an_sso_profile_from_the_exported_cache_across_a_refresh",
            "--nocapture",
        ])
        .env(SDK_PROFILE_VAR, profile)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    let printed = stdout_of(&output);
    printed
        .lines()
        .find_map(|line| line.strip_prefix("sdk-key "))
        .unwrap_or_else(|| panic!("{printed}"))
        .to_string()
}

fn issued_to(emulator: &sso_agent::emulator::RunningEmulator, key: &str) -> (String, String) {
    let state = emulator.state.lock();
    let issued = state
        .role_credentials
        .get(key)
        .unwrap_or_else(|| panic!("the emulator issued {key}"));
    (issued.account_id.clone(), issued.role_name.clone())
}

fn dev_role() -> (String, String) {
    ("111122223333".to_string(), "Developer".to_string())
}

/// The keyring item and the cache file carry the same token set and registration.
fn assert_file_is_the_keyring_item(world: &AgentHome) {
    let file = cache(world);
    let item = keyring_item(&world.session).expect("the keyring item");
    assert_eq!(file["accessToken"], item["token"]["access_token"]);
    assert_eq!(file["refreshToken"], item["token"]["refresh_token"]);
    assert_eq!(file["clientId"], item["registration"]["client_id"]);
    assert_eq!(file["clientSecret"], item["registration"]["client_secret"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_aws_sdk_rust_resolve_an_sso_profile_from_the_exported_cache_across_a_refresh() {
    if let Ok(profile) = std::env::var(SDK_PROFILE_VAR) {
        // The child: HOME, AWS_CONFIG_FILE and the endpoint variables are the world's.
        use aws_credential_types::provider::ProvideCredentials;
        let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_name(&profile)
            .build()
            .provide_credentials()
            .await
            .expect("aws-sdk-rust resolves the SSO profile from the token cache");
        println!("sdk-key {}", credentials.access_key_id());
        return;
    }
    let emulator = emulator().await;
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1, "access_token_ttl": TTL, "rotate_refresh_tokens": true}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "clicache-sdk");
    world.set_cli_cache("true");
    world.start_agent();
    stdout_of(&world.run(&["login"]));
    let first_at = Instant::now();

    // The file, as `aws sso login` writes it: every member, 0600 in a 0700 directory.
    let path = world.cli_cache_file();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let first = cache(&world);
    assert_eq!(first["startUrl"], "https://corp.awsapps.com/start");
    assert_eq!(first["region"], "us-east-1");
    for member in ["expiresAt", "registrationExpiresAt"] {
        let time = first[member].as_str().unwrap();
        assert!(
            time.len() == 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{member}: {time}"
        );
    }
    assert_file_is_the_keyring_item(&world);

    // The profile `dev` has only sso_session, sso_account_id and sso_role_name.
    let (method, key) = boto3(&world, "dev");
    assert_eq!(method, "sso");
    assert_eq!(issued_to(&emulator, &key), dev_role());
    let key = aws_sdk_rust(&world, "staging");
    assert_eq!(
        issued_to(&emulator, &key),
        ("222233334444".to_string(), "Developer".to_string())
    );
    let refreshes = |calls: &[Value]| count(calls, "CreateToken", Some("refresh_token"));
    assert_eq!(
        refreshes(&calls(&emulator).await),
        0,
        "neither SDK refreshed the token itself"
    );

    // The agent refreshes (30 s after the token came): the file follows, rotated refresh token
    // and all, and matches the keyring again.
    let deadline = Instant::now() + Duration::from_secs(TTL - 900 + 30);
    let second = loop {
        let now = cache(&world);
        if now["accessToken"] != first["accessToken"] {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not refresh: {}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let second_at = Instant::now();
    assert_ne!(second["refreshToken"], first["refreshToken"]);
    assert_eq!(second["clientId"], first["clientId"]);
    assert_eq!(mode(&path), 0o600);
    assert_file_is_the_keyring_item(&world);
    assert_eq!(refreshes(&calls(&emulator).await), 1);

    // The emulator's clock goes between the two tokens' ends: the first is refused from now on,
    // the second is not. An SDK that still used the first could not get credentials.
    let gap = second_at - first_at;
    let advance_by = TTL + gap.as_secs() / 2 - first_at.elapsed().as_secs();
    common::advance(&emulator, advance_by).await;
    let portal = portal(&emulator).await;
    let old = portal
        .get_role_credentials()
        .access_token(first["accessToken"].as_str().unwrap())
        .account_id("111122223333")
        .role_name("Developer")
        .send()
        .await;
    assert!(old.is_err(), "the first token is refused now");

    let (method, key) = boto3(&world, "dev");
    assert_eq!(method, "sso");
    assert_eq!(issued_to(&emulator, &key), dev_role());
    let key = aws_sdk_rust(&world, "readonly");
    assert_eq!(
        issued_to(&emulator, &key),
        ("111122223333".to_string(), "ReadOnly".to_string())
    );
    assert_eq!(
        refreshes(&calls(&emulator).await),
        1,
        "the SDKs used the agent's new token; they did not refresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_file_follows_the_key_logins_and_logouts_and_no_other_file_holds_a_secret() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "clicache-life");
    world.start_agent();
    let path = world.cli_cache_file();

    // Off by default: nothing under ~/.aws/sso.
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    assert!(!world.home.join(".aws/sso").exists());

    // A link planted at the path is refused, named in the log, and its target untouched; the
    // login and the credentials go on.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let decoy = world.root.join("decoy");
    std::fs::write(&decoy, "keep").unwrap();
    std::os::unix::fs::symlink(&decoy, &path).unwrap();
    world.set_cli_cache("true");
    stdout_of(&world.run(&["status"]));
    stdout_of(&world.run(&["login", "--force"]));
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "keep");
    assert!(std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    let logs = world.logs();
    assert!(
        logs.contains(&format!("{} is a symbolic link", path.display())) && !logs.contains("chmod"),
        "{logs}"
    );
    std::fs::remove_file(&path).unwrap();

    // Turning the key on exports the login the agent has, without a new login.
    let devices = count(&calls(&emulator).await, "StartDeviceAuthorization", None);
    world.set_cli_cache("false");
    stdout_of(&world.run(&["status"]));
    world.set_cli_cache("true");
    stdout_of(&world.run(&["status"]));
    assert_eq!(mode(&path), 0o600);
    assert_file_is_the_keyring_item(&world);
    assert_eq!(
        count(&calls(&emulator).await, "StartDeviceAuthorization", None),
        devices
    );

    // The secret search allows exactly this file: the same bytes anywhere else are found.
    world.assert_no_secret_in_files();
    let copy = path.with_file_name("copy.json");
    std::fs::copy(&path, &copy).unwrap();
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        world.assert_no_secret_in_files()
    }));
    assert!(found.is_err(), "a copy of the cache file was not found");
    std::fs::remove_file(&copy).unwrap();

    // Logout removes it; the next login writes it again.
    stdout_of(&world.run(&["logout", "--all"]));
    assert!(!path.exists());
    stdout_of(&world.run(&["login"]));
    assert_file_is_the_keyring_item(&world);

    // Turned off while the agent runs: the file of the agent's token goes at once.
    world.set_cli_cache("false");
    stdout_of(&world.run(&["status"]));
    assert!(!path.exists(), "the agent's file outlived the key");

    // With the key off, a file of the AWS CLI's own login (not the agent's token) is left alone,
    // a logout included.
    let theirs = r#"{"startUrl":"https://corp.awsapps.com/start","region":"us-east-1","accessToken":"the-aws-clis-own","expiresAt":"2099-01-01T00:00:00Z"}"#;
    std::fs::write(&path, theirs).unwrap();
    stdout_of(&world.run(&["logout", "--all"]));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), theirs);

    // Any other value is a config error that names the key.
    world.set_cli_cache("yes");
    let output = world.run(&["login"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`sso_agent_cli_cache` must be true or false"),
        "{stderr}"
    );
}

/// A login as the AWS CLI makes one, with its own client: (clientId, clientSecret,
/// clientSecretExpiresAt, accessToken, refreshToken).
async fn aws_cli_login(
    emulator: &sso_agent::emulator::RunningEmulator,
) -> (String, String, i64, String, String) {
    let oidc = oidc(emulator).await;
    let client = oidc
        .register_client()
        .client_name("botocore-client-corp")
        .client_type("public")
        .scopes("sso:account:access")
        .send()
        .await
        .unwrap();
    let (id, secret) = (
        client.client_id().unwrap().to_string(),
        client.client_secret().unwrap().to_string(),
    );
    let device = oidc
        .start_device_authorization()
        .client_id(&id)
        .client_secret(&secret)
        .start_url("https://corp.awsapps.com/start")
        .send()
        .await
        .unwrap();
    control(
        emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": device.user_code().unwrap()}),
    )
    .await;
    let token = oidc
        .create_token()
        .client_id(&id)
        .client_secret(&secret)
        .grant_type(DEVICE_GRANT)
        .device_code(device.device_code().unwrap())
        .send()
        .await
        .unwrap();
    (
        id,
        secret,
        client.client_secret_expires_at(),
        token.access_token().unwrap().to_string(),
        token.refresh_token().unwrap().to_string(),
    )
}

/// Writes the cache file as botocore does (json.dumps, `%Y-%m-%dT%H:%M:%SZ` in UTC), by Python:
/// `expires_in` seconds from now (negative: already past), and the registration if given.
fn write_as_the_aws_cli(
    world: &AgentHome,
    start_url: &str,
    access: &str,
    expires_in: i64,
    registration: Option<(&str, &str, i64, &str)>,
) {
    let path = world.cli_cache_file();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let (client_id, client_secret, registration_at, refresh) =
        registration.unwrap_or(("", "", 0, ""));
    let script = "import json, sys, datetime\n\
        utc = datetime.timezone.utc\n\
        path, url, access, expires_in, cid, secret, reg_at, refresh = sys.argv[1:]\n\
        f = '%Y-%m-%dT%H:%M:%SZ'\n\
        token = {'startUrl': url, 'region': 'us-east-1', 'accessToken': access,\n\
        \x20        'expiresAt': (datetime.datetime.now(utc) + datetime.timedelta(seconds=int(expires_in))).strftime(f)}\n\
        if cid:\n\
        \x20   token.update({'clientId': cid, 'clientSecret': secret,\n\
        \x20                 'registrationExpiresAt': datetime.datetime.fromtimestamp(int(reg_at), utc).strftime(f),\n\
        \x20                 'refreshToken': refresh})\n\
        open(path, 'w').write(json.dumps(token))\n";
    let status = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&path)
        .args([
            start_url,
            access,
            &expires_in.to_string(),
            client_id,
            client_secret,
            &registration_at.to_string(),
            refresh,
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

fn import(world: &AgentHome) -> std::process::Output {
    world.run(&["import-cli-cache", "--sso-session", &world.session])
}

fn failure(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// The small helper's credentials for `profile` (no login may be needed: no terminal here).
fn helper_key(world: &AgentHome, profile: &str) -> String {
    let output = world
        .program(HELPER)
        .args(["--profile", profile])
        .env_remove("SSO_AGENT_LOGIN_WAIT")
        .output()
        .unwrap();
    let credentials: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    credentials["AccessKeyId"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_cli_cache_takes_an_aws_cli_login_and_refreshes_an_expired_one() {
    let emulator = emulator().await;
    scenario(
        &emulator,
        json!({"access_token_ttl": 3600, "rotate_refresh_tokens": true}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "clicache-import");
    world.start_agent();
    let session = world.session.clone();

    // No file yet: say how to make one, or to log in with the agent instead.
    let message = failure(&import(&world));
    assert!(
        message.contains(&world.cli_cache_file().display().to_string())
            && message.contains(&format!("aws sso login --sso-session {session}"))
            && message.contains(&format!("sso-agent login --sso-session {session}")),
        "{message}"
    );
    // Not JSON.
    std::fs::create_dir_all(world.cli_cache_file().parent().unwrap()).unwrap();
    std::fs::write(world.cli_cache_file(), "{\"accessToken\": ").unwrap();
    let message = failure(&import(&world));
    assert!(
        message.contains("is not an AWS CLI token cache file"),
        "{message}"
    );

    // A login of the AWS CLI's, for another start URL: refused, naming both.
    let (id, secret, registration_at, access, refresh) = aws_cli_login(&emulator).await;
    let other = "https://other.awsapps.com/start";
    write_as_the_aws_cli(&world, other, &access, 3000, None);
    let message = failure(&import(&world));
    assert!(
        message.contains(other) && message.contains("https://corp.awsapps.com/start"),
        "{message}"
    );

    // The token alone (no registration): taken while it lasts, and said not to renew.
    write_as_the_aws_cli(
        &world,
        "https://corp.awsapps.com/start",
        &access,
        3000,
        None,
    );
    let devices = count(&calls(&emulator).await, "StartDeviceAuthorization", None);
    let said = stdout_of(&import(&world));
    assert!(said.contains("it cannot be refreshed"), "{said}");
    assert_eq!(issued_to(&emulator, &helper_key(&world, "dev")), dev_role());
    let item = keyring_item(&session).expect("the keyring item");
    assert_eq!(item["token"]["access_token"], access.as_str());
    assert_eq!(item["token"]["refresh_token"], Value::Null);
    let status = common::home::status(&world);
    assert_eq!(status["sessions"][0]["refreshable"], false, "{status}");

    // The whole login, its access token already expired (here and at the emulator): taken with
    // its refresh token and registration; the agent refreshes with them, no new login.
    let (id2, secret2, registration_at2, access2, refresh2) = aws_cli_login(&emulator).await;
    let _ = (id, secret, registration_at, refresh);
    common::advance(&emulator, 3700).await;
    write_as_the_aws_cli(
        &world,
        "https://corp.awsapps.com/start",
        &access2,
        -100,
        Some((&id2, &secret2, registration_at2, &refresh2)),
    );
    let devices_now = count(&calls(&emulator).await, "StartDeviceAuthorization", None);
    assert_eq!(devices_now, devices + 1, "only the AWS CLI's second login");
    let said = stdout_of(&import(&world));
    assert!(said.contains("the agent refreshes it"), "{said}");
    let key = helper_key(&world, "staging");
    assert_eq!(
        issued_to(&emulator, &key),
        ("222233334444".to_string(), "Developer".to_string())
    );
    let log = calls(&emulator).await;
    assert_eq!(count(&log, "StartDeviceAuthorization", None), devices_now);
    assert_eq!(count(&log, "RegisterClient", None), 2, "the AWS CLI's two");
    assert_eq!(count(&log, "CreateToken", Some("refresh_token")), 1);
    let item = keyring_item(&session).expect("the keyring item");
    assert_eq!(item["registration"]["client_id"], id2.as_str());
    assert_ne!(item["token"]["access_token"], access2.as_str());
    assert_ne!(item["token"]["refresh_token"], refresh2.as_str(), "rotated");

    // The AWS CLI's file is its own (the key is off): the agent left it as it was, and a
    // logout leaves it too (the agent did not write it).
    let before = std::fs::read(world.cli_cache_file()).unwrap();
    assert_eq!(cache(&world)["accessToken"], access2.as_str());
    stdout_of(&world.run(&["logout", "--all"]));
    assert_eq!(std::fs::read(world.cli_cache_file()).unwrap(), before);
    std::fs::remove_file(world.cli_cache_file()).unwrap();
}

/// The registration of an AWS CLI login, as `write_as_the_aws_cli` takes it.
type AwsCliLogin = (String, String, i64, String, String);

fn whole(login: &AwsCliLogin) -> Option<(&str, &str, i64, &str)> {
    Some((&login.0, &login.1, login.2, &login.4))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_aws_cli_file_is_never_removed_by_a_restart_or_a_logout_with_the_key_off() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "clicache-keep");
    let pid = world.start_agent();
    let login = aws_cli_login(&emulator).await;
    write_as_the_aws_cli(
        &world,
        "https://corp.awsapps.com/start",
        &login.3,
        3000,
        whole(&login),
    );
    let theirs = std::fs::read(world.cli_cache_file()).unwrap();
    stdout_of(&import(&world));
    assert_eq!(issued_to(&emulator, &helper_key(&world, "dev")), dev_role());

    // The agent restarts with the imported token: the AWS CLI's file stays as it wrote it.
    signal(pid, "TERM");
    world.wait_agent(pid);
    world.start_agent();
    assert_eq!(
        issued_to(&emulator, &helper_key(&world, "staging")).0,
        "222233334444"
    );
    assert_eq!(std::fs::read(world.cli_cache_file()).unwrap(), theirs);
    let item = keyring_item(&world.session).expect("the keyring item");
    assert_eq!(item["token"]["access_token"], login.3.as_str());
    assert_eq!(
        item.get("cli_cache_exported"),
        None,
        "an import is not marked"
    );

    // Nor does a logout.
    stdout_of(&world.run(&["logout", "--all"]));
    assert_eq!(std::fs::read(world.cli_cache_file()).unwrap(), theirs);
    std::fs::remove_file(world.cli_cache_file()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_made_through_the_file_while_the_agent_was_stopped_is_taken_not_overwritten() {
    let emulator = emulator().await;
    // Tokens due for the agent's refresh 15 s after they come; a rotated-away refresh token is
    // refused at once (no grace).
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1, "access_token_ttl": 915, "rotate_refresh_tokens": true, "refresh_grace": 0}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "clicache-newer");
    world.set_cli_cache("true");
    let pid = world.start_agent();
    stdout_of(&world.run(&["login"]));
    signal(pid, "TERM");
    world.wait_agent(pid);
    let exported = cache(&world);
    // botocore refreshes a token near its end, never within the second it came in.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // botocore refreshes through the file (its SSOTokenProvider: CreateToken with the file's
    // refresh token and client) and saves what it got there, as it does.
    let oidc = oidc(&emulator).await;
    let refreshed = oidc
        .create_token()
        .client_id(exported["clientId"].as_str().unwrap())
        .client_secret(exported["clientSecret"].as_str().unwrap())
        .grant_type("refresh_token")
        .refresh_token(exported["refreshToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let (access, refresh) = (
        refreshed.access_token().unwrap().to_string(),
        refreshed.refresh_token().unwrap().to_string(),
    );
    let mut newer = exported.clone();
    newer["accessToken"] = json!(access);
    newer["refreshToken"] = json!(refresh);
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + refreshed.expires_in() as u64;
    newer["expiresAt"] = json!(sso_agent::cli_cache::format_time(expires));
    std::fs::write(world.cli_cache_file(), serde_json::to_vec(&newer).unwrap()).unwrap();
    common::advance(&emulator, 2).await;
    // The agent's own refresh token is the rotated-away one now: the emulator refuses it.
    let stale = oidc
        .create_token()
        .client_id(exported["clientId"].as_str().unwrap())
        .client_secret(exported["clientSecret"].as_str().unwrap())
        .grant_type("refresh_token")
        .refresh_token(exported["refreshToken"].as_str().unwrap())
        .send()
        .await;
    assert!(stale.is_err(), "the rotated-away refresh token is refused");

    // The agent starts again: it takes the newer login, serves with it, and the file keeps it.
    world.start_agent();
    assert_eq!(issued_to(&emulator, &helper_key(&world, "dev")), dev_role());
    assert_eq!(
        cache(&world)["accessToken"],
        access.as_str(),
        "{}",
        world.logs()
    );
    assert_eq!(cache(&world)["refreshToken"], refresh.as_str());
    let item = keyring_item(&world.session).expect("the keyring item");
    assert_eq!(item["token"]["access_token"], access.as_str());
    assert_eq!(item["token"]["refresh_token"], refresh.as_str());

    // Its own refresh (15 s after botocore's) uses the newer refresh token, which works.
    let deadline = Instant::now() + Duration::from_secs(60);
    let renewed = loop {
        let now = cache(&world);
        if now["accessToken"] != access.as_str() {
            break now;
        }
        assert!(Instant::now() < deadline, "no refresh: {}", world.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(renewed["refreshToken"], refresh.as_str());
    assert_file_is_the_keyring_item(&world);
    let status = common::home::status(&world);
    assert_eq!(status["sessions"][0]["logged_in"], true, "{status}");
    assert_eq!(status["sessions"][0]["last_error"], Value::Null, "{status}");
    assert_eq!(
        issued_to(&emulator, &helper_key(&world, "readonly")).1,
        "ReadOnly"
    );
    assert_eq!(
        count(&calls(&emulator).await, "StartDeviceAuthorization", None),
        1,
        "no second login"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_cli_cache_refuses_a_login_revoked_upstream_and_status_names_an_imported_one() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "clicache-revoked");
    world.start_agent();
    stdout_of(&world.run(&["login"]));
    let ours = keyring_item(&world.session).expect("the agent's login");
    let flow = common::home::status(&world)["sessions"][0]["login_flow"].clone();
    assert_eq!(flow["flow"], "device-code", "{flow}");
    let portal = portal(&emulator).await;

    // The AWS CLI logged in, then the session ended upstream (a sign-out): not imported.
    for expires_in in [3000, -100] {
        let login = aws_cli_login(&emulator).await;
        portal.logout().access_token(&login.3).send().await.unwrap();
        write_as_the_aws_cli(
            &world,
            "https://corp.awsapps.com/start",
            &login.3,
            expires_in,
            whole(&login),
        );
        let message = failure(&import(&world));
        let said = if expires_in > 0 {
            "no longer accepts the AWS CLI's token"
        } else {
            "refused to refresh it"
        };
        assert!(
            message.contains(said)
                && message.contains(&world.cli_cache_file().display().to_string())
                && message.contains("nothing was imported and the agent's own login is as it was")
                && message.contains(&format!("aws sso login --sso-session {}", world.session))
                && message.contains(&format!("sso-agent login --sso-session {}", world.session)),
            "{message}"
        );
        assert!(!message.contains(&login.3) && !message.contains(&login.4));
        assert!(!message.contains("can no longer be refreshed"), "{message}");
        assert_eq!(keyring_item(&world.session).unwrap(), ours);
        assert_eq!(
            common::home::status(&world)["sessions"][0]["login_flow"],
            flow
        );
    }
    assert_eq!(issued_to(&emulator, &helper_key(&world, "dev")), dev_role());

    // A live one is taken, and status says where the login came from, not the old flow.
    let login = aws_cli_login(&emulator).await;
    write_as_the_aws_cli(
        &world,
        "https://corp.awsapps.com/start",
        &login.3,
        3000,
        whole(&login),
    );
    stdout_of(&import(&world));
    let status = common::home::status(&world);
    let session = &status["sessions"][0];
    assert_eq!(session["login_flow"], Value::Null, "{status}");
    assert_eq!(
        session["imported_from"],
        world.cli_cache_file().display().to_string().as_str()
    );
    let text = stdout_of(&world.run(&["status"]));
    assert!(
        text.contains(&format!(
            "login imported from the AWS CLI's cache ({})",
            world.cli_cache_file().display()
        )) && !text.contains("login flow:"),
        "{text}"
    );
    // A login the agent runs afterwards is what status shows again.
    stdout_of(&world.run(&["login", "--force"]));
    let session = common::home::status(&world)["sessions"][0].clone();
    assert_eq!(session["login_flow"]["flow"], "device-code");
    assert_eq!(session["imported_from"], Value::Null);
    std::fs::remove_file(world.cli_cache_file()).unwrap();
}
