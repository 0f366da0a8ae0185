//! What the commands say: every flag's `--help` line, the login on a box with no display, and the
//! command a legacy profile's session is logged in with.

mod common;

use common::home::{stdout_of, AgentHome, BIN};
use common::*;
use serde_json::json;
use std::io::BufRead;
use std::process::{Command, Stdio};

fn help(args: &[&str]) -> String {
    let output = Command::new(BIN).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The lines of a `--help` section (`Commands:`, `Options:`), up to the next heading.
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|line| line.trim() != title)
        .skip(1)
        .take_while(|line| line.is_empty() || line.starts_with(' '))
        .filter(|line| !line.trim().is_empty())
        .collect()
}

/// `--profile` is required unless AWS_PROFILE is set: the error says both, and other missing
/// arguments get no such tip.
#[test]
fn a_missing_profile_names_aws_profile_too() {
    for args in [
        &["exec", "--", "true"][..],
        &["export"],
        &["console", "--print"],
        &["ecs-env"],
    ] {
        let output = Command::new(BIN)
            .args(args)
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--profile") && stderr.contains("or set AWS_PROFILE"),
            "{args:?}: {stderr}"
        );
    }
    // A missing command, and a --profile that AWS_PROFILE does not give.
    for args in [
        &["exec", "--profile", "dev"][..],
        &["credential-process"],
        &["license", "import"],
    ] {
        let output = Command::new(BIN)
            .args(args)
            .env("AWS_PROFILE", "dev")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("AWS_PROFILE"), "{args:?}: {stderr}");
    }
}

#[test]
fn every_flag_of_every_subcommand_has_a_description() {
    let top = help(&["help"]);
    let subcommands: Vec<&str> = section(&top, "Commands:")
        .into_iter()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(subcommands.len() >= 8, "{top}");
    let mut missing = Vec::new();
    for subcommand in subcommands {
        let text = help(&["help", subcommand]);
        // `  -p, --profile <PROFILE>  What it is`, or (clap's long layout, once an option has
        // possible values with their own help) the description on the lines below the flag.
        let lines = section(&text, "Options:");
        for (at, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            // A flag (`-p`, `--profile`), not a possible value's `- env: …` line.
            let is_flag = |text: &str| text.starts_with('-') && !text.starts_with("- ");
            if !is_flag(trimmed) {
                continue;
            }
            let same_line = trimmed
                .split_once("  ")
                .is_some_and(|(_, description)| !description.trim().is_empty());
            let next_line = lines.get(at + 1).is_some_and(|next| {
                let next = next.trim_start();
                !next.is_empty() && !is_flag(next)
            });
            if !(same_line || next_line) {
                missing.push(format!("{subcommand}: {}", line.trim()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "options without a description: {missing:#?}"
    );
}

/// Starts `sso-agent ARGS` with the given environment changes, reads its stdout to the
/// "Waiting for approval" line, approves the code it printed, and returns everything it printed.
async fn login_approved(
    world: &AgentHome,
    emulator: &sso_agent::emulator::RunningEmulator,
    args: &[&str],
    configure: impl FnOnce(&mut Command),
) -> String {
    let mut command = world.command(args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    configure(&mut command);
    let mut login = command.spawn().unwrap();
    let mut stdout = std::io::BufReader::new(login.stdout.take().unwrap());
    let mut printed = String::new();
    let mut user_code = None;
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let output = login.wait_with_output().unwrap();
            panic!("{printed}{}", String::from_utf8_lossy(&output.stderr));
        }
        printed.push_str(&line);
        if let Some(code) = line.trim().strip_prefix("code") {
            user_code = Some(code.trim().to_string());
        }
        if line.starts_with("Waiting for approval") {
            break;
        }
    }
    control(
        emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": user_code.expect("a code was printed")}),
    )
    .await;
    let output = tokio::task::spawn_blocking(move || login.wait_with_output().unwrap())
        .await
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(
        output.status.success(),
        "{printed}{rest}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed + &rest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_no_display_does_not_claim_to_open_a_browser() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "nodisplay");
    world.start_agent();
    let session = world.session.clone();
    let printed = login_approved(
        &world,
        &emulator,
        &["login", "--sso-session", &session],
        |command| {
            command
                .env_remove("DISPLAY")
                .env_remove("WAYLAND_DISPLAY")
                .env_remove("BROWSER");
        },
    )
    .await;
    assert!(!printed.contains("Opened the page"), "{printed}");
    assert!(
        printed.contains("No browser here (no DISPLAY, WAYLAND_DISPLAY or BROWSER): open the link above on any device."),
        "{printed}"
    );
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_profiles_session_is_logged_in_by_the_command_messages_give() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "legacy");
    let url = format!("https://legacy-{}.awsapps.com/start", world.session);
    let config = world.home.join(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[profile old]\nsso_start_url = {url}\nsso_region = us-east-1\nsso_account_id = 111122223333\nsso_role_name = Developer\n"
    ));
    std::fs::write(&config, text).unwrap();
    world.start_agent();
    // The agent's messages name `login --sso-session <start URL>` for such a session
    // (oidc::error, the credential_process helper): the agent must take it.
    let printed = login_approved(
        &world,
        &emulator,
        &["login", "--sso-session", &url, "--no-browser"],
        |_| {},
    )
    .await;
    assert!(
        printed.contains(&format!("Logged in to sso-session {url}")),
        "{printed}"
    );
    let again = world.run(&["login", "--profile", "old", "--no-browser"]);
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(again.contains("Already logged in"), "{again}");
    let listed = |world: &AgentHome| {
        let status = stdout_of(&world.run(&["status", "--json"]));
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        status["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|session| session["name"] == url.as_str() && session["logged_in"] == true)
    };
    assert!(
        listed(&world),
        "a legacy session stays while a profile names it"
    );
    // Its profile leaves the file: the session is no longer kept (nor refreshed).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let without = std::fs::read_to_string(&config).unwrap();
    let without = &without[..without.find("\n[profile old]").unwrap()];
    std::fs::write(&config, without).unwrap();
    assert!(
        !listed(&world),
        "a legacy session goes with its last profile"
    );
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_set_by_a_variable_is_named() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "unreachable");
    // A loopback port nobody listens on.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let endpoint = dead.clone();
    world.start_agent_with(move |command| {
        command.env("AWS_ENDPOINT_URL_SSO_OIDC", &endpoint);
    });
    let session = world.session.clone();
    let output = world.run(&["login", "--sso-session", &session, "--no-browser"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "check that {dead} (set by AWS_ENDPOINT_URL_SSO_OIDC) is running and reachable"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("sso_region"), "{stderr}");
}
