//! A session's life at its edges, through the real agent: an expired token is refreshed, never
//! answered with a login; a revoked token is refreshed first; a damaged keyring item is replaced;
//! a login survives a panic, a re-registration and a server error; a logout wins over a fetch in
//! flight; a stored login is never sent to another endpoint.

mod common;

use common::home::{keyring_item, signal, status, stdout_of, AgentHome};
use common::*;
use serde_json::{json, Value};
use sso_agent::client::AgentClient;
use sso_agent::protocol::{Request, Response};
use std::time::{Duration, Instant};

/// One credentials request that does not wait for a login.
fn ask(world: &AgentHome, profile: &str) -> Result<Response, String> {
    let mut client = AgentClient::connect_to(&world.socket)
        .map_err(|err| err.to_string())?
        .for_config_file(&world.home.join(".aws/config"));
    client
        .request(
            Request::Credentials {
                profile: profile.into(),
                wait: false,
            },
            Duration::from_secs(60),
        )
        .map_err(|err| err.to_string())
}

async fn wait_for(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_with_a_refresh_token_is_refreshed_never_answered_with_a_login() {
    let emulator = emulator().await;
    // 3-second access tokens: expired by the time the agent starts again.
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1, "access_token_ttl": 3}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "expired");
    let first = world.start_agent();
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    signal(first, "TERM");
    world.wait_agent(first);
    tokio::time::sleep(Duration::from_secs(4)).await;

    // The refresh is slow, so the request arrives while it is in flight.
    scenario(
        &emulator,
        json!({"access_token_ttl": 3600,
               "faults": [{"operation": "CreateToken", "delay_ms": 1500}]}),
    )
    .await;
    let logins = count(&calls(&emulator).await, "StartDeviceAuthorization", None);
    world.start_agent();
    let answer = ask(&world, "readonly").expect("the agent answers");
    assert!(
        matches!(answer, Response::Credentials(_)),
        "credentials, not a login: {answer:?}"
    );
    let calls = calls(&emulator).await;
    assert_eq!(
        count(&calls, "StartDeviceAuthorization", None),
        logins,
        "no device login for a session its refresh token keeps alive"
    );
    assert!(count(&calls, "CreateToken", Some("refresh_token")) >= 1);
    let restarted = std::fs::read_to_string(world.root.join("agent-1.log")).unwrap();
    assert!(
        !restarted.contains("waiting for the login to be approved"),
        "no login, so no notification: {restarted}"
    );
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_portal_revokes_is_refreshed_before_any_login_and_never_served_again() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "revoked");
    world.start_agent();
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    let before = keyring_item(&world.session).unwrap();

    // The emulator's clock passes the access token's 8 hours (its refresh token lives on): the
    // portal answers Unauthorized although the agent's own clock says the token is valid.
    advance(&emulator, 9 * 3600).await;
    let logins = count(&calls(&emulator).await, "StartDeviceAuthorization", None);
    let answer = ask(&world, "staging").expect("the agent answers");
    assert!(matches!(answer, Response::Credentials(_)), "{answer:?}");
    let calls = calls(&emulator).await;
    assert_eq!(count(&calls, "StartDeviceAuthorization", None), logins);
    assert_eq!(count(&calls, "CreateToken", Some("refresh_token")), 1);
    let after = keyring_item(&world.session).unwrap();
    assert_ne!(
        after["token"]["access_token"], before["token"]["access_token"],
        "the revoked token is replaced in the keyring too"
    );

    // Revoked with its refresh token (a logout elsewhere): now, and only now, a login.
    let access = after["token"]["access_token"].as_str().unwrap().to_string();
    portal(&emulator)
        .await
        .logout()
        .access_token(access)
        .send()
        .await
        .unwrap();
    let answer = ask(&world, "readonly").expect("the agent answers");
    assert!(
        matches!(answer, Response::LoginPending(_)),
        "a login once the refresh is refused: {answer:?}"
    );
    let login = world.run(&["login", "--no-browser"]);
    let printed = String::from_utf8_lossy(&login.stdout);
    assert!(
        !printed.contains("Already logged in"),
        "a revoked session is not logged in: {printed}"
    );
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_keyring_item_is_replaced_by_a_login_and_removed_by_a_logout() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "corrupt");
    let stored = std::process::Command::new("secret-tool")
        .args(["store", "--label", "damaged", "service", "sso-agent"])
        .args(["username", &world.session])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"{not a record")?;
            child.wait()
        })
        .unwrap();
    assert!(stored.success());
    world.start_agent();

    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    let item = keyring_item(&world.session).expect("a whole record replaced the damaged item");
    assert!(item["token"]["refresh_token"].is_string(), "{item}");
    world.run(&["logout", "--all"]);
    assert!(keyring_item(&world.session).is_none(), "logout removes it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_that_panics_ends_for_its_waiters_and_the_next_login_works() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "panic");
    world.start_agent_with(|command| {
        command.env("SSO_AGENT_FAILPOINT", "panic-once:login:start");
    });
    let failed = world.run(&["credential-process", "--profile", "dev"]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("failed unexpectedly"), "{stderr}");
    // Not a dead login that every later caller joins: the next request logs in.
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_registration_during_polling_publishes_its_new_code() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "reregister");
    world.start_agent();
    let Ok(Response::LoginPending(first)) = ask(&world, "dev") else {
        panic!("a login starts")
    };
    // The service forgets the client registration: the next poll says InvalidClient.
    scenario(
        &emulator,
        json!({"faults": [{"operation": "CreateToken", "status": 400, "error": "InvalidClientException"}]}),
    )
    .await;
    wait_for("a second device authorization", async || {
        count(&calls(&emulator).await, "StartDeviceAuthorization", None) == 2
    })
    .await;
    let mut second = None;
    wait_for("the new code to be published", async || {
        second = match ask(&world, "dev") {
            Ok(Response::LoginPending(pending)) if pending.user_code != first.user_code => {
                Some(pending)
            }
            _ => None,
        };
        second.is_some()
    })
    .await;
    let second = second.unwrap();
    control(
        &emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": second.user_code}),
    )
    .await;
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_while_the_person_approves_does_not_end_the_login() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "poll-5xx");
    world.start_agent();
    let Ok(Response::LoginPending(pending)) = ask(&world, "dev") else {
        panic!("a login starts")
    };
    // More server errors than the SDK's own three attempts per poll.
    let faults: Vec<Value> = (0..5)
        .map(|_| json!({"operation": "CreateToken", "status": 500}))
        .collect();
    scenario(&emulator, json!({"faults": faults})).await;
    wait_for("the failing polls", async || {
        calls(&emulator)
            .await
            .iter()
            .filter(|call| call["operation"] == "CreateToken" && call["status"] == 500)
            .count()
            >= 5
    })
    .await;
    control(
        &emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": pending.user_code}),
    )
    .await;
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_fetched_during_a_logout_is_not_cached_after_it() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "logout-race");
    world.start_agent();
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    scenario(
        &emulator,
        json!({"faults": [{"operation": "GetRoleCredentials", "delay_ms": 1500}]}),
    )
    .await;
    let (socket, config) = (world.socket.clone(), world.home.join(".aws/config"));
    let fetch = std::thread::spawn(move || {
        AgentClient::connect_to(&socket)
            .unwrap()
            .for_config_file(&config)
            .request(
                Request::Credentials {
                    profile: "staging".into(),
                    wait: false,
                },
                Duration::from_secs(30),
            )
    });
    // The fetch is out (it takes 1.5 s upstream) when the logout comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stdout_of(&world.run(&["logout", "--all"]));
    let _ = fetch.join().unwrap();
    let roles = status(&world)["roles"].as_array().unwrap().len();
    assert_eq!(roles, 0, "nothing cached outlives the logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_login_is_never_sent_to_another_endpoint() {
    let first = emulator().await;
    scenario(&first, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&first, "endpoint");
    let agent = world.start_agent();
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    signal(agent, "TERM");
    world.wait_agent(agent);

    // Another service now listens where the endpoint points: the stored refresh token and
    // client secret must not reach it.
    let other = emulator().await;
    scenario(&other, json!({"auto_approve_after_polls": 1})).await;
    world.start_agent_with(|command| {
        command
            .env("AWS_ENDPOINT_URL_SSO_OIDC", &other.base_url)
            .env("AWS_ENDPOINT_URL_SSO", &other.base_url);
    });
    let answer = ask(&world, "dev").expect("the agent answers");
    assert!(
        matches!(answer, Response::LoginPending(_)),
        "a new login at the other endpoint: {answer:?}"
    );
    let calls = calls(&other).await;
    assert_eq!(count(&calls, "CreateToken", Some("refresh_token")), 0);
    assert!(
        world.logs().contains("not sent there"),
        "said in the log: {}",
        world.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_another_config_file_is_told_which_file_the_agent_serves() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "other-config");
    world.start_agent();
    let other = world.home.join("other-config");
    std::fs::copy(world.home.join(".aws/config"), &other).unwrap();
    let output = world
        .command(&["credential-process", "--profile", "dev"])
        .env("AWS_CONFIG_FILE", &other)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let served = world.home.join(".aws/config");
    assert!(
        stderr.contains(&format!(
            "serves {}, not {}",
            served.display(),
            other.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("SSO_AGENT_SOCKET"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Points the `services` section of the world's config at `url`, as a person editing it would.
fn set_services_endpoint(world: &AgentHome, base: &str, url: &str) {
    let config = format!(
        "{base}\n[default]\nservices = emulator\n\n[services emulator]\nsso =\n  endpoint_url = {url}\n\
         sso-oidc =\n  endpoint_url = {url}\n"
    );
    std::fs::write(world.home.join(".aws/config"), config).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_edit_while_the_agent_runs_moves_endpoints_and_drops_removed_sessions() {
    let first = emulator().await;
    scenario(&first, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&first, "edit");
    let base = std::fs::read_to_string(world.home.join(".aws/config")).unwrap();
    set_services_endpoint(&world, &base, &first.base_url);
    world.start_agent_with(|agent| {
        agent
            .env_remove("AWS_ENDPOINT_URL_SSO_OIDC")
            .env_remove("AWS_ENDPOINT_URL_SSO");
    });
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));

    // The endpoints move (the file's mtime must change: wait past its resolution).
    let second = emulator().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    set_services_endpoint(&world, &base, &second.base_url);
    let answer = ask(&world, "readonly").expect("the agent answers");
    assert!(
        matches!(answer, Response::LoginPending(_)),
        "a login at the new endpoint, whose record the old one's tokens are not: {answer:?}"
    );
    assert_eq!(
        count(&calls(&second).await, "StartDeviceAuthorization", None),
        1
    );
    assert_eq!(
        count(&calls(&first).await, "GetRoleCredentials", None),
        1,
        "nothing more goes to the old endpoint"
    );

    // The session leaves the file: it is no longer listed (nor refreshed).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(
        world.home.join(".aws/config"),
        "[default]\nregion = us-east-1\n",
    )
    .unwrap();
    let sessions = status(&world)["sessions"].as_array().unwrap().len();
    assert_eq!(sessions, 0, "{}", status(&world));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broken_sso_session_leaves_the_others_working_and_is_shown_in_status() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "broken");
    let config_path = world.home.join(".aws/config");
    let config = std::fs::read_to_string(&config_path).unwrap();
    // Sorted first, and missing its region.
    std::fs::write(
        &config_path,
        format!(
            "[sso-session aaa-broken]\nsso_start_url = https://broken.example/start\n\n{config}"
        ),
    )
    .unwrap();
    world.start_agent();
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    let sessions = status(&world)["sessions"].clone();
    let broken = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|session| session["name"] == "aaa-broken")
        .unwrap_or_else(|| panic!("the broken session is shown: {sessions}"));
    assert!(
        broken["last_error"]
            .as_str()
            .unwrap()
            .contains("sso_region"),
        "{broken}"
    );
    let text = stdout_of(&world.run(&["status"]));
    assert!(text.contains("aaa-broken: not usable"), "{text}");
    assert!(!text.contains("no sessions"), "{text}");
    world.run(&["logout", "--sso-session", &world.session.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helpers_own_profile_is_served_and_another_helpers_is_named_as_such() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "helper-profile");
    let config_path = world.home.join(".aws/config");
    let mut config = std::fs::read_to_string(&config_path).unwrap();
    config.push_str(
        "\n[profile tool]\ncredential_process = sso-agent-credential-process --profile dev\n\
         \n[profile other]\ncredential_process = some-other-helper --profile dev\n",
    );
    std::fs::write(&config_path, config).unwrap();
    world.start_agent();
    // The profile people use with the AWS CLI is the one its helper line names.
    let through_tool = stdout_of(&world.run(&["credential-process", "--profile", "tool"]));
    let direct = stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    let key = |json: &str| serde_json::from_str::<Value>(json).unwrap()["AccessKeyId"].clone();
    assert_eq!(key(&through_tool), key(&direct));
    assert_eq!(
        count(&calls(&emulator).await, "GetRoleCredentials", None),
        1
    );

    let output = world.run(&["credential-process", "--profile", "other"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "is not an SSO profile: its credentials come from `credential_process` (another tool)"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("add sso_start_url"),
        "harmful advice: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_changed_in_the_config_mid_login_never_has_two_writers_of_its_item() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "changed");
    world.start_agent();
    let Ok(Response::LoginPending(old)) = ask(&world, "dev") else {
        panic!("a login starts")
    };
    // The session's start URL changes while its login waits for a person.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let config_path = world.home.join(".aws/config");
    let config = std::fs::read_to_string(&config_path).unwrap().replace(
        "https://corp.awsapps.com/start",
        "https://moved.awsapps.com/start",
    );
    std::fs::write(&config_path, config).unwrap();
    let Ok(Response::LoginPending(new)) = ask(&world, "dev") else {
        panic!("a login for the changed session starts")
    };
    assert_ne!(new.user_code, old.user_code);

    // The old login was ended: approving its code writes nothing over the new session's item.
    let approve = |code: String| {
        control(
            &emulator,
            "POST",
            "/_emulator/approve",
            json!({"user_code": code}),
        )
    };
    approve(old.user_code.clone()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The new session may have stored its registration; no token from the old login is there.
    if let Some(item) = keyring_item(&world.session) {
        assert_eq!(item["start_url"], "https://moved.awsapps.com/start");
        assert!(
            item["token"].is_null(),
            "the replaced session wrote its token into the item"
        );
    }
    approve(new.user_code.clone()).await;
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    let item = keyring_item(&world.session).unwrap();
    assert_eq!(item["start_url"], "https://moved.awsapps.com/start");
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_that_does_not_parse_is_said_in_status_not_no_sessions() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "unparsable");
    std::fs::write(
        world.home.join(".aws/config"),
        "[sso-session x\nsso_region = us-east-1\n",
    )
    .unwrap();
    world.start_agent();
    let text = stdout_of(&world.run(&["status"]));
    assert!(text.contains("the config cannot be read"), "{text}");
    assert!(!text.contains("no sessions"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_takes_a_profile_as_login_does() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "logout-profile");
    world.start_agent();
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    let printed = stdout_of(&world.run(&["logout", "--profile", "dev"]));
    assert!(printed.contains(&world.session), "{printed}");
    assert!(keyring_item(&world.session).is_none());
}
