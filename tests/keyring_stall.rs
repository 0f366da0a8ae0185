//! The real Secret Service stops answering mid-run (stopped with SIGSTOP, as one waiting on an
//! unlock prompt nobody sees): the agent keeps serving from memory, says "not saved" in
//! `status`, a logout does not hang, and nothing is lost — a retry or a normal stop writes the
//! newest tokens once the keyring answers again. Runs in a keyring session of its own, since
//! stopping the keyring would stall every other test's.

mod common;

use common::home::{keyring_item, signal, stdout_of, AgentHome};
use common::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_keyring_that_stops_answering_loses_nothing() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/with-keyring");
    let output = Command::new(script)
        .env("SSO_AGENT_TEST_NEW_SESSION", "1")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_keyring_stops_answering",
            "--nocapture",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The pid of the process that owns the Secret Service name on this session bus.
fn keyring_pid() -> u32 {
    let output = Command::new("dbus-send")
        .args(["--session", "--print-reply", "--dest=org.freedesktop.DBus"])
        .args([
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
        ])
        .arg("string:org.freedesktop.secrets")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .last()
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no Secret Service on the bus: {text}"))
}

fn session_status(world: &AgentHome) -> Value {
    let status: Value =
        serde_json::from_str(&stdout_of(&world.run(&["status", "--json"]))).unwrap();
    status["sessions"][0].clone()
}

fn logins(calls: &[Value]) -> usize {
    calls
        .iter()
        .filter(|call| call["operation"] == "StartDeviceAuthorization")
        .count()
}

async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_keyring_that_stops_answering_loses_nothing in a keyring session of its own"]
async fn child_keyring_stops_answering() {
    let keyring = keyring_pid();
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "stall");
    let with_short_store_timeout = |command: &mut Command| {
        command.env("SSO_AGENT_STORE_TIMEOUT_MS", "1000");
    };
    let agent = world.start_agent_with(with_short_store_timeout);
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    let first = keyring_item(&world.session).unwrap();

    // The keyring stops answering; a new login brings tokens it cannot take.
    signal(keyring, "STOP");
    let relogin = world.run(&["login", "--force", "--no-browser"]);
    let session = session_status(&world);
    signal(keyring, "CONT");
    stdout_of(&relogin);
    let error = session["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("not saved") && error.contains("did not answer"),
        "{session}"
    );
    assert_eq!(
        session["logged_in"], true,
        "the session goes on from memory"
    );

    // The retry writes them once the keyring answers.
    wait_for("the retried write", || {
        session_status(&world)["last_error"].is_null()
    })
    .await;
    let retried = keyring_item(&world.session).unwrap();
    assert_ne!(
        retried["token"], first["token"],
        "the new tokens are in the keyring"
    );

    // Stopped again: serving goes on, and a normal stop right after the keyring comes back
    // (before any retry is due) still writes what it lacks.
    signal(keyring, "STOP");
    stdout_of(&world.run(&["login", "--force", "--no-browser"]));
    stdout_of(&world.run(&["credential-process", "--profile", "staging"]));
    signal(keyring, "CONT");
    signal(agent, "TERM");
    world.wait_agent(agent);
    let saved = keyring_item(&world.session).unwrap();
    assert_ne!(
        saved["token"], retried["token"],
        "the stop saved the newest tokens"
    );

    // Restarted, the agent uses them: no new login.
    let before = logins(&calls(&emulator).await);
    world.start_agent_with(with_short_store_timeout);
    stdout_of(&world.run(&["credential-process", "--profile", "readonly"]));
    assert_eq!(logins(&calls(&emulator).await), before);

    // A logout while the keyring does not answer ends in bounded time, says so, and the item
    // goes once the keyring answers.
    signal(keyring, "STOP");
    let started = Instant::now();
    let logout = world.run(&["logout", "--all"]);
    let took = started.elapsed();
    signal(keyring, "CONT");
    let stderr = String::from_utf8_lossy(&logout.stderr);
    assert!(
        !logout.status.success() && stderr.contains("not removed yet"),
        "{stderr}"
    );
    assert!(
        took < Duration::from_secs(30),
        "the logout did not hang: {took:?}"
    );
    wait_for("the removal", || keyring_item(&world.session).is_none()).await;
}
