//! Desktop notifications for real: dunst (a freedesktop notification server) under Xvfb on the
//! test's D-Bus session, dbus-monitor recording every Notifications call, and `dunstctl action`
//! clicking the notification as a person would. `scripts/test` installs dunst and xvfb.

mod common;

use common::home::{stdout_of, AgentHome};
use common::*;
use serde_json::{json, Value};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Xvfb + dunst + dbus-monitor, stopped when dropped. One at a time: the tests share the
/// session bus, where one server owns the notifications name.
struct Desktop {
    processes: Vec<Child>,
    monitor: Arc<Mutex<String>>,
    _turn: std::sync::MutexGuard<'static, ()>,
}

static ONE_DESKTOP: Mutex<()> = Mutex::new(());

impl Desktop {
    fn start() -> Self {
        let turn = ONE_DESKTOP
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        assert!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "no D-Bus session: run the suite with scripts/test"
        );
        let spawn = |command: &mut Command| {
            command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        // Xvfb picks a free display itself and writes its number once it listens: a display a
        // killed Xvfb left locked (its /tmp/.X*-lock stays) is never reused.
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "800x600x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut number = String::new();
        {
            use std::io::BufRead;
            let mut out = std::io::BufReader::new(xvfb.stdout.take().unwrap());
            out.read_line(&mut number).unwrap();
        }
        let number = number.trim();
        assert!(!number.is_empty(), "Xvfb did not start");
        let display = format!(":{number}");
        let mut processes = vec![xvfb];
        processes.push(spawn(Command::new("dunst").env("DISPLAY", &display)));
        wait_until("dunst to own org.freedesktop.Notifications", || {
            Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.Notifications",
                ])
                .output()
                .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("boolean true"))
        });
        let mut monitor = Command::new("dbus-monitor")
            .args(["--session", "interface='org.freedesktop.Notifications'"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let text = Arc::new(Mutex::new(String::new()));
        let mut stdout = monitor.stdout.take().unwrap();
        let sink = text.clone();
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
        processes.push(monitor);
        std::thread::sleep(Duration::from_millis(300)); // dbus-monitor's match rule is in place
        Self {
            processes,
            monitor: text,
            _turn: turn,
        }
    }

    fn recorded(&self) -> String {
        self.monitor.lock().unwrap().clone()
    }

    fn wait_for(&self, what: &str, needle: &str) -> String {
        wait_until(what, || self.recorded().contains(needle));
        self.recorded()
    }

    /// Clicks the first notification on screen (its default action).
    fn click(&self) {
        let status = Command::new("dunstctl")
            .args(["action", "0"])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for process in self.processes.iter_mut().rev() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// Polls `ready` for at most 15 s.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pending_code(world: &AgentHome) -> Option<String> {
    let status: Value = serde_json::from_str(&stdout_of(&world.run(&["status", "--json"]))).ok()?;
    status["sessions"][0]["pending_login"]["user_code"]
        .as_str()
        .map(str::to_string)
}

fn browser_script(world: &AgentHome) -> (std::path::PathBuf, std::path::PathBuf) {
    let opened = world.root.join("browser-opened");
    let script = world.root.join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> {}\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script, opened)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_notification_shows_the_code_opens_the_page_and_goes_away_and_an_ending_session_warns(
) {
    let desktop = Desktop::start();
    let emulator = emulator().await;
    // Login part: a session with refresh tokens.
    let mut world = AgentHome::new(&emulator, "desktop");
    let (browser, opened) = browser_script(&world);
    world.start_agent_with(|command| {
        command.env("BROWSER", &browser);
    });
    // No terminal (a session of its own) and no "wait anyway": the helper waits only because
    // the agent says its notification showed the code.
    let mut helper = world.command(&["credential-process", "--profile", "dev"]);
    helper
        .env_remove("SSO_AGENT_LOGIN_WAIT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut helper, || {
            rustix::process::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let mut waiting = helper.spawn().unwrap();
    let mut code = None;
    wait_until("the login to be pending", || {
        code = pending_code(&world);
        code.is_some()
    });
    let code = code.unwrap();

    let recorded = desktop.wait_for("the Notify call", &code);
    let notify = &recorded[recorded.find("member=Notify").expect("a Notify call")..];
    assert!(
        notify.contains(&format!("AWS login needed: {}", world.session)),
        "{notify}"
    );
    assert!(
        notify.contains("string \"default\"") && notify.contains("string \"Open\""),
        "{notify}"
    );

    desktop.click();
    wait_until("the browser to open", || {
        std::fs::read_to_string(&opened).is_ok_and(|url| url.contains(&code))
    });
    let url = std::fs::read_to_string(&opened).unwrap();
    assert_eq!(
        url.trim(),
        format!("{}/device?user_code={code}", emulator.base_url)
    );

    control(
        &emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": code}),
    )
    .await;
    let status = tokio::task::spawn_blocking(move || waiting.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    desktop.wait_for(
        "the notification to be withdrawn",
        "member=CloseNotification",
    );
    world.run(&["logout", "--all"]);
    drop(world);

    // Warning part: a session registered without sso:account:access gets no refresh token; its
    // 10-minute token is inside the 15-minute warning window as soon as it is issued.
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1, "access_token_ttl": 600}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "ending");
    let config = world.home.join(".aws/config");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen(
            "sso_region = us-east-1\n",
            "sso_region = us-east-1\nsso_registration_scopes = openid\n",
            1,
        ),
    )
    .unwrap();
    world.start_agent();
    let before = desktop.recorded().len();
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    let recorded = desktop.wait_for(
        "the warning",
        &format!("AWS session {} ends soon", world.session),
    );
    let warning = &recorded[before..];
    assert!(warning.contains("string \"Log in now\""), "{warning}");

    // "Log in now" starts a new login, which asks for the person with a new notification.
    scenario(&emulator, json!({"access_token_ttl": 600})).await;
    let before = desktop.recorded().len();
    desktop.click();
    let mut code = None;
    wait_until("a new login to be pending", || {
        code = pending_code(&world);
        code.is_some()
    });
    wait_until("its notification", || {
        desktop.recorded()[before..].contains(code.as_deref().unwrap())
    });
    world.run(&["logout", "--all"]);
}

