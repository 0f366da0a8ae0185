//! The config file's edges through the real agent: what the helper says for a section the AWS CLI
//! would ignore, and for a file that is not UTF-8 (one line, not the file's bytes in a log).

mod common;

use common::home::AgentHome;
use common::*;

fn append(world: &AgentHome, text: &str) {
    let path = world.home.join(".aws/config");
    let mut config = std::fs::read(&path).unwrap();
    config.extend_from_slice(text.as_bytes());
    std::fs::write(&path, config).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helper_names_an_ignored_section_and_why() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "ignored");
    let session = world.session.clone();
    append(
        &world,
        &format!("\n[profile my test]\nsso_session = {session}\nsso_account_id = 111122223333\nsso_role_name = Developer\n"),
    );
    world.start_agent();
    let output = world.run(&["credential-process", "--profile", "my test"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("there is no [profile my test]")
            && stderr.contains(
                "ignored because a name with spaces must be quoted, as in [profile \"my test\"]"
            ),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_utf8_is_one_clear_line() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "latin1");
    world.start_agent();
    let path = world.home.join(".aws/config");
    let mut config = std::fs::read(&path).unwrap();
    config.extend_from_slice(b"\n# caf\xe9\n");
    std::fs::write(&path, config).unwrap();
    let output = world.run(&["credential-process", "--profile", "dev"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not UTF-8 text"), "{stderr}");
    assert!(stderr.contains("save it as UTF-8"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let logs = world.logs();
    assert!(!logs.contains("did not contain utf-8"), "{logs}");
}
