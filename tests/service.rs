//! The always-on service: install-service, the units (checked by systemd-analyze), the plist
//! (parsed by plistlib), socket activation through systemd-socket-activate, and sd_notify.
//! This machine has no user systemd manager and no launchctl: the commands are shown, not run.

mod common;

use common::home::{signal, stdout_of, AgentHome, BIN};
use common::*;
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scratch(label: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("sso-agent-service-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sso_agent(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap()
}

fn systemd_analyze_verify(
    runtime_dir: &std::path::Path,
    units: &[std::path::PathBuf],
) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .args(units)
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .output()
        .expect("systemd-analyze runs (scripts/test installs systemd)")
}

#[test]
fn install_service_print_shows_units_and_commands_and_writes_nothing() {
    let home = scratch("print");
    let out = stdout_of(&sso_agent(&home, &["install-service", "--print"]));
    let binary = std::fs::canonicalize(BIN).unwrap();
    assert!(
        out.contains(&format!("ExecStart={} daemon", binary.display())),
        "{out}"
    );
    assert!(
        out.contains("ListenStream=%t/sso-agent/agent.sock"),
        "{out}"
    );
    assert!(
        out.contains("systemctl --user enable --now sso-agent.socket sso-agent.service"),
        "{out}"
    );
    assert!(!home.join(".config").exists(), "--print writes nothing");
    std::fs::remove_dir_all(home).unwrap();
}

#[test]
fn installed_units_pass_systemd_analyze_and_uninstall_removes_them() {
    let home = scratch("install");
    let out = stdout_of(&sso_agent(&home, &["install-service"]));
    let dir = home.join(".config/systemd/user");
    let units = [dir.join("sso-agent.socket"), dir.join("sso-agent.service")];
    for unit in &units {
        assert!(out.contains(&format!("wrote {}", unit.display())), "{out}");
    }
    assert!(
        out.contains("run these once it is"),
        "no user manager here, so the commands are shown: {out}"
    );

    let runtime = scratch("runtime");
    let verified = systemd_analyze_verify(&runtime, &units);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    // The check can fail: a unit with a relative ExecStart is refused.
    let broken = runtime.join("broken.service");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&units[1])
            .unwrap()
            .replace("ExecStart=/", "ExecStart="),
    )
    .unwrap();
    assert!(!systemd_analyze_verify(&runtime, &[broken]).status.success());

    let out = stdout_of(&sso_agent(&home, &["uninstall-service"]));
    assert!(units.iter().all(|unit| !unit.exists()), "{out}");
    std::fs::remove_dir_all(home).unwrap();
    std::fs::remove_dir_all(runtime).unwrap();
}

#[test]
fn the_launch_agent_plist_parses_with_plistlib() {
    let dir = scratch("plist");
    let plist = dir.join("io.github.sso-agent.plist");
    std::fs::write(
        &plist,
        sso_agent::service::launchd_plist(
            std::path::Path::new("/opt/bin/sso-agent"),
            &dir.join("sock"),
        ),
    )
    .unwrap();
    let script = "import json, plistlib, sys\n\
                  p = plistlib.load(open(sys.argv[1], 'rb'))\n\
                  print(json.dumps(p))";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&plist)
        .output()
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(parsed["Label"], "io.github.sso-agent");
    assert_eq!(
        parsed["ProgramArguments"],
        json!(["/opt/bin/sso-agent", "daemon"])
    );
    let listener = &parsed["Sockets"]["Listeners"];
    assert_eq!(listener["SockPathMode"], 384, "0600");
    let socket = dir.join("sock/agent.sock").display().to_string();
    assert_eq!(listener["SockPathName"], socket.as_str());
    assert_eq!(
        parsed["EnvironmentVariables"]["SSO_AGENT_SOCKET"],
        socket.as_str()
    );
    assert_eq!(parsed["RunAtLoad"], true);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_handed_over_by_systemd_serves_credentials() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let world = AgentHome::new(&emulator, "activate");
    let dir = world.socket.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();

    // systemd-socket-activate passes on only the variables named with -E.
    let environment = world.command(&[]);
    let mut command = Command::new("systemd-socket-activate");
    command.arg("-l").arg(&world.socket);
    for (name, _) in environment.get_envs() {
        command.arg("-E").arg(name);
    }
    command.args(["-E", "DBUS_SESSION_BUS_ADDRESS", BIN, "daemon"]);
    command.envs(environment.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let log = std::fs::File::create(world.root.join("agent-activated.log")).unwrap();
    let mut manager = command.stdout(Stdio::null()).stderr(log).spawn().unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while !world.socket.exists() {
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate did not listen"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The first connection starts the agent on the inherited socket.
    let credentials = stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    assert!(credentials.contains("\"Version\":1"), "{credentials}");
    assert!(
        world
            .logs()
            .contains("socket handed over by the service manager"),
        "{}",
        world.logs()
    );
    let _ = manager.kill();
    let _ = manager.wait();
    let _ = world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reports_ready_and_stopping_to_notify_socket() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "notify");
    let notify_path = world.root.join("notify.sock");
    let notifications = UnixDatagram::bind(&notify_path).unwrap();
    notifications
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let pid = world.start_agent_with(|command| {
        command.env("NOTIFY_SOCKET", &notify_path);
    });
    let mut buf = [0u8; 256];
    let n = notifications.recv(&mut buf).expect("READY=1 within 10 s");
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().trim(), "READY=1");
    // Ready means the socket answers.
    stdout_of(&world.run(&["status"]));
    signal(pid, "TERM");
    let n = notifications
        .recv(&mut buf)
        .expect("STOPPING=1 at shutdown");
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().trim(), "STOPPING=1");
    assert!(world.wait_agent(pid).success());
}
