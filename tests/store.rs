//! The real keyring stores: gnome-keyring's Secret Service (scripts/with-keyring starts one,
//! unlocked, in a private D-Bus session) and the kernel's keyutils.

use sso_agent::secret::Secret;
use sso_agent::store::{self, SessionRecord, StoreChoice, StoreError, StoreKind, TokenSet};
use std::process::Command;

fn require_session_bus() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run the suite with scripts/test (or scripts/with-keyring cargo test)"
    );
}

fn unique(name: &str) -> String {
    format!("test-{name}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn record(canary: &str) -> SessionRecord {
    SessionRecord {
        token: Some(TokenSet {
            access_token: Secret::new(format!("{canary}-access")),
            expires_at: 1_900_000_000,
            refresh_token: Some(Secret::new(format!("{canary}-refresh"))),
        }),
        ..SessionRecord::new("https://corp.example/start", "us-east-1")
    }
}

fn secret_tool_lookup(session: &str) -> Option<String> {
    let output = Command::new("secret-tool")
        .args(["lookup", "service", "sso-agent", "username", session])
        .output()
        .expect("secret-tool runs (scripts/test installs libsecret-tools)");
    output
        .status
        .success()
        .then(|| String::from_utf8(output.stdout).unwrap())
}

#[test]
fn secret_service_round_trip_is_one_item_secret_tool_can_see() {
    require_session_bus();
    let opened = store::open(StoreChoice::Only(StoreKind::SecretService)).unwrap();
    let store = opened.store;
    assert_eq!(store.kind(), StoreKind::SecretService);
    let session = unique("ss");
    assert_eq!(store.load(&session).unwrap(), None);

    let first = record("canary-1");
    store.save(&session, &first).unwrap();
    assert_eq!(store.load(&session).unwrap(), Some(first));
    let second = record("canary-2");
    store.save(&session, &second).unwrap();
    assert_eq!(store.load(&session).unwrap(), Some(second));

    // One item, replaced in place, holding the whole record as JSON.
    let raw = secret_tool_lookup(&session).expect("the item is in the Secret Service");
    let value: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(value["token"]["access_token"], "canary-2-access");
    assert!(!raw.contains("canary-1"));

    store.delete(&session).unwrap();
    store.delete(&session).unwrap();
    assert_eq!(store.load(&session).unwrap(), None);
    assert_eq!(secret_tool_lookup(&session), None);
}

#[test]
fn auto_picks_the_secret_service_when_it_works() {
    require_session_bus();
    let opened = store::open(StoreChoice::Auto).unwrap();
    assert_eq!(opened.store.kind(), StoreKind::SecretService);
    assert!(opened.passed_over.is_empty());
}

#[test]
fn a_corrupt_item_is_reported_without_its_content_and_left_alone() {
    require_session_bus();
    let session = unique("corrupt");
    let mut child = Command::new("secret-tool")
        .args([
            "store",
            "--label=corrupt",
            "service",
            "sso-agent",
            "username",
            &session,
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"token\": \"canary-corrupt\"")
        .unwrap();
    assert!(child.wait().unwrap().success());

    let store = store::open(StoreChoice::Only(StoreKind::SecretService))
        .unwrap()
        .store;
    let err = store.load(&session).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&session) && !message.contains("canary"),
        "{message}"
    );
    assert_eq!(
        secret_tool_lookup(&session).as_deref(),
        Some("{\"token\": \"canary-corrupt\""),
        "nothing was lost"
    );
    store.delete(&session).unwrap();
}

#[test]
fn keyutils_round_trip_or_a_clear_refusal_where_the_kernel_denies_it() {
    let opened = store::open(StoreChoice::Only(StoreKind::Keyutils));
    if std::env::var_os("SSO_AGENT_TEST_KEYUTILS").is_some() {
        let store = opened
            .expect("keyutils works inside `keyctl session`")
            .store;
        let session = unique("keyutils");
        let record = record("canary-k");
        store.save(&session, &record).unwrap();
        assert_eq!(store.load(&session).unwrap(), Some(record));
        store.delete(&session).unwrap();
        assert_eq!(store.load(&session).unwrap(), None);
    } else {
        eprintln!("keyutils is denied on this machine: testing the refusal instead of the store");
        let err = opened
            .err()
            .expect("keyutils cannot work without a session keyring");
        assert!(err.to_string().contains("keyctl session"), "{err}");
    }
}

