//! `profiles` and `configure` through the real binary and agent against the emulator: the
//! listing over many pages, the config file edited byte for byte, a second run, `--prune`, and
//! Debian's boto3, the AWS CLI and aws-sdk-rust resolving a generated profile through the real
//! helper binary.

mod common;

use common::home::{stdout_of, AgentHome};
use common::*;
use serde_json::{json, Value};
use sso_agent::emulator::fixture::{Account, User};
use sso_agent::emulator::{Fixture, RunningEmulator};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const HELPER: &str = env!("CARGO_BIN_EXE_sso-agent-credential-process");

fn account(id: &str, name: &str, roles: &[&str]) -> Account {
    Account {
        account_id: id.to_string(),
        account_name: name.to_string(),
        email_address: format!("aws+{name}@example.com"),
        roles: roles.iter().map(|role| role.to_string()).collect(),
        disabled_regions: Vec::new(),
    }
}

/// A world on an emulator with `fixture`, its agent running; logins approve themselves (as the
/// fixture's first user).
async fn world_with(fixture: Fixture, label: &str) -> (RunningEmulator, AgentHome) {
    let emulator = RunningEmulator::start("127.0.0.1:0".parse().unwrap(), fixture)
        .await
        .expect("the emulator starts on loopback");
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, label);
    world.start_agent();
    (emulator, world)
}

