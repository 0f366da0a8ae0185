//! Never wait silently: the AWS CLI keeps a `credential_process` helper's stderr to itself, so a
//! login's code must reach the person on their terminal, and without a terminal (or a desktop
//! notification) the helper must fail at once, naming the command that logs in. The AWS CLI runs
//! the real helper under `script` (a real pty), against the real agent and the emulator.

mod common;

use common::home::{stdout_of, AgentHome};
use common::*;
use serde_json::{json, Value};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HELPER: &str = env!("CARGO_BIN_EXE_sso-agent-credential-process");

/// Adds `[profile via-helper]`, whose credentials come from the small helper for `dev`.
fn add_helper_profile(world: &AgentHome) {
    let config = world.home.join(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[profile via-helper]\ncredential_process = {HELPER} --profile dev\nregion = us-east-1\n"
    ));
    std::fs::write(config, text).unwrap();
}

/// The world's environment for a program other than `sso-agent`, with no "wait anyway".
fn command_in(world: &AgentHome, program: &str) -> Command {
    let environment = world.command(&[]);
    let mut command = Command::new(program);
    command
        .envs(environment.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("SSO_AGENT_LOGIN_WAIT")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .stdin(Stdio::null());
    command
}

/// Everything a child writes to stdout, collected as it comes.
fn collect_stdout(child: &mut Child) -> Arc<Mutex<String>> {
    let collected = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = collected.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    collected
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a child at most `limit`, killing it if it takes longer.
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

fn pending_code(world: &AgentHome) -> Option<String> {
    let status: Value = serde_json::from_str(&stdout_of(&world.run(&["status", "--json"]))).ok()?;
    status["sessions"][0]["pending_login"]["user_code"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_shows_the_code_on_the_terminal_and_gets_the_key_once_approved() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "tty");
    world.start_agent();
    add_helper_profile(&world);

    let mut aws = command_in(&world, "script")
        .args([
            "-qec",
            "aws configure list --profile via-helper",
            "/dev/null",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` runs (util-linux; scripts/test installs it)");
    let terminal = collect_stdout(&mut aws);

    let mut code = None;
    wait_for("the agent's pending login", Duration::from_secs(60), || {
        code = pending_code(&world);
        code.is_some()
    });
    let code = code.unwrap();
    wait_for("the code on the terminal", Duration::from_secs(30), || {
        terminal.lock().unwrap().contains(&code)
    });
    {
        let shown = terminal.lock().unwrap().clone();
        assert!(shown.contains("expires in 10 min"), "{shown}");
        assert!(shown.contains("sso-agent login --sso-session"), "{shown}");
    }
    control(
        &emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": code}),
    )
    .await;
    let status = wait_bounded(&mut aws, Duration::from_secs(60)).expect("the AWS CLI finished");
    let shown = terminal.lock().unwrap().clone();
    assert!(status.success(), "{shown}");

    // The key the AWS CLI resolved is the agent's (it shows the last four characters).
    let credentials: Value = serde_json::from_str(&stdout_of(&world.run(&[
        "credential-process",
        "--profile",
        "dev",
    ])))
    .unwrap();
    let key = credentials["AccessKeyId"].as_str().unwrap();
    let masked = format!("****************{}", &key[key.len() - 4..]);
    let access_line = shown
        .lines()
        .find(|line| line.contains("access_key"))
        .unwrap_or_default();
    assert!(access_line.contains(&masked), "{shown}");
    assert!(access_line.contains("custom-process"), "{shown}");
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_or_a_notification_the_helper_fails_at_once_naming_login() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "notty");
    world.start_agent();
    let started = Instant::now();
    let mut command = command_in(&world, HELPER);
    command
        .args(["--profile", "dev"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid in the child before exec: a new session has no controlling terminal.
    unsafe {
        command.pre_exec(|| rustix::process::setsid().map(drop).map_err(Into::into));
    }
    let mut helper = command.spawn().unwrap();
    let mut stderr = String::new();
    let mut pipe = helper.stderr.take().unwrap();
    let status = wait_bounded(&mut helper, Duration::from_secs(30))
        .expect("the helper did not wait for a login nobody was told about");
    pipe.read_to_string(&mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains(&format!("sso-agent login --sso-session {}", world.session)),
        "{stderr}"
    );
    assert!(last.contains("no terminal"), "{stderr}");
    // The login it started is there to finish from anywhere: its link and code are said.
    let code = pending_code(&world).expect("the login waits");
    assert!(
        last.contains(&format!("confirm the code {code}")),
        "{stderr}"
    );
}
