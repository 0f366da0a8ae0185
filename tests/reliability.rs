//! The agent under upstream faults and crashes: it keeps serving what it has, retries without a
//! hot loop, says what is wrong, and a kill at any point of a refresh loses no session.

mod common;

use common::home::{keyring_item, signal, status, stdout_of, AgentHome};
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn wait_for(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_outage_leaves_cached_credentials_served_and_is_reported_without_a_hot_loop() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "outage");
    world.start_agent();
    let cached = stdout_of(&world.run(&["credential-process", "--profile", "dev"]));

    // Everything upstream now fails: server errors, throttling, resets, garbage, timeouts.
    let faults: Vec<Value> = [
        json!({"status": 500}),
        json!({"status": 429}),
        json!({"reset": true}),
        json!({"garbage": true}),
    ]
    .into_iter()
    .cycle()
    .take(40)
    .map(|mut fault| {
        fault["operation"] = json!("GetRoleCredentials");
        fault
    })
    .collect();
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1, "faults": faults}),
    )
    .await;

    // The cached role is still served, from memory, with no upstream call.
    let before = count(&calls(&emulator).await, "GetRoleCredentials", None);
    assert_eq!(
        stdout_of(&world.run(&["credential-process", "--profile", "dev"])),
        cached
    );
    assert_eq!(
        count(&calls(&emulator).await, "GetRoleCredentials", None),
        before
    );

    // A role that is not cached fails with a clear line, after the SDK's bounded retries.
    let output = world.run(&["credential-process", "--profile", "readonly"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("IAM Identity Center"), "{stderr}");
    let attempts = count(&calls(&emulator).await, "GetRoleCredentials", None) - before;
    assert!(
        (1..=3).contains(&attempts),
        "bounded retries, not a hot loop: {attempts}"
    );
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_refresh_backs_off_and_status_says_why() {
    let emulator = emulator().await;
    // A 10-minute token is inside the 15-minute refresh window as soon as it is issued. The
    // login's poll passes; every refresh after it meets a server error.
    let mut faults = vec![json!({"operation": "CreateToken", "delay_ms": 0})];
    faults.extend((0..50).map(|_| json!({"operation": "CreateToken", "status": 500})));
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1, "access_token_ttl": 600, "faults": faults}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "backoff");
    world.start_agent();
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));

    wait_for("a refresh failure in status", async || {
        status(&world)["sessions"][0]["last_error"].is_string()
    })
    .await;
    let session = &status(&world)["sessions"][0];
    let error = session["last_error"].as_str().unwrap();
    assert!(error.contains("internal error"), "{error}");
    assert_eq!(session["logged_in"], true, "the current token still works");

    // Over the next 3 s: no new attempt (the next is 30 s away), so no more calls.
    let failed = count(&calls(&emulator).await, "CreateToken", None);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        count(&calls(&emulator).await, "CreateToken", None),
        failed,
        "no hot loop"
    );
    assert!(
        failed - 1 <= 3,
        "one attempt, at most the SDK's 3 tries: {failed}"
    );
    world.run(&["logout", "--all"]);
}

