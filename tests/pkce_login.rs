//! The browser (authorization code + PKCE) login through the real agent: real processes, the
//! real Unix socket, the emulator's `/authorize` page and a real loopback redirect. The browser
//! is played by `curl` (through `$BROWSER`, as the agent opens it) or by reqwest in the test.

mod common;

use common::home::*;
use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const HELPER: &str = env!("CARGO_BIN_EXE_sso-agent-credential-process");

/// A `$BROWSER` for the agent: it writes each URL it is given to `opened`, then (when `follow`)
/// fetches it with curl following redirects, as a browser would, keeping the last page.
fn browser(world: &AgentHome, follow: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    let opened = world.root.join("browser-opened");
    let page = world.root.join("browser-page");
    let script = world.root.join("browser.sh");
    let fetch = if follow {
        format!("curl -sS -L --max-time 20 -o {} \"$1\"\n", page.display())
    } else {
        String::new()
    };
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> {}\n{fetch}", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script, opened)
}

/// The world's config with `sso_agent_login_flow = VALUE` in its `[sso-session]`, as text.
fn flow_key_setter(config: &std::path::Path) -> impl Fn(&str) -> String {
    let original = std::fs::read_to_string(config).unwrap();
    move |value| {
        original.replacen(
            "sso_region = us-east-1\n",
            &format!("sso_region = us-east-1\nsso_agent_login_flow = {value}\n"),
            1,
        )
    }
}

/// Starts the agent where a browser can show (DISPLAY set), with `$BROWSER` = `script`.
fn start_with_display(world: &mut AgentHome, script: &std::path::Path, extra: &[(&str, &str)]) {
    world.start_agent_with(|command| {
        command.env("DISPLAY", ":99").env("BROWSER", script);
        for (name, value) in extra {
            command.env(name, value);
        }
    });
}

