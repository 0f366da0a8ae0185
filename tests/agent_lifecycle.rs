//! The agent's life as the client sees it: autostart detaches it properly, `sso-agent stop` ends
//! it, an autostarted agent of another protocol version is replaced by itself, and the small
//! helper behaves as a command should (`--help`, `--version`, `--profile=P`, a clear message when
//! `sso-agent` is not installed beside it, no empty `Expiration`).

mod common;

use common::home::{stdout_of, AgentHome};
use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

const HELPER: &str = env!("CARGO_BIN_EXE_sso-agent-credential-process");

/// Kills a process by pid when the test ends (an autostarted agent is not the test's child).
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(')')
            .unwrap()
            .1
            .trim_start()
            .starts_with('Z')
    })
}

fn status_pid(world: &AgentHome, autostart: bool) -> u32 {
    let mut command = world.command(&["status", "--json"]);
    if autostart {
        command.env_remove("SSO_AGENT_NO_AUTOSTART");
    }
    let output = command.output().unwrap();
    let status: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    status["pid"].as_u64().unwrap() as u32
}

#[test]
fn autostart_detaches_the_agent_and_stop_ends_it_and_removes_its_socket() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let world = AgentHome::new(&emulator, "detach");
    let pid = status_pid(&world, true);
    let _guard = KillOnDrop(pid);

    // /proc/PID/stat: "pid (comm) state ppid pgrp session ..."
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(
        fields[3],
        pid.to_string(),
        "a session of its own (setsid): {stat}"
    );
    assert_eq!(
        fields[2],
        pid.to_string(),
        "and its own process group: {stat}"
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        std::path::Path::new("/"),
        "it runs in / (holds no directory of the shell that started it)"
    );
    assert!(world.socket.exists());

    let output = world.run(&["stop"]);
    let stdout = stdout_of(&output);
    assert!(
        stdout.contains(&format!("Stopped the agent (pid {pid})")),
        "{stdout}"
    );
    assert!(!alive(pid), "the agent exited");
    assert!(!world.socket.exists(), "its socket is gone");
    assert!(
        !world.socket.with_extension("autostarted").exists(),
        "and the autostart marker"
    );
    let log = std::fs::read_to_string(world.socket.with_file_name("agent.log")).unwrap();
    assert!(log.contains("asked to stop over the socket"), "{log}");
    assert!(
        log.contains("agent stopped"),
        "graceful, as on SIGTERM: {log}"
    );

    // With no agent, stop says so and starts none.
    let output = world
        .command(&["stop"])
        .env_remove("SSO_AGENT_NO_AUTOSTART")
        .output()
        .unwrap();
    assert!(stdout_of(&output).contains("No agent is running"));
    assert!(!world.socket.exists(), "stop never starts an agent");
}

#[test]
fn stop_ends_an_agent_started_by_hand() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let mut world = AgentHome::new(&emulator, "stop");
    let pid = world.start_agent();
    stdout_of(&world.run(&["stop"]));
    assert!(world.wait_agent(pid).success(), "a clean exit");
    assert!(!world.socket.exists());
}

/// Stopping an agent whose logins live in its memory says they are gone; with a keyring, or
/// with nobody logged in, it says nothing of the kind.
#[test]
fn stop_says_when_the_logins_it_ends_were_in_memory_only() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    runtime.block_on(scenario(&emulator, json!({"auto_approve_after_polls": 1})));
    let mut world = AgentHome::new(&emulator, "stop-memory");
    let lost = "are gone with it";
    for (store, log_in, said) in [
        ("memory", false, false),
        ("memory", true, true),
        ("secret-service", true, false),
    ] {
        let pid = world.start_agent_with(|agent| {
            agent.env("SSO_AGENT_STORE", store);
        });
        if log_in {
            stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
        }
        let output = world.run(&["stop"]);
        stdout_of(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.contains(lost),
            said,
            "{store}, logged in {log_in}: {stderr}"
        );
        if said {
            assert!(stderr.contains(&world.session), "{stderr}");
            assert!(stderr.contains("sso-agent login"), "{stderr}");
        }
        assert!(world.wait_agent(pid).success());
    }
    // The keyring's login is the next agent's: logged out here, with it.
    world.start_agent();
    stdout_of(&world.run(&["logout", "--all"]));
}