/// Kills the agent at `point` of a refresh that rotates the refresh token, restarts it, and
/// checks that the session goes on without a new login and the keyring item is whole.
async fn survives_a_kill(point: &str) {
    let emulator = emulator().await;
    // Every token is due for refresh as soon as it is issued (10 min < the 15-min window).
    let faults = if point == "in-flight" {
        // The login's poll passes; the refresh after it hangs until the agent is killed.
        json!([{"operation": "CreateToken", "delay_ms": 0},
               {"operation": "CreateToken", "delay_ms": 30000}])
    } else {
        json!([])
    };
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1, "access_token_ttl": 600, "faults": faults}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, &format!("crash-{}", point.replace(':', "-")));
    let doomed = world.start_agent_with(|command| {
        if point != "in-flight" {
            command.env("SSO_AGENT_FAILPOINT", point);
        }
    });
    // Logs in; the refresh follows at once, and the agent dies in it.
    let _ = world.run(&["credential-process", "--profile", "dev"]);
    if point == "in-flight" {
        tokio::time::sleep(Duration::from_secs(1)).await;
        signal(doomed, "KILL");
    }
    assert!(
        !world.wait_agent(doomed).success(),
        "the agent died at {point}"
    );
    let item = keyring_item(&world.session).expect("the keyring item survived");
    assert!(
        item["token"]["refresh_token"].is_string(),
        "{point}: {item}"
    );
    let logins = count(&calls(&emulator).await, "StartDeviceAuthorization", None);
    assert_eq!(logins, 1);

    // Restarted, the agent refreshes with what the keyring holds: no new login.
    scenario(&emulator, json!({"access_token_ttl": 600})).await;
    let seen = calls(&emulator).await.len();
    world.start_agent();
    wait_for("a refresh after the restart", async || {
        calls(&emulator).await[seen..]
            .iter()
            .any(|call| call["detail"] == "refresh_token" && call["outcome"] == "ok")
    })
    .await;
    stdout_of(&world.run(&["credential-process", "--profile", "readonly"]));
    assert_eq!(
        count(&calls(&emulator).await, "StartDeviceAuthorization", None),
        1,
        "{point}: no new login"
    );
    assert_eq!(status(&world)["sessions"][0]["logged_in"], true);
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_before_the_refresh_call_loses_nothing() {
    survives_a_kill("refresh:before-call").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_the_refresh_is_in_flight_loses_nothing() {
    survives_a_kill("in-flight").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_after_the_answer_before_the_keyring_write_loses_nothing() {
    // The service has rotated the refresh token; the keyring still holds the old one, which the
    // service accepts for a grace period.
    survives_a_kill("refresh:after-answer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_after_the_keyring_write_loses_nothing() {
    survives_a_kill("refresh:after-save").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_refresh_token_asks_for_a_login_once_and_cached_roles_stay_served() {
    rejected_refresh(400, "InvalidGrantException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_client_registration_on_refresh_asks_for_a_login_once() {
    rejected_refresh(401, "InvalidClientException").await;
}

/// The refresh right after the login is refused with `error`, as the service refuses a revoked
/// refresh token or a registration it no longer knows.
async fn rejected_refresh(status_code: u16, error: &str) {
    let emulator = emulator().await;
    let faults = json!([
        {"operation": "CreateToken", "delay_ms": 0},
        {"operation": "CreateToken", "status": status_code, "error": error}
    ]);
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1, "access_token_ttl": 600, "faults": faults}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, &format!("rejected-{status_code}"));
    world.start_agent();
    let cached = stdout_of(&world.run(&["credential-process", "--profile", "dev"]));

    wait_for("the session to need a login", async || {
        status(&world)["sessions"][0]["logged_in"] == false
    })
    .await;
    let session = &status(&world)["sessions"][0];
    let error = session["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("sso-agent login --sso-session {}", world.session)),
        "{error}"
    );
    let item = keyring_item(&world.session).unwrap();
    assert!(item["token"].is_null(), "the dead token left the keyring");

    // No retry loop on a refusal: one refresh call in 2 s.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        count(&calls(&emulator).await, "CreateToken", None),
        2,
        "login poll + one refresh"
    );
    // The role credentials already fetched are still valid and still served.
    assert_eq!(
        stdout_of(&world.run(&["credential-process", "--profile", "dev"])),
        cached
    );
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_slower_than_the_sdk_timeout_is_retried_not_waited_for() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "slow");
    world.start_agent();
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    // The next GetRoleCredentials hangs for 15 s, past the 10 s attempt limit.
    scenario(
        &emulator,
        json!({"faults": [{"operation": "GetRoleCredentials", "delay_ms": 15000}]}),
    )
    .await;
    stdout_of(&world.run(&["credential-process", "--profile", "readonly"]));
    let outcomes: Vec<Value> = calls(&emulator)
        .await
        .iter()
        .filter(|call| call["operation"] == "GetRoleCredentials")
        .map(|call| call["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [json!("ok"), json!("abandoned"), json!("ok")],
        "timed out, retried once"
    );
    world.run(&["logout", "--all"]);
}