fn spawn(world: &AgentHome, args: &[&str]) -> Child {
    world
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Polls the agent's status until the session's pending login is of `flow`; returns it.
fn pending(world: &AgentHome, flow: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = status(world);
        let login = &status["sessions"][0]["pending_login"];
        if login["flow"] == flow {
            return login.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no pending {flow} login: {status}\n{}",
            world.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The authorize page's form (the emulator's Approve/Deny), posted as a browser would; the
/// redirect to the loopback callback is followed. Returns the callback page's status and text.
async fn answer_the_page(authorize_url: &str, action: &str) -> (u16, String) {
    let page = reqwest::get(authorize_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let id_at = page
        .find("name=\"request_id\" value=\"")
        .expect("the approve form")
        + 25;
    let request_id = &page[id_at..id_at + page[id_at..].find('"').unwrap()];
    let base = authorize_url.split("/authorize").next().unwrap();
    let landed = reqwest::Client::new()
        .post(format!("{base}/authorize"))
        .form(&[("request_id", request_id), ("action", action)])
        .send()
        .await
        .unwrap();
    let status = landed.status().as_u16();
    (status, landed.text().await.unwrap())
}

fn wait_output(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_the_helper_starts_a_browser_login_the_agent_opens_and_credentials_follow() {
    let emulator = emulator().await;
    // The authorize page approves at once: a browser with a live IAM Identity Center session.
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "pkce-click");
    let (script, opened) = browser(&world, true);
    start_with_display(&mut world, &script, &[]);

    let output = world
        .program(HELPER)
        .args(["--profile", "dev"])
        .output()
        .unwrap();
    let credentials: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert!(credentials["AccessKeyId"]
        .as_str()
        .unwrap()
        .starts_with("ASIA"));

    // The agent opened the authorize URL once, with what the AWS CLI sends.
    let urls = std::fs::read_to_string(&opened).unwrap();
    assert_eq!(urls.lines().count(), 1, "{urls}");
    let url = urls.trim();
    assert!(
        url.starts_with(&format!("{}/authorize?", emulator.base_url)),
        "{url}"
    );
    let params = query(url);
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43);
    assert_eq!(params["scopes"], "sso:account:access");
    assert!(params["state"].len() >= 22);
    let redirect = url::Url::parse(&params["redirect_uri"]).unwrap();
    assert_eq!(redirect.host_str(), Some("127.0.0.1"));
    assert_eq!(redirect.path(), "/oauth/callback");
    // The page the browser was left on says the tab can be closed.
    let page = std::fs::read_to_string(world.root.join("browser-page")).unwrap();
    assert!(page.contains("You can close this tab"), "{page}");

    let calls = calls(&emulator).await;
    assert_eq!(count(&calls, "CreateToken", Some("authorization_code")), 1);
    assert_eq!(count(&calls, "StartDeviceAuthorization", None), 0);
    let item = keyring_item(&world.session).expect("the login is stored");
    let grants = item["registration"]["grant_types"].as_array().unwrap();
    assert!(
        grants.iter().any(|g| g == "authorization_code"),
        "{grants:?}"
    );
    assert!(grants.iter().any(|g| g == "refresh_token"), "{grants:?}");

    let status = status(&world);
    assert_eq!(
        status["sessions"][0]["login_flow"],
        json!({"flow": "browser", "reason": "DISPLAY is set"})
    );
    let printed = stdout_of(&world.run(&["status"]));
    assert!(
        printed.contains("login flow: browser (DISPLAY is set)"),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_prints_the_url_and_the_approve_button_completes_the_login_on_the_chosen_port() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "pkce-approve");
    let (script, opened) = browser(&world, false);
    start_with_display(&mut world, &script, &[]);
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let port_text = port.to_string();
    let login = spawn(
        &world,
        &["login", "--no-browser", "--redirect-port", &port_text],
    );
    let pending = pending(&world, "browser");
    assert_eq!(pending["flow_reason"], "DISPLAY is set");
    assert_eq!(pending["user_code"], "");
    let url = pending["verification_uri_complete"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        query(&url)["redirect_uri"],
        format!("http://127.0.0.1:{port}/oauth/callback")
    );

    let (status, page) = answer_the_page(&url, "approve").await;
    assert_eq!(status, 200);
    assert!(page.contains("You can close this tab"), "{page}");
    let output = wait_output(login);
    let printed = text(&output);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("in the browser (DISPLAY is set)"),
        "{printed}"
    );
    assert!(printed.contains(&url), "the URL is printed: {printed}");
    assert!(printed.contains("Logged in to sso-session"), "{printed}");
    // --no-browser: the agent opened nothing.
    assert!(!opened.exists());
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_state_ends_the_login_and_never_reaches_create_token() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "pkce-state");
    let (script, _) = browser(&world, false);
    start_with_display(&mut world, &script, &[]);
    let login = spawn(&world, &["login"]);
    let url = pending(&world, "browser")["verification_uri_complete"]
        .as_str()
        .unwrap()
        .to_string();
    let redirect = query(&url)["redirect_uri"].clone();
    // A stray request first (a browser's favicon): the login goes on.
    let favicon = reqwest::get(redirect.replace("/oauth/callback", "/favicon.ico"))
        .await
        .unwrap();
    assert_eq!(favicon.status(), 404);
    let forged = reqwest::get(format!(
        "{redirect}?code=emu-code-forged&state=not-the-state"
    ))
    .await
    .unwrap();
    assert_eq!(forged.status(), 400);
    let output = wait_output(login);
    assert!(!output.status.success());
    let printed = text(&output);
    assert!(
        printed.contains("carried another login's state, so it was not used; log in again"),
        "{printed}"
    );
    assert_eq!(count(&calls(&emulator).await, "CreateToken", None), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_on_the_page_is_access_denied_and_ends_the_login() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "pkce-deny");
    let (script, _) = browser(&world, false);
    start_with_display(&mut world, &script, &[]);
    let login = spawn(&world, &["login"]);
    let url = pending(&world, "browser")["verification_uri_complete"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, page) = answer_the_page(&url, "deny").await;
    assert_eq!(status, 200);
    assert!(page.contains("not approved"), "{page}");
    let output = wait_output(login);
    assert!(!output.status.success());
    let printed = text(&output);
    assert!(printed.contains("was denied in the browser"), "{printed}");
    assert_eq!(count(&calls(&emulator).await, "CreateToken", None), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_within_the_timeout_ends_the_login() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "pkce-timeout");
    let (script, _) = browser(&world, false);
    start_with_display(
        &mut world,
        &script,
        &[("SSO_AGENT_BROWSER_LOGIN_TIMEOUT", "2")],
    );
    let started = Instant::now();
    let output = world.run(&["login"]);
    assert!(!output.status.success());
    let printed = text(&output);
    assert!(
        printed.contains("got no answer within 2 s") && printed.contains("--use-device-code"),
        "{printed}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let status = status(&world);
    assert!(status["sessions"][0]["pending_login"].is_null(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_port_in_use_ends_the_login_with_the_fix() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "pkce-port");
    let (script, _) = browser(&world, false);
    start_with_display(&mut world, &script, &[]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = world.run(&["login", "--redirect-port", &port]);
    assert!(!output.status.success());
    let printed = text(&output);
    assert!(
        printed.contains(&format!("cannot listen on 127.0.0.1:{port}"))
            && printed.contains("the port is in use")
            && printed.contains("--redirect-port"),
        "{printed}"
    );
}

/// Another local user (`nobody`) cannot answer the callback, even with the right state: the
/// connection is closed before its request is read, and the login goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_connection_to_the_callback_is_refused() {
    assert_eq!(
        sso_agent::paths::current_uid(),
        0,
        "this test plays another user (`nobody`) and needs root, as CI has"
    );
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "pkce-uid");
    let (script, _) = browser(&world, false);
    start_with_display(&mut world, &script, &[]);
    let login = spawn(&world, &["login"]);
    let url = pending(&world, "browser")["verification_uri_complete"]
        .as_str()
        .unwrap()
        .to_string();
    let params = query(&url);
    let forged = format!(
        "{}?code=emu-code-forged&state={}",
        params["redirect_uri"], params["state"]
    );
    let other = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "curl"])
        .args([
            "-sS",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &forged,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&other.stdout),
        "000",
        "no answer for nobody"
    );
    // Still pending, and our own browser finishes it.
    pending(&world, "browser");
    let (status, _) = answer_the_page(&url, "approve").await;
    assert_eq!(status, 200);
    let output = wait_output(login);
    assert!(output.status.success(), "{}", text(&output));
    assert!(world
        .logs()
        .contains("refused a connection to the login's callback"));
    assert_eq!(
        count(
            &calls(&emulator).await,
            "CreateToken",
            Some("authorization_code")
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_waiters_share_one_browser_login() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "pkce-many");
    // The browser takes a second to come up, so every caller is waiting by then.
    let (script, opened) = browser(&world, true);
    let text = std::fs::read_to_string(&script).unwrap();
    std::fs::write(&script, text.replacen("curl", "sleep 1; curl", 1)).unwrap();
    start_with_display(&mut world, &script, &[]);
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let helpers: Vec<_> = ["dev", "readonly", "staging", "dev", "readonly"]
            .into_iter()
            .map(|profile| {
                let world = &world;
                scope.spawn(move || {
                    world
                        .program(HELPER)
                        .args(["--profile", profile])
                        .output()
                        .unwrap()
                })
            })
            .collect();
        helpers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for output in &outputs {
        stdout_of(output);
    }
    let urls = std::fs::read_to_string(&opened).unwrap();
    assert_eq!(urls.lines().count(), 1, "one browser page: {urls}");
    let calls = calls(&emulator).await;
    assert_eq!(count(&calls, "RegisterClient", None), 1);
    assert_eq!(count(&calls, "CreateToken", Some("authorization_code")), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_device_code_turns_a_waiting_browser_login_into_a_device_login_everyone_follows() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "pkce-switch");
    let (script, _) = browser(&world, false);
    start_with_display(&mut world, &script, &[]);
    let first = spawn(&world, &["login"]);
    let helper = world
        .program(HELPER)
        .args(["--profile", "dev"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let browser_url = pending(&world, "browser")["verification_uri_complete"]
        .as_str()
        .unwrap()
        .to_string();
    let redirect = query(&browser_url)["redirect_uri"].clone();

    let second = spawn(&world, &["login", "--use-device-code"]);
    let device = pending(&world, "device-code");
    assert_eq!(device["flow_reason"], "--use-device-code");
    let code = device["user_code"].as_str().unwrap().to_string();
    assert!(!code.is_empty());
    // The browser login's listener is gone.
    assert!(reqwest::get(format!("{redirect}?code=x&state=y"))
        .await
        .is_err());
    control(
        &emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": code}),
    )
    .await;

    let first_printed = text(&wait_output(first));
    assert!(first_printed.contains("Logged in"), "{first_printed}");
    assert!(
        first_printed.contains("The login changed") && first_printed.contains(&code),
        "the login already waiting shows the device code: {first_printed}"
    );
    let output = wait_output(second);
    assert!(output.status.success(), "{}", text(&output));
    let second_printed = text(&wait_output(helper));
    assert!(second_printed.contains("AccessKeyId"), "{second_printed}");
    let calls = calls(&emulator).await;
    assert_eq!(count(&calls, "StartDeviceAuthorization", None), 1);
    assert_eq!(count(&calls, "CreateToken", Some("authorization_code")), 0);
    assert_eq!(
        status(&world)["sessions"][0]["login_flow"],
        json!({"flow": "device-code", "reason": "--use-device-code"})
    );
}

/// A free loopback port, for `--redirect-port`.
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// Polls the agent's status until the pending browser login calls back on `port`; its URL.
fn pending_on_port(world: &AgentHome, port: u16) -> String {
    let wanted = format!("http://127.0.0.1:{port}/oauth/callback");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let login = pending(world, "browser");
        let url = login["verification_uri_complete"]
            .as_str()
            .unwrap()
            .to_string();
        if query(&url)["redirect_uri"] == wanted {
            return url;
        }
        assert!(Instant::now() < deadline, "still {url}\n{}", world.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `login --redirect-port N` joining a browser login that waits on another port moves it to N
/// (the port the person forwarded); the login already waiting is shown the new link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_asking_for_a_port_moves_the_waiting_browser_login_there() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "pkce-move");
    let (script, _) = browser(&world, false);
    start_with_display(&mut world, &script, &[]);
    let first = spawn(&world, &["login"]);
    let old_url = pending(&world, "browser")["verification_uri_complete"]
        .as_str()
        .unwrap()
        .to_string();
    let old_redirect = query(&old_url)["redirect_uri"].clone();

    // A port something else holds: said at once, and the login waiting stays as it is.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let refused = world.run(&["login", "--no-browser", "--redirect-port", &busy_port]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains(&format!("port {busy_port} is in use")),
        "{}",
        text(&refused)
    );
    assert_eq!(
        pending(&world, "browser")["verification_uri_complete"],
        old_url.as_str()
    );
    drop(busy);

    let port = free_port();
    let port_text = port.to_string();
    let second = spawn(
        &world,
        &["login", "--no-browser", "--redirect-port", &port_text],
    );
    let url = pending_on_port(&world, port);
    assert!(
        reqwest::get(format!("{old_redirect}?code=x&state=y"))
            .await
            .is_err(),
        "the old listener is gone"
    );
    let (status, _) = answer_the_page(&url, "approve").await;
    assert_eq!(status, 200);

    let first_printed = text(&wait_output(first));
    let second_printed = text(&wait_output(second));
    assert!(second_printed.contains(&url), "{second_printed}");
    assert!(
        second_printed.contains("Logged in to sso-session"),
        "{second_printed}"
    );
    assert!(
        first_printed.contains("The login changed") && first_printed.contains(&url),
        "the waiting login shows the new link: {first_printed}"
    );
    assert!(
        first_printed.contains("Logged in to sso-session"),
        "{first_printed}"
    );
    let calls = calls(&emulator).await;
    assert_eq!(count(&calls, "CreateToken", Some("authorization_code")), 1);

    // A device code has no callback: the two flags together are refused.
    let output = world.run(&["login", "--use-device-code", "--redirect-port", "8400"]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("cannot be used with"),
        "{}",
        text(&output)
    );
}

/// A browser login whose code has come back is redeemed even when `--use-device-code` arrives
/// while CreateToken is under way: the approval is not thrown away for a device code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_browser_login_is_not_dropped_for_a_device_code() {
    let emulator = emulator().await;
    scenario(
        &emulator,
        json!({"faults": [{"operation": "CreateToken", "delay_ms": 3000}]}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "pkce-answered");
    let (script, _) = browser(&world, false);
    start_with_display(&mut world, &script, &[]);
    let first = spawn(&world, &["login"]);
    let url = pending(&world, "browser")["verification_uri_complete"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = answer_the_page(&url, "approve").await;
    assert_eq!(
        status, 200,
        "the callback has the code; CreateToken now waits 3 s"
    );
    let answered = Instant::now();

    let second = world.run(&["login", "--use-device-code"]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        answered.elapsed() >= Duration::from_secs(2),
        "the switch came while CreateToken was under way (the fault's delay applied)"
    );
    let first = wait_output(first);
    assert!(first.status.success(), "{}", text(&first));
    let calls = calls(&emulator).await;
    assert_eq!(count(&calls, "CreateToken", Some("authorization_code")), 1);
    assert_eq!(count(&calls, "StartDeviceAuthorization", None), 0);
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_and_the_display_choose_the_flow_and_a_bad_key_names_the_values() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;

    // A display, but the key says device code.
    let mut world = AgentHome::new(&emulator, "pkce-key");
    let config = world.home.join(".aws/config");
    let with_key = flow_key_setter(&config);
    std::fs::write(&config, with_key("device-code")).unwrap();
    let (script, opened) = browser(&world, true);
    start_with_display(&mut world, &script, &[]);
    let printed = stdout_of(&world.run(&["login"]));
    assert!(
        printed.contains("with a device code (sso_agent_login_flow = device-code)"),
        "{printed}"
    );
    assert!(!opened.exists(), "no browser for a device login");

    // No display at all: the device code, and the reason says so.
    let mut headless = AgentHome::new(&emulator, "pkce-headless");
    headless.start_agent();
    let printed = stdout_of(&headless.run(&["login"]));
    assert!(
        printed.contains("with a device code (no display"),
        "{printed}"
    );

    // A value that is none of the three: a config error naming them.
    std::fs::write(&config, with_key("pkce")).unwrap();
    let output = world.run(&["login", "--force"]);
    assert!(!output.status.success());
    let printed = text(&output);
    assert!(
        printed.contains("sso_agent_login_flow") && printed.contains("auto, browser, device-code"),
        "{printed}"
    );
}

/// A browser login whose page cannot open (no browser to start, no notification server) has
/// told nobody: a helper without a terminal fails at once, naming the command that logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_cannot_start_has_told_nobody_and_the_helper_fails_at_once() {
    use std::os::unix::process::CommandExt;
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "pkce-no-browser");
    // No $BROWSER to run and no xdg-open on PATH: webbrowser finds nothing to start.
    let missing = world.root.join("no-such-browser");
    start_with_display(&mut world, &missing, &[("PATH", "/nonexistent")]);
    let mut helper = world.program(HELPER);
    helper
        .args(["--profile", "dev"])
        .env_remove("SSO_AGENT_LOGIN_WAIT")
        .stdin(Stdio::null());
    // SAFETY: setsid in the child before exec: a new session has no controlling terminal.
    unsafe {
        helper.pre_exec(|| rustix::process::setsid().map(drop).map_err(Into::into));
    }
    let started = Instant::now();
    let output = helper.output().unwrap();
    let printed = text(&output);
    assert!(!output.status.success(), "{printed}");
    assert!(started.elapsed() < Duration::from_secs(30), "it waited");
    assert!(printed.contains("no terminal"), "{printed}");
    assert!(
        printed.contains(&format!("sso-agent login --sso-session {}", world.session)),
        "{printed}"
    );
    let login = pending(&world, "browser");
    assert_eq!(login["notified"], false, "{login}");
    let url = login["verification_uri_complete"].as_str().unwrap();
    assert!(
        printed.contains(&format!("open {url} in a browser")),
        "{printed}"
    );
}

/// `sso_agent_login_flow` is read at each login: editing it while the agent runs keeps the
/// session and its token (no new login, still listed), and the next login takes the new value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_of_the_flow_key_keeps_the_session_and_the_next_login_takes_it() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "pkce-flow-edit");
    let config = world.home.join(".aws/config");
    let with_key = flow_key_setter(&config);
    std::fs::write(&config, with_key("device-code")).unwrap();
    let (script, opened) = browser(&world, true);
    start_with_display(&mut world, &script, &[]);
    stdout_of(&world.run(&["login"]));
    credentials(&world, "dev");

    // The file's mtime must change: wait past its resolution.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&config, with_key("browser")).unwrap();
    // `status` rereads the config and retires the sessions it no longer has as they were.
    let session = &status(&world)["sessions"][0];
    assert_eq!(session["name"], world.session.as_str(), "still listed");
    assert_eq!(session["logged_in"], true, "{session}");
    credentials(&world, "readonly");
    let logins = |calls: &[Value]| {
        count(calls, "StartDeviceAuthorization", None)
            + count(calls, "CreateToken", Some("authorization_code"))
    };
    assert_eq!(logins(&calls(&emulator).await), 1, "no second login");
    assert!(
        !world.logs().contains("no longer refreshed"),
        "{}",
        world.logs()
    );

    // The next login is the browser's, for the reason the new value gives.
    stdout_of(&world.run(&["login", "--force"]));
    assert!(opened.exists(), "the browser opened");
    assert_eq!(
        status(&world)["sessions"][0]["login_flow"],
        json!({"flow": "browser", "reason": "sso_agent_login_flow = browser"})
    );
}

