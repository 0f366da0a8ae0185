//! `exec`, `export`, completions and the man page, through the real binary and agent against
//! the emulator; the commands `exec` runs are real processes (sh, Debian's boto3, bash).

mod common;

use common::home::{approving_world, credentials, stdout_of, AgentHome, BIN};
use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

/// A logged-in world (logins approve themselves) with a `regional` profile in eu-west-1.
async fn logged_in_world(label: &str) -> (sso_agent::emulator::RunningEmulator, AgentHome) {
    let (emulator, world) = approving_world(label).await;
    let config = world.home.join(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[profile regional]\nsso_session = {}\nsso_account_id = 222233334444\nsso_role_name = Developer\nregion = eu-west-1\n",
        world.session
    ));
    std::fs::write(&config, text).unwrap();
    (emulator, world)
}

/// `env -0` output as a map.
fn environment_of(output: &[u8]) -> HashMap<String, String> {
    output
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (name, value) = entry.split_once('=')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_hands_the_command_the_keys_and_region_and_removes_the_profile() {
    let (emulator, world) = logged_in_world("exec-env").await;
    let output = world
        .command(&["exec", "--profile", "regional", "--", "env", "-0"])
        .env("AWS_PROFILE", "someone-else")
        .env("AWS_DEFAULT_PROFILE", "someone-else")
        .env("AWS_SECURITY_TOKEN", "stale")
        // An `ecs-env` grant inherited from the shell: neither used nor seen by the command.
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:1/profile/x",
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "inherited-grant")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let env = environment_of(&output.stdout);
    let expected = credentials(&world, "regional");
    assert_eq!(
        env["AWS_ACCESS_KEY_ID"],
        expected["AccessKeyId"].as_str().unwrap()
    );
    assert_eq!(
        env["AWS_SECRET_ACCESS_KEY"],
        expected["SecretAccessKey"].as_str().unwrap()
    );
    assert_eq!(
        env["AWS_SESSION_TOKEN"],
        expected["SessionToken"].as_str().unwrap()
    );
    assert_eq!(
        env["AWS_CREDENTIAL_EXPIRATION"],
        expected["Expiration"].as_str().unwrap()
    );
    assert!(
        emulator
            .state
            .issued_secrets()
            .contains(&env["AWS_SECRET_ACCESS_KEY"]),
        "the emulator issued this key"
    );
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "eu-west-1");
    assert_eq!(env["SSO_AGENT_PROFILE"], "regional");
    for removed in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SECURITY_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    ] {
        assert!(!env.contains_key(removed), "{removed} is removed");
    }
    // A profile without a region leaves the caller's region as it was.
    let output = world
        .command(&["exec", "--profile", "dev", "--", "env", "-0"])
        .env("AWS_REGION", "ap-south-1")
        .output()
        .unwrap();
    let env = environment_of(&output.stdout);
    assert_eq!(env["AWS_REGION"], "ap-south-1");
    assert!(!env.contains_key("AWS_DEFAULT_REGION"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_becomes_the_command_its_pid_its_exit_status_and_its_signals() {
    let (_emulator, world) = logged_in_world("exec-proc").await;
    // The same pid: no wrapper process stays between the caller and the command.
    let child = world
        .command(&["exec", "--profile", "dev", "--", "sh", "-c", "echo $$"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        pid.to_string()
    );

    let status = world
        .run(&["exec", "--profile", "dev", "--", "sh", "-c", "exit 7"])
        .status;
    assert_eq!(status.code(), Some(7));

    // A signal sent to the pid the caller knows reaches the command.
    let mut child = world
        .command(&[
            "exec",
            "--profile",
            "dev",
            "--",
            "sh",
            "-c",
            "echo ready; sleep 30",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    common::home::signal(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().signal(), Some(15));

    // Arguments pass as they are, with no shell in between.
    let output = world.run(&[
        "exec",
        "--profile",
        "dev",
        "--",
        "printf",
        "%s|",
        "a b",
        "$HOME",
        "--profile",
    ]);
    assert_eq!(stdout_of(&output), "a b|$HOME|--profile|");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_refuses_nesting_and_says_why_a_command_cannot_run() {
    let (_emulator, world) = logged_in_world("exec-refuse").await;
    let output = world.run(&[
        "exec",
        "--profile",
        "dev",
        "--",
        BIN,
        "exec",
        "--profile",
        "staging",
        "--",
        "true",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("already inside `sso-agent exec` for profile dev"),
        "{stderr}"
    );

    let output = world.run(&["exec", "--profile", "dev", "--", "no-such-command-here"]);
    assert_eq!(output.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot run no-such-command-here"),
        "{stderr}"
    );

    let output = world.run(&["exec", "--profile", "no-such-profile", "--", "true"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-profile"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_under_exec_uses_the_environment_keys() {
    let (_emulator, world) = logged_in_world("exec-boto3").await;
    let script =
        "import boto3; c = boto3.Session().get_credentials(); print(c.method, c.access_key)";
    let output = world
        .command(&[
            "exec",
            "--profile",
            "dev",
            "--",
            "/usr/bin/python3",
            "-c",
            script,
        ])
        .env("AWS_PROFILE", "dev")
        .output()
        .unwrap();
    let printed = stdout_of(&output);
    let expected = credentials(&world, "dev");
    assert_eq!(
        printed.trim(),
        format!("env {}", expected["AccessKeyId"].as_str().unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_prints_each_format_and_the_env_lines_work_in_a_shell() {
    let (_emulator, world) = logged_in_world("export").await;
    let expected = credentials(&world, "regional");
    let key = expected["AccessKeyId"].as_str().unwrap();
    let secret = expected["SecretAccessKey"].as_str().unwrap();

    // env: eval'd by a real sh, which then has exactly the values.
    let lines = stdout_of(&world.run(&["export", "--profile", "regional"]));
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{lines}\nprintf '%s %s %s %s' \"$AWS_ACCESS_KEY_ID\" \"$AWS_SECRET_ACCESS_KEY\" \"$AWS_REGION\" \"${{AWS_PROFILE-unset}}\""))
        .env("AWS_PROFILE", "someone-else")
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&output),
        format!("{key} {secret} eu-west-1 unset")
    );

    let json: Value = serde_json::from_str(&stdout_of(&world.run(&[
        "export",
        "--profile",
        "regional",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(json, expected, "json is the credential_process JSON");

    let ini = stdout_of(&world.run(&["export", "--profile", "regional", "--format", "ini"]));
    assert!(ini.starts_with("[regional]\n"), "{ini}");
    assert!(
        ini.contains(&format!("aws_access_key_id = {key}\n")),
        "{ini}"
    );
    assert!(
        ini.contains(&format!("aws_secret_access_key = {secret}\n")),
        "{ini}"
    );

    // Without --profile, AWS_PROFILE names it, as for the AWS CLI.
    let from_env = world
        .command(&["export", "--format", "json"])
        .env("AWS_PROFILE", "regional")
        .output()
        .unwrap();
    let from_env: Value = serde_json::from_str(&stdout_of(&from_env)).unwrap();
    assert_eq!(from_env, expected);

    // A name that cannot be a [section] is refused rather than written wrong.
    let refused = world.run(&["export", "--profile", "odd]name", "--format", "ini"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("cannot be a [section]"),
        "{refused:?}"
    );
    assert!(refused.stdout.is_empty());

    // The reader went away before the credentials were written (a pipe whose reading end is
    // closed): one clear line, not an I/O error's name.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let closed = world
        .command(&["export", "--profile", "regional"])
        .stdout(writer)
        .output()
        .unwrap();
    assert!(!closed.status.success());
    let said = String::from_utf8_lossy(&closed.stderr);
    assert!(
        said.contains("the output was closed before the credentials were written"),
        "{said}"
    );

    let fish = stdout_of(&world.run(&["export", "--profile", "regional", "--format", "fish"]));
    assert!(
        fish.contains(&format!("set -gx AWS_ACCESS_KEY_ID '{key}'")),
        "{fish}"
    );
    assert!(fish.contains("set -e AWS_PROFILE"), "{fish}");
    let powershell =
        stdout_of(&world.run(&["export", "--profile", "regional", "--format", "powershell"]));
    assert!(
        powershell.contains(&format!("$Env:AWS_ACCESS_KEY_ID = '{key}'")),
        "{powershell}"
    );

    // Nothing but the secrets on stdout, and no warning when stdout is not a terminal.
    let output = world
        .command(&["export", "--profile", "regional"])
        .env_remove("SSO_AGENT_LOG")
        .output()
        .unwrap();
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_a_terminal_warns_on_stderr() {
    let (_emulator, world) = logged_in_world("export-tty").await;
    // `script` gives the command a real pty for stdout and stderr; its own typescript goes nowhere.
    let output = world
        .program("script")
        .args([
            "-qec",
            &format!("{BIN} export --profile dev --format json"),
            "/dev/null",
        ])
        .output()
        .expect("`script` runs (util-linux; scripts/test installs it)");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("warning: these are live credentials"),
        "{shown}"
    );
    assert!(shown.contains("\"AccessKeyId\""), "{shown}");
}

/// Runs bash's completion function for `line` in a real interactive bash that loaded the
/// script `sso-agent completions bash` printed; the candidates.
fn bash_completes(world: &AgentHome, line: &str) -> Vec<String> {
    let script = world.root.join("completion.bash");
    std::fs::write(&script, stdout_of(&world.run(&["completions", "bash"]))).unwrap();
    // Split at spaces, as bash does: not at an escaped one (`my\ d` is one word).
    let mut words: Vec<&str> = Vec::new();
    let mut start = 0;
    for (at, _) in line.match_indices(' ') {
        if !line[..at].ends_with('\\') {
            words.push(&line[start..at]);
            start = at + 1;
        }
    }
    words.push(&line[start..]);
    // A word in single quotes for the driver's own source.
    let quoted = |word: &str| format!("'{}'", word.replace('\'', r"'\''"));
    let last = words[words.len() - 1];
    let driver = format!(
        "source {script}\nfunction=$(complete -p sso-agent | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')\n[ -n \"$function\" ] || exit 3\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE={line}\nCOMP_POINT=${{#COMP_LINE}}\n\"$function\" sso-agent {cur} {previous}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script = script.display(),
        words = words.iter().map(|w| quoted(w)).collect::<Vec<_>>().join(" "),
        cword = words.len() - 1,
        line = quoted(line),
        // As bash 4 and later pass the word being completed: without an opening quote.
        cur = quoted(last.strip_prefix(['\'', '"']).unwrap_or(last)),
        previous = quoted(words[words.len() - 2]),
    );
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let output = world
        .program("bash")
        .args(["--norc", "--noprofile", "-i", "-c", &driver])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bash_completes_subcommands_flags_and_profile_names() {
    let emulator = emulator().await;
    let world = AgentHome::new(&emulator, "complete");
    let subcommands = bash_completes(&world, "sso-agent ex");
    assert!(subcommands.contains(&"exec".to_string()), "{subcommands:?}");
    assert!(
        subcommands.contains(&"export".to_string()),
        "{subcommands:?}"
    );
    assert!(
        !subcommands.contains(&"login".to_string()),
        "{subcommands:?}"
    );
    let flags = bash_completes(&world, "sso-agent exec --pro");
    assert_eq!(flags, ["--profile"]);
    let profiles = bash_completes(&world, "sso-agent export --profile ");
    for profile in ["dev", "readonly", "staging"] {
        assert!(profiles.contains(&profile.to_string()), "{profiles:?}");
    }
    let sessions = bash_completes(&world, "sso-agent login --sso-session corp");
    assert_eq!(sessions, std::slice::from_ref(&world.session));
    let profiles = bash_completes(&world, "sso-agent exec --profile st");
    assert_eq!(profiles, ["staging"]);

    // A name with a space is one candidate, quoted for the shell; a name is never run.
    let config = world.home.join(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    for name in ["my dev", "x$(touch $HOME/ran)"] {
        text.push_str(&format!(
            "\n[profile \"{name}\"]\nsso_session = {}\nsso_account_id = 111122223333\nsso_role_name = Developer\n",
            world.session
        ));
    }
    std::fs::write(&config, text).unwrap();
    for (typed, offered) in [
        ("my", r"my\ dev"),
        (r"my\ d", r"my\ dev"),
        // After an opening quote the name goes in as it is (readline closes the quote).
        ("'my", "my dev"),
        ("\"my", "my dev"),
        ("x", r"x\$\(touch\ \$HOME/ran\)"),
    ] {
        let line = format!("sso-agent exec --profile {typed}");
        assert_eq!(bash_completes(&world, &line), [offered], "{line}");
    }
    assert!(
        !world.home.join("ran").exists(),
        "completion ran a profile's name"
    );
}

#[test]
fn the_man_page_and_every_completion_script_come_from_the_parser() {
    let page = Command::new(BIN).arg("man").output().unwrap();
    let page = stdout_of(&page);
    assert!(page.contains(".TH sso-agent 1"), "{page}");
    for subcommand in ["exec", "export", "ecs\\-env", "completions", "login"] {
        assert!(page.contains(subcommand), "{subcommand} in the page");
    }
    let dir = std::env::temp_dir().join(format!("sso-agent-man-{}", std::process::id()));
    stdout_of(
        &Command::new(BIN)
            .args(["man", "--dir"])
            .arg(&dir)
            .output()
            .unwrap(),
    );
    let exec_page = std::fs::read_to_string(dir.join("sso-agent-exec.1")).unwrap();
    assert!(exec_page.contains("\\-\\-ecs"), "{exec_page}");
    let _ = std::fs::remove_dir_all(&dir);
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(
            &Command::new(BIN)
                .args(["completions", shell])
                .output()
                .unwrap(),
        );
        assert!(script.contains("ecs-env"), "{shell} completes ecs-env");
    }
}

#[test]
fn every_subcommand_help_says_what_it_does_with_an_example() {
    let top = stdout_of(&Command::new(BIN).arg("--help").output().unwrap());
    let subcommands: Vec<String> = top
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect();
    assert!(subcommands.len() >= 15, "{subcommands:?}");
    for subcommand in subcommands {
        let help = stdout_of(
            &Command::new(BIN)
                .args([&subcommand, "--help"])
                .output()
                .unwrap(),
        );
        assert!(
            help.contains("Example"),
            "`{subcommand} --help` has an example:\n{help}"
        );
        assert!(
            help.lines().next().is_some_and(|line| line.len() > 20),
            "`{subcommand} --help` says what it does:\n{help}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_prompt_on_a_terminal_is_shown_once_and_never_beside_a_refusal() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 2})).await;
    let mut world = AgentHome::new(&emulator, "prompt-once");
    world.start_agent();
    // On a terminal (stderr is the pty): the prompt once, then the credentials.
    let output = world
        .program("script")
        .args([
            "-qec",
            &format!("{BIN} export --profile dev --format json"),
            "/dev/null",
        ])
        .env_remove("SSO_AGENT_LOGIN_WAIT")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(shown.matches("needs a login: open").count(), 1, "{shown}");
    assert!(shown.contains("\"AccessKeyId\""), "{shown}");

    // No terminal, no notification: one line, the refusal, which names the login under way
    // (its link and code) and the command, never a prompt beside it.
    world.run(&["logout", "--all"]);
    // setsid: no controlling terminal either, whoever runs the suite.
    let output = world
        .program("setsid")
        .args([BIN, "export", "--profile", "dev"])
        .stdin(std::process::Stdio::null())
        .env_remove("SSO_AGENT_LOGIN_WAIT")
        .env_remove("SSO_AGENT_LOG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("there is no terminal or desktop notification"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("confirm the code").count(), 1, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