/// An agent of another protocol version on the socket: a small listener that answers every
/// request as an older agent does, and removes its socket when it gets SIGTERM.
fn old_agent(socket: &std::path::Path) -> std::process::Child {
    let script = r#"
import json, os, signal, socket, struct, sys
path = sys.argv[1]
def bye(*_):
    os.unlink(path)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(16)
print("ready", flush=True)
answer = json.dumps({"type": "error", "kind": "bad_request",
    "message": "the agent speaks protocol 0 and the request protocol 1; restart the agent so both are the same version"}).encode()
while True:
    c, _ = s.accept()
    try:
        n = struct.unpack(">I", c.recv(4, socket.MSG_WAITALL))[0]
        c.recv(n, socket.MSG_WAITALL)
        c.sendall(struct.pack(">I", len(answer)) + answer)
    except Exception:
        pass
    c.close()
"#;
    let dir = socket.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut child = Command::new("python3")
        .args(["-c", script, &socket.display().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test installs it)");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    child
}

#[test]
fn an_autostarted_agent_of_another_version_is_replaced_by_itself() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let world = AgentHome::new(&emulator, "upgrade");

    // Not marked as autostarted: it is left alone, and the message says what to do.
    let mut foreign = old_agent(&world.socket);
    let output = world
        .command(&["status"])
        .env_remove("SSO_AGENT_NO_AUTOSTART")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("restart the agent"), "{stderr}");
    assert!(
        foreign.try_wait().unwrap().is_none(),
        "an agent it did not start is not stopped"
    );
    let _ = foreign.kill();
    let _ = foreign.wait();
    let _ = std::fs::remove_file(&world.socket);

    // Marked as autostarted (the pid autostart wrote): stopped, replaced, the request answered.
    let mut old = old_agent(&world.socket);
    std::fs::write(
        world.socket.with_extension("autostarted"),
        format!("{}\n", old.id()),
    )
    .unwrap();
    let output = world
        .command(&["status", "--json"])
        .env_remove("SSO_AGENT_NO_AUTOSTART")
        .output()
        .unwrap();
    let status: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    let new_pid = status["pid"].as_u64().unwrap() as u32;
    let _guard = KillOnDrop(new_pid);
    assert_ne!(new_pid, old.id());
    let exit = old.wait().unwrap();
    assert!(
        exit.success(),
        "the old agent got SIGTERM and exited: {exit:?}"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("restarted the agent"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout_of(&world.run(&["stop"]));
}

#[test]
fn the_small_helper_has_help_and_version_and_takes_profile_with_an_equals_sign() {
    let help = Command::new(HELPER).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--profile"), "{text}");
    let version = Command::new(HELPER).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(
        String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{}",
        String::from_utf8_lossy(&version.stdout)
    );
    let usage = Command::new(HELPER).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&usage.stderr).lines().count(), 1);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    runtime.block_on(scenario(&emulator, json!({"auto_approve_after_polls": 1})));
    let mut world = AgentHome::new(&emulator, "equals");
    world.start_agent();
    stdout_of(&world.run(&["login", "--sso-session", &world.session, "--no-browser"]));
    let from_subcommand = stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    let environment = world.command(&[]);
    let output = Command::new(HELPER)
        .arg("--profile=dev")
        .envs(environment.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&output), from_subcommand);
    world.run(&["logout", "--all"]);
}

#[test]
fn the_helper_installed_alone_names_the_agent_it_looked_for() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let world = AgentHome::new(&emulator, "alone");
    let bin = world.root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("sso-agent-credential-process");
    std::fs::copy(HELPER, &helper).unwrap();
    let environment = world.command(&[]);
    let output = Command::new(&helper)
        .args(["--profile", "dev"])
        .envs(environment.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("SSO_AGENT_NO_AUTOSTART")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&bin.join("sso-agent").display().to_string()),
        "names the path it tried: {stderr}"
    );
    assert!(
        stderr.contains("cargo install"),
        "says how to install it: {stderr}"
    );
    assert!(
        !stderr.contains("agent.log"),
        "names no empty log: {stderr}"
    );
}

/// A fake agent in a private directory that answers credentials with an empty Expiration.
#[test]
fn an_empty_expiration_is_never_printed() {
    let dir = std::env::temp_dir().join(format!("sso-agent-noexp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = dir.join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let agent = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).unwrap();
        let mut request = vec![0u8; u32::from_be_bytes(header) as usize];
        stream.read_exact(&mut request).unwrap();
        let answer = sso_agent::protocol::Response::Credentials(sso_agent::protocol::Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
            expiration: String::new(),
        });
        stream
            .write_all(&sso_agent::protocol::encode(&answer))
            .unwrap();
    });
    let output = Command::new(HELPER)
        .args(["--profile", "dev"])
        .env("SSO_AGENT_SOCKET", &socket)
        .env("SSO_AGENT_NO_AUTOSTART", "1")
        .output()
        .unwrap();
    agent.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing printed");
    assert!(stderr.contains("without an expiration"), "{stderr}");
}