/// A refresh token is bound to the client that got it: a browser login that fails after
/// registering a client of its own must leave the device login's token and client together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_of_the_other_flow_leaves_the_refresh_working() {
    let emulator = emulator().await;
    // Tokens 30 s longer than the refresh lead: the agent refreshes 30 s after each arrives.
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1, "access_token_ttl": 15 * 60 + 30}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "pkce-keeps-client");
    let (script, _) = browser(&world, false);
    start_with_display(
        &mut world,
        &script,
        &[("SSO_AGENT_BROWSER_LOGIN_TIMEOUT", "2")],
    );
    stdout_of(&world.run(&["login", "--use-device-code"]));
    let device_client = keyring_item(&world.session).unwrap()["registration"]["client_id"].clone();
    let failed = world.run(&["login", "--force"]);
    assert!(!failed.status.success(), "{}", text(&failed));
    assert_eq!(
        count(&calls(&emulator).await, "RegisterClient", None),
        2,
        "the browser login registered a client of its own"
    );
    assert_eq!(
        keyring_item(&world.session).unwrap()["registration"]["client_id"],
        device_client,
        "the stored client is still the one the token came from"
    );

    // Bounded: the refresh is due 30 s after the token came, and the renewer wakes each minute.
    let deadline = Instant::now() + Duration::from_secs(120);
    let refreshed = loop {
        let log = calls(&emulator).await;
        let refreshes: Vec<&Value> = log
            .iter()
            .filter(|call| call["operation"] == "CreateToken" && call["detail"] == "refresh_token")
            .collect();
        if let Some(first) = refreshes.first() {
            break first["outcome"].clone();
        }
        assert!(Instant::now() < deadline, "no refresh: {log:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(refreshed, "ok", "the refresh used the token's own client");
    credentials(&world, "dev");
    assert_eq!(
        count(&calls(&emulator).await, "StartDeviceAuthorization", None),
        1,
        "no second login"
    );
}
