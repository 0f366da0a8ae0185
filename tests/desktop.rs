//! Desktop notifications for real: dunst (a freedesktop notification server) under Xvfb on the
//! test's D-Bus session, dbus-monitor recording every Notifications call, and `dunstctl action`
//! clicking the notification as a person would. `scripts/test` installs dunst and xvfb.

mod common;

use common::desktop::{wait_until, Desktop};
use common::home::{stdout_of, AgentHome};
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

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