fn config_path(world: &AgentHome) -> std::path::PathBuf {
    world.home.join(".aws/config")
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_lists_every_account_and_role_over_every_page() {
    // More accounts than one ListAccounts page (20) and more roles in one account than one
    // ListAccountRoles page.
    let many_roles: Vec<String> = (0..27).map(|n| format!("Role{n:02}")).collect();
    let many_roles: Vec<&str> = many_roles.iter().map(String::as_str).collect();
    let mut accounts = vec![account("100000000000", "Big Account", &many_roles)];
    for n in 1..24 {
        accounts.push(account(
            &format!("1000000000{n:02}"),
            &format!("team-{n:02}"),
            &["Developer"],
        ));
    }
    let expected: BTreeSet<(String, String, String)> = accounts
        .iter()
        .flat_map(|account| {
            account.roles.iter().map(|role| {
                (
                    account.account_id.clone(),
                    role.clone(),
                    format!("{}/{role}", account.account_name.replace(' ', "-")),
                )
            })
        })
        .collect();
    let (emulator, world) = world_with(
        Fixture {
            accounts,
            users: Vec::new(),
            licenses: Vec::new(),
        },
        "profiles-pages",
    )
    .await;

    // Not logged in yet: the listing waits for the login (approved by the emulator) first.
    let listed: Value =
        serde_json::from_str(&stdout_of(&world.run(&["profiles", "--json"]))).unwrap();
    assert_eq!(listed["session"], world.session.as_str());
    assert_eq!(listed["region"], "us-east-1");
    let roles = listed["roles"].as_array().unwrap();
    let got: BTreeSet<(String, String, String)> = roles
        .iter()
        .map(|role| {
            (
                role["account_id"].as_str().unwrap().to_string(),
                role["role_name"].as_str().unwrap().to_string(),
                role["profile"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(roles.len(), 27 + 23, "each role once");
    assert_eq!(got, expected);
    assert_eq!(roles[0]["account_name"], "Big Account");

    let calls = calls(&emulator).await;
    assert!(
        count(&calls, "ListAccounts", None) >= 2,
        "ListAccounts paged"
    );
    // One call per account, and a second page for the big one.
    assert_eq!(count(&calls, "ListAccountRoles", None), 24 + 1);

    // The table: a header, then one line per role with its profile name.
    let table = stdout_of(&world.run(&["profiles"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ACCOUNT NAME"), "{table}");
    assert_eq!(lines.len(), 1 + 50);
    assert!(
        lines.iter().any(|line| line.contains("100000000000")
            && line.contains("Role26")
            && line.ends_with("Big-Account/Role26")),
        "{table}"
    );
    // A custom template shows the names configure would write with it.
    let custom = stdout_of(&world.run(&["profiles", "--template", "<account-id>.<role-name>"]));
    assert!(custom.contains("100000000005.Developer"), "{custom}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_sessions_need_a_choice_and_a_bad_template_says_what_to_use() {
    let (_emulator, world) = world_with(Fixture::default(), "configure-choice").await;
    let config = config_path(&world);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[sso-session second]\nsso_start_url = https://second.awsapps.com/start\nsso_region = eu-west-1\n",
    );
    std::fs::write(&config, &text).unwrap();
    for command in ["profiles", "configure"] {
        let output = world.run(&[command]);
        assert!(!output.status.success());
        let stderr = stderr_of(&output);
        assert!(
            stderr.contains("several sso-sessions") && stderr.contains("--sso-session"),
            "{stderr}"
        );
        assert!(
            stderr.contains("second") && stderr.contains(&world.session),
            "{stderr}"
        );
    }
    let output = world.run(&[
        "configure",
        "--sso-session",
        &world.session,
        "--template",
        "<account>/<role-name>",
    ]);
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("unknown placeholder <account>") && stderr.contains("<account-id>"),
        "{stderr}"
    );
    // Two roles given one name: refused before anything is written.
    let output = world.run(&[
        "configure",
        "--sso-session",
        &world.session,
        "--template",
        "<role-name>",
        "--write",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains("add <account-id>"),
        "{}",
        stderr_of(&output)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_the_portal_refuses_is_one_clear_line_and_writes_nothing() {
    let (emulator, world) = world_with(Fixture::default(), "configure-refused").await;
    stdout_of(&world.run(&["profiles"])); // logged in
    let config = config_path(&world);
    let before = std::fs::read(&config).unwrap();
    // An account that went away between ListAccounts and its ListAccountRoles, every retry.
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1,
               "faults": [{"operation": "ListAccountRoles", "status": 404, "count": 10}]}),
    )
    .await;
    let output = world.run(&["configure", "--write"]);
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert_eq!(
        stderr.trim(),
        "sso-agent: IAM Identity Center refused ListAccountRoles (ResourceNotFoundException)"
    );
    assert_eq!(std::fs::read(&config).unwrap(), before);
    assert!(!world.home.join(".aws/config.bak").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_keeps_the_hand_written_file_byte_for_byte_and_a_second_run_changes_nothing() {
    let (emulator, world) = world_with(Fixture::default(), "configure-write").await;
    let config = config_path(&world);
    // A hand-written file with comments, odd spacing, a profile that has a generated name, and
    // no newline at its end.
    let mut original = std::fs::read_to_string(&config).unwrap();
    original.push_str(
        "\n; my notes\n[default]\nregion = eu-west-1   # mine\n\n[profile dev/Developer]\n\
         credential_process = sso-agent-credential-process --profile dev\n  # indented comment\n\
         output = json\n\n# last words, no newline",
    );
    std::fs::write(&config, &original).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();

    // Without --write: a diff on stdout, the file as it was.
    let output = world.run(&["configure"]);
    let diff = stdout_of(&output);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    assert!(diff.contains("+[profile dev/ReadOnly]"), "{diff}");
    assert!(diff.contains("+[profile prod/ReadOnly]"), "{diff}");
    assert!(
        stderr_of(&output).contains("--write"),
        "{}",
        stderr_of(&output)
    );

    // A reader that stops early (`configure | head`): no panic, the same advice on stderr.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let cut = world
        .command(&["configure"])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(cut.status.code(), Some(0), "{}", stderr_of(&cut));
    assert!(!stderr_of(&cut).contains("panicked"), "{}", stderr_of(&cut));
    assert!(stderr_of(&cut).contains("--write"), "{}", stderr_of(&cut));

    let output = world.run(&["configure", "--write"]);
    stdout_of(&output);
    let stderr = stderr_of(&output);
    // The hand-written profile with a generated name is skipped, said so, and kept.
    assert!(stderr.contains("skipped dev/Developer"), "{stderr}");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        written.starts_with(&original),
        "every byte of the hand-written file stays where it was"
    );
    let generated = &written[original.len()..];
    // Default fixture: dev has 3 roles, staging 2, prod 1; dev/Developer is the user's.
    assert_eq!(generated.matches("[profile ").count(), 5, "{generated}");
    assert_eq!(generated.matches("sso_agent_generated = true").count(), 5);
    assert!(generated.contains(
        "[profile staging/ReadOnly]\n# Written by `sso-agent configure`, which rewrites this section: keep your own keys in another profile.\n\
         sso_agent_generated = true\nsso_agent_session = "
    ));
    assert!(generated.contains(
        "credential_process = sso-agent-credential-process --profile staging/ReadOnly\nregion = us-east-1\n"
    ));
    // No key that would make an SDK use its own SSO provider instead of the helper.
    for key in [
        "sso_session",
        "sso_account_id",
        "sso_role_name",
        "sso_start_url",
    ] {
        assert!(
            !generated
                .lines()
                .any(|line| line.starts_with(&format!("{key} "))),
            "{key} in {generated}"
        );
    }
    let backup = world.home.join(".aws/config.bak");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&config), 0o640);

    // The agent serves a generated profile: the credentials of its account and role.
    let credentials = common::home::credentials(&world, "staging/ReadOnly");
    let key = credentials["AccessKeyId"].as_str().unwrap();
    {
        let state = emulator.state.lock();
        let issued = &state.role_credentials[key];
        assert_eq!(
            (issued.account_id.as_str(), issued.role_name.as_str()),
            ("222233334444", "ReadOnly")
        );
    }

    // A second run: nothing to change, and it says so; the file and its backup stay.
    let output = world.run(&["configure", "--write"]);
    stdout_of(&output);
    assert!(
        stderr_of(&output).contains("nothing to change"),
        "{}",
        stderr_of(&output)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), written);
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
    let output = world.run(&["configure"]);
    assert_eq!(stdout_of(&output), "", "no diff");

    // A new template renames the generated sections where they are; the rest stays.
    let output = world.run(&[
        "configure",
        "--template",
        "<account-id>-<role-name>",
        "--write",
    ]);
    stdout_of(&output);
    let renamed = std::fs::read_to_string(&config).unwrap();
    assert!(renamed.starts_with(&original));
    assert!(
        renamed.contains("[profile 222233334444-ReadOnly]"),
        "{renamed}"
    );
    assert!(!renamed.contains("[profile staging/ReadOnly]"), "{renamed}");
    assert_eq!(renamed[original.len()..].matches("[profile ").count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_the_generated_profiles_of_roles_that_are_gone() {
    // alice (the first user, whom logins approve themselves as) has two roles; bob only one.
    let fixture = Fixture {
        accounts: vec![account("111122223333", "dev", &["Developer", "ReadOnly"])],
        users: vec![
            User {
                name: "alice".into(),
                assignments: [(
                    "111122223333".to_string(),
                    vec!["Developer".into(), "ReadOnly".into()],
                )]
                .into_iter()
                .collect(),
            },
            User {
                name: "bob".into(),
                assignments: [("111122223333".to_string(), vec!["Developer".into()])]
                    .into_iter()
                    .collect(),
            },
        ],
        licenses: Vec::new(),
    };
    let (emulator, world) = world_with(fixture, "configure-prune").await;
    let config = config_path(&world);
    let original = std::fs::read_to_string(&config).unwrap();
    stdout_of(&world.run(&["configure", "--write"]));
    let as_alice = std::fs::read_to_string(&config).unwrap();
    assert!(as_alice.contains("[profile dev/ReadOnly]"));
    assert!(as_alice.contains("[profile dev/Developer]"));

    // The same session, now logged in as bob, who has no ReadOnly.
    stdout_of(&world.run(&["logout", "--sso-session", &world.session]));
    scenario(&emulator, json!({})).await;
    let mut login = world
        .command(&["login", "--sso-session", &world.session, "--no-browser"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let code = wait_for_code(&world, &mut login);
    control(
        &emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": code, "user": "bob"}),
    )
    .await;
    assert!(wait_bounded(&mut login, Duration::from_secs(30)).is_some_and(|s| s.success()));

    // Without --prune the gone role's profile stays, and the run says how to remove it.
    let output = world.run(&["configure", "--write"]);
    stdout_of(&output);
    assert!(
        stderr_of(&output).contains("--prune"),
        "{}",
        stderr_of(&output)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), as_alice);

    let output = world.run(&["configure", "--write", "--prune"]);
    stdout_of(&output);
    assert!(
        stderr_of(&output).contains("1 removed"),
        "{}",
        stderr_of(&output)
    );
    let pruned = std::fs::read_to_string(&config).unwrap();
    assert!(!pruned.contains("[profile dev/ReadOnly]"), "{pruned}");
    // What is left is the hand-written file and the one generated section, as the first run
    // wrote it.
    let developer_section = &as_alice[as_alice.find("[profile dev/Developer]").unwrap()..];
    let developer_section = &developer_section[..developer_section
        .find("\n\n")
        .map_or(developer_section.len(), |end| end + 1)];
    assert_eq!(pruned, format!("{original}\n{developer_section}"));
}

/// The pending login's user code, from `status`, while `login` waits (30 s at most).
fn wait_for_code(world: &AgentHome, login: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "no login started");
        assert!(login.try_wait().unwrap().is_none(), "login ended early");
        let status = common::home::status(world);
        if let Some(code) = status["sessions"][0]["pending_login"]["user_code"].as_str() {
            return code.to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Set in the child process the aws-sdk-rust test starts (itself, with the world's environment):
/// resolve this profile through aws-sdk-rust's profile chain and print the key.
const SDK_PROFILE_VAR: &str = "SSO_AGENT_TEST_SDK_PROFILE";

/// PATH with the helper first, as the generated `credential_process` names it without a path.
fn path_with_helper() -> String {
    let helper_dir = std::path::Path::new(HELPER).parent().unwrap();
    format!(
        "{}:{}",
        helper_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_sdk_rust_resolves_a_generated_profile_through_the_helper() {
    if let Ok(profile) = std::env::var(SDK_PROFILE_VAR) {
        // The child: HOME, AWS_CONFIG_FILE and SSO_AGENT_SOCKET are the world's, in this
        // process's own environment, as the SDK and the helper it runs read them.
        use aws_credential_types::provider::ProvideCredentials;
        let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_name(&profile)
            .build()
            .provide_credentials()
            .await
            .expect("aws-sdk-rust resolves the profile");
        println!("sdk-key {}", credentials.access_key_id());
        return;
    }
    let (emulator, world) = world_with(Fixture::default(), "configure-sdk").await;
    stdout_of(&world.run(&["configure", "--write"]));
    let output = world
        .program(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "aws_sdk_rust_resolves_a_generated_profile_through_the_helper",
            "--nocapture",
        ])
        .env(SDK_PROFILE_VAR, "staging/Developer")
        .env("PATH", path_with_helper())
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    let printed = stdout_of(&output);
    let key = printed
        .lines()
        .find_map(|line| line.strip_prefix("sdk-key "))
        .unwrap_or_else(|| panic!("{printed}"));
    let state = emulator.state.lock();
    let issued = state
        .role_credentials
        .get(key)
        .expect("the emulator issued the key aws-sdk-rust got");
    assert_eq!(
        (issued.account_id.as_str(), issued.role_name.as_str()),
        ("222233334444", "Developer")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_the_aws_cli_resolve_a_generated_profile_through_the_helper() {
    let (emulator, world) = world_with(Fixture::default(), "configure-boto3").await;
    stdout_of(&world.run(&["configure", "--write"]));
    let path = path_with_helper();
    let script = "import boto3\n\
                  s = boto3.Session(profile_name='dev/AdministratorAccess')\n\
                  c = s.get_credentials()\n\
                  f = c.get_frozen_credentials()\n\
                  print(c.method, s.region_name, f.access_key)";
    let output = world
        .program("/usr/bin/python3")
        .args(["-c", script])
        .env("PATH", &path)
        .output()
        .unwrap();
    let printed = stdout_of(&output);
    let words: Vec<&str> = printed.split_whitespace().collect();
    assert_eq!(words[..2], ["custom-process", "us-east-1"], "{printed}");
    let state = emulator.state.lock();
    let issued = state
        .role_credentials
        .get(words[2])
        .expect("the emulator issued the key boto3 got");
    assert_eq!(
        (issued.account_id.as_str(), issued.role_name.as_str()),
        ("111122223333", "AdministratorAccess")
    );
    drop(state);

    // The AWS CLI reads the same section the same way: the helper, and the role's key (the
    // agent's cached one, so the same as boto3's).
    let output = world
        .program("aws")
        .args(["configure", "list", "--profile", "dev/AdministratorAccess"])
        .env("PATH", &path)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .output()
        .unwrap();
    let listed = stdout_of(&output);
    let access_key = listed
        .lines()
        .find(|line| line.trim_start().starts_with("access_key"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(access_key.contains("custom-process"), "{listed}");
    assert!(
        access_key.contains(&words[2][words[2].len() - 4..]),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_prompts_for_a_login_as_the_helper_does() {
    let (_emulator, world) = world_with(Fixture::default(), "profiles-prompt").await;
    // On a terminal (stderr is the pty): the prompt once, then the table.
    let output = world
        .program("script")
        .args([
            "-qec",
            &format!("{} profiles", common::home::BIN),
            "/dev/null",
        ])
        .env_remove("SSO_AGENT_LOGIN_WAIT")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(shown.matches("needs a login: open").count(), 1, "{shown}");
    assert!(shown.contains("staging/ReadOnly"), "{shown}");

    // No terminal, no notification: one line that says what to run, at once.
    stdout_of(&world.run(&["logout", "--all"]));
    let output = world
        .program("setsid")
        .args([common::home::BIN, "configure"])
        .stdin(Stdio::null())
        .env_remove("SSO_AGENT_LOGIN_WAIT")
        .env_remove("SSO_AGENT_LOG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("there is no terminal or desktop notification")
            && stderr.contains(&format!("sso-agent login --sso-session {}", world.session)),
        "{stderr}"
    );
    assert_eq!(output.stdout, b"", "no diff without the listing");
}