/// The README's main command on a desktop: the demo's agent shows its login code in a real
/// notification while the login waits.
#[test]
fn the_demo_shows_its_login_code_in_a_desktop_notification() {
    let desktop = Desktop::start();
    let output = Command::new(env!("CARGO_BIN_EXE_sso-agent"))
        .arg("demo")
        .env_remove("SSO_AGENT_SOCKET")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("a desktop notification shows the login code"));
    let code = stdout
        .lines()
        .find_map(|line| line.split_once("| ")?.1.trim().strip_prefix("code"))
        .map(str::trim)
        .expect("the demo prints the login code");
    let recorded = desktop.wait_for("the demo's Notify call", code);
    let notify = &recorded[recorded.find("member=Notify").expect("a Notify call")..];
    assert!(notify.contains("AWS login needed: demo"), "{notify}");
}

/// A browser login on a desktop: the agent opens the authorize page at once, its notification's
/// action opens the same page again (not a device page), and the helper waits for it with no
/// terminal, since the person was shown the login on the desktop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_logins_notification_opens_the_authorize_page() {
    let desktop = Desktop::start();
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "desktop-pkce");
    let (browser, opened) = browser_script(&world);
    world.start_agent_with(|command| {
        command.env("BROWSER", &browser).env("DISPLAY", ":99");
    });
    let mut helper = world.command(&["credential-process", "--profile", "dev"]);
    helper
        .env_remove("SSO_AGENT_LOGIN_WAIT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut helper, || {
            rustix::process::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let waiting = helper.spawn().unwrap();
    let recorded = desktop.wait_for(
        "the Notify call",
        &format!("AWS login needed: {}", world.session),
    );
    let notify = &recorded[recorded.find("member=Notify").expect("a Notify call")..];
    assert!(
        notify.contains("Approve the login in your browser"),
        "{notify}"
    );
    wait_until("the agent to open the page", || {
        std::fs::read_to_string(&opened).is_ok_and(|urls| urls.lines().count() == 1)
    });
    desktop.click();
    wait_until("the action to open it again", || {
        std::fs::read_to_string(&opened).is_ok_and(|urls| urls.lines().count() == 2)
    });
    let urls = std::fs::read_to_string(&opened).unwrap();
    let urls: Vec<&str> = urls.lines().collect();
    assert_eq!(urls[0], urls[1]);
    assert!(
        urls[0].starts_with(&format!("{}/authorize?", emulator.base_url)),
        "{urls:?}"
    );

    // The person approves on the page; the emulator redirects to the agent's callback.
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let landed = reqwest::get(urls[0]).await.unwrap();
    assert!(landed
        .text()
        .await
        .unwrap()
        .contains("You can close this tab"));
    let output = tokio::task::spawn_blocking(move || waiting.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    desktop.wait_for(
        "the notification to be withdrawn",
        "member=CloseNotification",
    );
    world.run(&["logout", "--all"]);
}