/// Runs `child_in_a_locked_session` in a new D-Bus session whose keyring is locked, so the lock
/// does not reach the other tests.
#[test]
fn a_locked_secret_service_is_refused_and_auto_steps_down() {
    require_session_bus();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/with-keyring");
    let mut command = Command::new(script);
    command
        .env("SSO_AGENT_TEST_NEW_SESSION", "1")
        .env("SSO_AGENT_TEST_LOCK_KEYRING", "1")
        .arg(std::env::current_exe().unwrap());
    run_child_test(command, "child_in_a_locked_session");
}

/// Runs the ignored test `name` of this binary through `command`; it must pass.
fn run_child_test(mut command: Command, name: &str) {
    let output = command
        .args(["--ignored", "--exact", name, "--nocapture"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
#[ignore = "run by a_locked_secret_service_is_refused_and_auto_steps_down in a locked session"]
fn child_in_a_locked_session() {
    let err = store::open(StoreChoice::Only(StoreKind::SecretService))
        .err()
        .expect("a locked collection cannot be used");
    assert!(matches!(err, StoreError::NoAccess { .. }), "{err}");
    assert!(
        err.to_string().contains("gnome-keyring-daemon --unlock"),
        "{err}"
    );

    let opened = store::open(StoreChoice::Auto).unwrap();
    assert_ne!(opened.store.kind(), StoreKind::SecretService);
    assert!(
        opened.passed_over[0].contains("secret-service"),
        "{:?}",
        opened.passed_over
    );
    let expected = if std::env::var_os("SSO_AGENT_TEST_KEYUTILS").is_some() {
        StoreKind::Keyutils
    } else {
        StoreKind::Memory
    };
    assert_eq!(opened.store.kind(), expected);
}

/// Runs `child_without_a_session_bus` with a D-Bus address nothing listens on.
#[test]
fn no_session_bus_is_a_clear_error_and_auto_steps_down() {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.env(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/sso-agent-test-bus",
    );
    run_child_test(command, "child_without_a_session_bus");
}

#[test]
#[ignore = "run by no_session_bus_is_a_clear_error_and_auto_steps_down without a bus"]
fn child_without_a_session_bus() {
    let err = store::open(StoreChoice::Only(StoreKind::SecretService))
        .err()
        .expect("no bus, no Secret Service");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("start a Secret Service"), "{err}");
    let opened = store::open(StoreChoice::Auto).unwrap();
    assert_ne!(opened.store.kind(), StoreKind::SecretService);
    assert_eq!(
        opened.passed_over.len() + 1,
        match opened.store.kind() {
            StoreKind::Keyutils => 2,
            _ => 3,
        }
    );
}

#[test]
fn a_license_token_is_its_own_item_beside_a_session_of_the_same_name() {
    require_session_bus();
    let store = store::open(StoreChoice::Only(StoreKind::SecretService))
        .unwrap()
        .store;
    let name = unique("license");
    let license = store::LicenseRecord {
        token: Secret::new("canary-refresh-jwt"),
        token_id: "t-1".into(),
        license_arn: "arn:aws:license-manager::111122223333:license:l-1".into(),
        expires_at: 1_900_000_000,
        source_profile: Some("dev".into()),
    };
    store.save(&name, &record("canary-session")).unwrap();
    store.save_license(&name, &license).unwrap();
    assert_eq!(store.load_license(&name).unwrap(), Some(license));
    let lookup = Command::new("secret-tool")
        .args(["lookup", "service", "sso-agent-license", "username", &name])
        .output()
        .unwrap();
    let item: serde_json::Value = serde_json::from_slice(&lookup.stdout).unwrap();
    assert_eq!(item["token"], "canary-refresh-jwt");
    // Removing the license item leaves the session's, and the other way round.
    store.delete_license(&name).unwrap();
    assert_eq!(store.load_license(&name).unwrap(), None);
    assert!(store.load(&name).unwrap().is_some());
    store.delete(&name).unwrap();
    store.delete_license(&name).unwrap();
}
