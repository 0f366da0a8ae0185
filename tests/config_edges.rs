//! The config file's edges through the real agent: what the helper says for a section the AWS CLI
//! would ignore, and for a file that is not UTF-8 (one line, not the file's bytes in a log).

mod common;

use common::home::{credentials, AgentHome};
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

/// Starts the agent with its periodic look at the file an hour apart: only a file event can make
/// it see an edit.
fn start_agent_seeing_events_only(world: &mut AgentHome) {
    world.start_agent_with(|command| {
        command.env("SSO_AGENT_CONFIG_RECHECK_MS", "3600000");
    });
}

/// Waits (a bounded while: the event is handled on the watcher's thread, just after the save)
/// for `profile` to be served.
fn eventually_served(world: &AgentHome, profile: &str) {
    for _ in 0..50 {
        let output = world.run(&["credential-process", "--profile", profile]);
        if output.status.success() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("profile {profile} was not served after the edit");
}

/// The agent learns of edits from file events, not a `stat` per request: an editor's save (a new
/// file renamed over the old one) is served without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_saved_by_rename_is_served_without_a_restart() {
    let emulator = emulator().await;
    scenario(
        &emulator,
        serde_json::json!({"auto_approve_after_polls": 1}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "rename");
    start_agent_seeing_events_only(&mut world);
    credentials(&world, "dev");
    let path = world.home.join(".aws/config");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config = config.replace("[profile readonly]", "[profile renamed-in]");
    let saved = world.home.join(".aws/.config.swp");
    std::fs::write(&saved, config).unwrap();
    std::fs::rename(&saved, &path).unwrap();
    eventually_served(&world, "renamed-in");
    let gone = world.run(&["credential-process", "--profile", "readonly"]);
    assert!(!gone.status.success(), "the old profile is still served");
}

/// A config that is a symlink (a dotfiles checkout): an edit of the file it points to is seen
/// too, though it raises no event in ~/.aws: the target's directory is watched as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_behind_a_symlinked_config_is_served() {
    let emulator = emulator().await;
    scenario(
        &emulator,
        serde_json::json!({"auto_approve_after_polls": 1}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "symlinked");
    let dotfiles = world.home.join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    let path = world.home.join(".aws/config");
    std::fs::rename(&path, dotfiles.join("aws-config")).unwrap();
    std::os::unix::fs::symlink(dotfiles.join("aws-config"), &path).unwrap();
    start_agent_seeing_events_only(&mut world);
    credentials(&world, "dev");
    let session = world.session.clone();
    append(
        &world,
        &format!("\n[profile added]\nsso_session = {session}\nsso_account_id = 111122223333\nsso_role_name = ReadOnly\n"),
    );
    eventually_served(&world, "added");
}

/// Where no watch can be set (the config's directory does not exist when the agent starts), a
/// request that found no file makes the next one look again, so the file that appears later is
/// served at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_whose_directory_appears_later_is_served() {
    let emulator = emulator().await;
    scenario(
        &emulator,
        serde_json::json!({"auto_approve_after_polls": 1}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "latedir");
    let config = std::fs::read(world.home.join(".aws/config")).unwrap();
    let later = world.home.join("later/aws");
    let file = later.join("config");
    world.start_agent_with(|command| {
        command.env("AWS_CONFIG_FILE", &file);
    });
    let before = world
        .command(&["credential-process", "--profile", "dev"])
        .env("AWS_CONFIG_FILE", &file)
        .output()
        .unwrap();
    assert!(!before.status.success(), "served a profile from no file");
    std::fs::create_dir_all(&later).unwrap();
    std::fs::write(&file, config).unwrap();
    let after = world
        .command(&["credential-process", "--profile", "dev"])
        .env("AWS_CONFIG_FILE", &file)
        .output()
        .unwrap();
    assert!(
        after.status.success(),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
}
