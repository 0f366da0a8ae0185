//! The agent as users run it: the real `sso-agent` binary (daemon and commands) over a real Unix
//! socket, the emulator upstream, tokens in the real Secret Service.

mod common;

use common::home::{keyring_item, signal, stdout_of, AgentHome};
use common::*;
use serde_json::{json, Value};
use sso_agent::protocol::{self, Envelope, Request, Response, MAX_FRAME, PROTOCOL_VERSION};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, SystemTime};

fn operations(calls: &[Value], operation: &str) -> usize {
    calls
        .iter()
        .filter(|call| call["operation"] == operation)
        .count()
}

fn parse_credentials(stdout: &str) -> Value {
    let value: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|err| panic!("{err}: {stdout}"));
    assert_eq!(value["Version"], 1);
    for key in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        assert!(
            value[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} in {stdout}"
        );
    }
    assert_eq!(
        value.as_object().unwrap().len(),
        5,
        "exactly the credential_process members"
    );
    value
}

fn expiration_of(credentials: &Value) -> SystemTime {
    let text = credentials["Expiration"].as_str().unwrap();
    let parsed = aws_sdk_sso::primitives::DateTime::from_str(
        text,
        aws_sdk_sso::primitives::DateTimeFormat::DateTime,
    )
    .unwrap_or_else(|err| panic!("not RFC 3339: {text}: {err}"));
    SystemTime::try_from(parsed).unwrap()
}

/// Raw protocol access, for what the CLI never sends.
fn raw_request(stream: &mut UnixStream, payload: &[u8]) -> Option<Response> {
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    stream.write_all(&frame).ok()?;
    let answer = protocol::read_frame(stream).ok()?;
    Some(serde_json::from_slice(&answer).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_callers_make_one_login_and_one_role_call_and_nothing_secret_leaks() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 2})).await;
    let mut world = AgentHome::new(&emulator, "flight");
    world.start_agent();

    // 16 processes want the same role of a session nobody has logged in to yet.
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|_| scope.spawn(|| world.run(&["credential-process", "--profile", "dev"])))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let credentials: Vec<Value> = outputs
        .iter()
        .map(|output| parse_credentials(&stdout_of(output)))
        .collect();
    assert!(credentials
        .iter()
        .all(|c| c["AccessKeyId"] == credentials[0]["AccessKeyId"]));
    let waited = outputs
        .iter()
        .filter(|output| String::from_utf8_lossy(&output.stderr).contains("needs a login"))
        .count();
    assert!(waited >= 1, "the callers that waited were told what to do");
    let valid_for = expiration_of(&credentials[0])
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(valid_for > Duration::from_secs(15 * 60), "{valid_for:?}");

    let calls = calls(&emulator).await;
    assert_eq!(
        operations(&calls, "StartDeviceAuthorization"),
        1,
        "one device flow"
    );
    assert_eq!(
        operations(&calls, "GetRoleCredentials"),
        1,
        "one upstream call for the role"
    );

    // Another role: one more call. The first again: none.
    parse_credentials(&stdout_of(&world.run(&[
        "credential-process",
        "--profile",
        "readonly",
    ])));
    parse_credentials(&stdout_of(&world.run(&[
        "credential-process",
        "--profile",
        "dev",
    ])));
    assert_eq!(
        operations(&calls_now(&emulator).await, "GetRoleCredentials"),
        2
    );
    // What the agent logs at debug (these worlds set SSO_AGENT_LOG=debug): each miss, its call
    // and the hits, by profile; the secret search below covers these lines too.
    let log = world.logs();
    for expected in [
        "profile=\"readonly\"",
        "not cached: asking IAM Identity Center for ",
        "GetRoleCredentials for ",
        ": valid until ",
        "answered from the cache",
    ] {
        assert!(log.contains(expected), "no {expected:?} in the log:\n{log}");
    }

    // The tokens are in the keyring, and in no file of this world, nor in the agent's log.
    let item = keyring_item(&world.session).expect("the session's keyring item");
    let mut secrets = vec![
        item["token"]["access_token"].as_str().unwrap().to_string(),
        item["token"]["refresh_token"].as_str().unwrap().to_string(),
        item["registration"]["client_secret"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    for c in &credentials[..1] {
        secrets.push(c["SecretAccessKey"].as_str().unwrap().to_string());
        secrets.push(c["SessionToken"].as_str().unwrap().to_string());
    }
    for file in world.files() {
        let content = std::fs::read(&file).unwrap_or_default();
        let content = String::from_utf8_lossy(&content);
        for secret in &secrets {
            assert!(
                !content.contains(secret.as_str()),
                "a secret is in {}",
                file.display()
            );
        }
    }
    for output in &outputs {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            secrets
                .iter()
                .all(|secret| !stderr.contains(secret.as_str())),
            "{stderr}"
        );
    }
    world.run(&["logout", "--all"]);
}

async fn calls_now(emulator: &sso_agent::emulator::RunningEmulator) -> Vec<Value> {
    calls(emulator).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_sessions_and_roles_and_logout_wipes_them_everywhere() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "status");
    world.start_agent();
    let credentials = parse_credentials(&stdout_of(&world.run(&[
        "credential-process",
        "--profile",
        "staging",
    ])));

    let text = stdout_of(&world.run(&["status", "--json"]));
    let status: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status["store"], "secret-service");
    let session = &status["sessions"][0];
    assert_eq!(session["name"], world.session.as_str());
    assert_eq!(session["logged_in"], true);
    assert_eq!(session["refreshable"], true);
    assert_eq!(status["roles"][0]["account_id"], "222233334444");
    assert_eq!(status["roles"][0]["expiration"], credentials["Expiration"]);
    let human = stdout_of(&world.run(&["status"]));
    assert!(
        human.contains("logged in until") && human.contains("222233334444/Developer"),
        "{human}"
    );
    let item = keyring_item(&world.session).unwrap();
    for secret in [
        item["token"]["access_token"].as_str().unwrap(),
        credentials["SecretAccessKey"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret) && !human.contains(secret));
    }

    let out = stdout_of(&world.run(&["logout", "--sso-session", &world.session]));
    assert!(out.contains(&world.session), "{out}");
    let calls = calls(&emulator).await;
    assert_eq!(
        calls
            .iter()
            .filter(|c| c["operation"] == "Logout")
            .map(|c| c["outcome"].clone())
            .collect::<Vec<_>>(),
        [json!("ok")],
        "logged out upstream"
    );
    assert!(
        keyring_item(&world.session).is_none(),
        "the keyring item is gone"
    );
    let status: Value =
        serde_json::from_str(&stdout_of(&world.run(&["status", "--json"]))).unwrap();
    assert_eq!(status["sessions"][0]["logged_in"], false);
    assert_eq!(status["roles"], json!([]));
}

#[test]
fn bad_requests_get_errors_and_silent_clients_are_dropped() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let mut world = AgentHome::new(&emulator, "bad");
    world.start_agent_with(|command| {
        command.env("SSO_AGENT_READ_TIMEOUT_MS", "300");
    });

    let mut stream = UnixStream::connect(&world.socket).unwrap();
    let error_of = |response: Option<Response>| match response {
        Some(Response::Error { message, .. }) => message,
        other => panic!("{other:?}"),
    };
    assert!(error_of(raw_request(
        &mut stream,
        br#"{"version":9,"type":"format_disk"}"#
    ))
    .contains("unknown"));
    assert!(error_of(raw_request(&mut stream, b"\xff\xfe not json")).contains("not a JSON object"));
    assert!(error_of(raw_request(
        &mut stream,
        br#"{"version":99,"type":"status"}"#
    ))
    .contains("restart the agent"));
    // The connection survived all three.
    let status = protocol::encode(&Envelope {
        config_file: None,
        version: PROTOCOL_VERSION,
        body: Request::Status,
    });
    stream.write_all(&status).unwrap();
    assert!(matches!(
        serde_json::from_slice(&protocol::read_frame(&mut stream).unwrap()).unwrap(),
        Response::Status(_)
    ));

    // An oversize frame is refused from its header alone, then the connection is closed.
    let mut stream = UnixStream::connect(&world.socket).unwrap();
    stream
        .write_all(&((MAX_FRAME as u32) + 1).to_be_bytes())
        .unwrap();
    assert!(error_of(
        protocol::read_frame(&mut stream)
            .ok()
            .map(|p| serde_json::from_slice(&p).unwrap())
    )
    .contains("limit"));
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).unwrap(), 0, "closed");

    // A client that says nothing loses its connection after the read timeout.
    let mut silent = UnixStream::connect(&world.socket).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        silent.read(&mut buf).unwrap(),
        0,
        "the agent hung up on a silent client"
    );
}

#[test]
fn one_agent_per_socket_a_dead_agents_socket_is_replaced_and_sigterm_cleans_up() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let mut world = AgentHome::new(&emulator, "lifecycle");
    let first = world.start_agent();

    let second = world.run(&["daemon"]);
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already running"), "{stderr}");

    signal(first, "KILL");
    world.wait_agent(first);
    assert!(
        world.socket.exists(),
        "a killed agent leaves its socket file"
    );
    let third = world.start_agent();
    stdout_of(&world.run(&["status"]));

    signal(third, "TERM");
    assert!(world.wait_agent(third).success(), "{}", world.logs());
    assert!(!world.socket.exists(), "the socket is removed on shutdown");
}

#[test]
fn an_open_socket_directory_is_refused_with_the_fix() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let world = AgentHome::new(&emulator, "opendir");
    let dir = world.socket.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = world.run(&["daemon"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("chmod 700 {}", dir.display())),
        "{stderr}"
    );
}

#[test]
fn without_an_agent_or_autostart_the_error_is_one_clear_line() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let world = AgentHome::new(&emulator, "noagent");
    let output = world.run(&["credential-process", "--profile", "dev"]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("not running") && stderr.contains("sso-agent daemon"),
        "{stderr}"
    );
}

#[test]
fn concurrent_commands_autostart_exactly_one_agent() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let world = AgentHome::new(&emulator, "autostart");
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    world
                        .command(&["status", "--json"])
                        .env_remove("SSO_AGENT_NO_AUTOSTART")
                        .output()
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let pids: Vec<u64> = outputs
        .iter()
        .map(|output| {
            serde_json::from_str::<Value>(&stdout_of(output)).unwrap()["pid"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        pids.iter().all(|pid| *pid == pids[0]),
        "one agent: {pids:?}"
    );
    let log = std::fs::read_to_string(world.socket.with_file_name("agent.log")).unwrap();
    assert_eq!(log.matches("agent ready").count(), 1, "{log}");
    signal(pids[0] as u32, "TERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_prints_the_code_opens_the_browser_and_waits_for_approval() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "login");
    world.start_agent();
    let opened = world.root.join("browser-opened");
    let browser = world.root.join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" > {}\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut login = world
        .command(&["login", "--sso-session", &world.session])
        .env("BROWSER", &browser)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(login.stdout.take().unwrap());
    let mut printed = String::new();
    let user_code = loop {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0,
            "{printed}"
        );
        printed.push_str(&line);
        if let Some(code) = line.trim().strip_prefix("code") {
            break code.trim().to_string();
        }
    };
    control(
        &emulator,
        "POST",
        "/_emulator/approve",
        json!({"user_code": user_code}),
    )
    .await;
    let status = tokio::task::spawn_blocking(move || login.wait().unwrap())
        .await
        .unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{printed}{rest}");
    assert!(
        rest.contains(&format!("Logged in to sso-session {}", world.session)),
        "{rest}"
    );
    assert!(printed.contains("/device"), "{printed}");
    let url = std::fs::read_to_string(&opened).expect("the browser was opened");
    assert!(
        url.trim().ends_with(&format!("user_code={user_code}")),
        "{url}"
    );
    assert_eq!(
        decode_qr(&format!("{printed}{rest}")).as_deref(),
        Some(url.trim()),
        "the QR code is the link"
    );

    // Logged in already: said so at once.
    let again = stdout_of(&world.run(&["login", "--sso-session", &world.session, "--no-browser"]));
    assert!(again.contains("Already logged in"), "{again}");
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_nobody_approves_ends_with_the_command_that_logs_in() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"device_code_ttl": 3})).await;
    let mut world = AgentHome::new(&emulator, "timeout");
    world.start_agent();
    let output = world.run(&["credential-process", "--profile", "dev"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("expired")
            && stderr.contains(&format!("sso-agent login --sso-session {}", world.session)),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_renewed_in_the_background_before_callers_need_new_ones() {
    let emulator = emulator().await;
    // 20 min 2 s: handed out (more than 15 min left), due for renewal 2 s later.
    scenario(
        &emulator,
        json!({"auto_approve_after_polls": 1, "role_credentials_ttl": 1202}),
    )
    .await;
    let mut world = AgentHome::new(&emulator, "renew");
    world.start_agent();
    let first = parse_credentials(&stdout_of(&world.run(&[
        "credential-process",
        "--profile",
        "dev",
    ])));
    let mut renewed = false;
    for _ in 0..100 {
        if operations(&calls(&emulator).await, "GetRoleCredentials") >= 2 {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(renewed, "renewed in the background: {}", world.logs());
    let second = parse_credentials(&stdout_of(&world.run(&[
        "credential-process",
        "--profile",
        "dev",
    ])));
    assert_ne!(second["AccessKeyId"], first["AccessKeyId"]);
    assert_eq!(
        operations(&calls(&emulator).await, "GetRoleCredentials"),
        2,
        "served from memory"
    );
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_profiles_and_unassigned_roles_are_clear_errors() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "errors");
    world.start_agent();
    let output = world.run(&["credential-process", "--profile", "nope"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[profile nope]"), "{stderr}");
    let output = world.run(&["credential-process", "--profile", "nowhere"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no access to role Developer in account 999999999999"),
        "{stderr}"
    );
    world.run(&["logout", "--all"]);
}

/// Reads back the QR code `login` printed: half blocks to pixels (ink = light), then a decoder.
fn decode_qr(printed: &str) -> Option<String> {
    let rows: Vec<Vec<char>> = printed
        .lines()
        .filter(|line| {
            line.len() > 20
                && line
                    .chars()
                    .all(|c| " \u{2580}\u{2584}\u{2588}".contains(c))
        })
        .map(|line| line.chars().collect())
        .collect();
    let width = rows.first()?.len();
    // Each character is two modules stacked; scale each module to 4x4 pixels for the detector.
    let scale = 4;
    let dark = |x: usize, y: usize| -> bool {
        let (row, top) = (y / 2, y.is_multiple_of(2));
        let ink = match rows.get(row).and_then(|r| r.get(x)) {
            Some('\u{2588}') => true,
            Some('\u{2580}') => top,
            Some('\u{2584}') => !top,
            _ => false,
        };
        !ink
    };
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(
        width * scale,
        rows.len() * 2 * scale,
        |x, y| {
            if dark(x / scale, y / scale) {
                0
            } else {
                255
            }
        },
    );
    let grids = image.detect_grids();
    let (_, content) = grids.first()?.decode().ok()?;
    Some(content)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_cancels_a_login_that_waits_for_a_person() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "cancel");
    world.start_agent();
    let waiting = world
        .command(&["credential-process", "--profile", "dev"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let status: Value =
            serde_json::from_str(&stdout_of(&world.run(&["status", "--json"]))).unwrap();
        if status["sessions"][0]["pending_login"].is_object() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no pending login");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Without the cancel, the logout would wait behind the login until the client gives up.
    let out = stdout_of(&world.run(&["logout", "--sso-session", &world.session]));
    assert!(out.contains("Logged out"), "{out}");
    let output = tokio::task::spawn_blocking(move || waiting.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("was cancelled"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_search_finds_a_planted_secret() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "canary");
    world.start_agent();
    let credentials = stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    world.assert_no_secret_in_files();
    // What a careless helper might do: write the credentials to a file under HOME.
    let leak = world.home.join(".aws/credentials-cache.json");
    std::fs::write(&leak, &credentials).unwrap();
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        world.assert_no_secret_in_files()
    }));
    assert!(found.is_err(), "the planted secret was not found");
    std::fs::remove_file(leak).unwrap();
    world.run(&["logout", "--all"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_small_helper_answers_as_the_subcommand_and_can_start_the_agent() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let world = AgentHome::new(&emulator, "small");
    // scripts/test runs this test a second time on the static build (scripts/static-helper),
    // installed in a directory of its own with a copy of `sso-agent` beside it.
    let small = std::env::var("SSO_AGENT_TEST_HELPER")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_sso-agent-credential-process").to_string());
    let small = small.as_str();
    // No agent yet: the small helper starts `sso-agent daemon` from its own directory.
    let environment = world.command(&[]);
    let output = std::process::Command::new(small)
        .args(["--profile", "dev"])
        .envs(environment.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("SSO_AGENT_NO_AUTOSTART")
        .output()
        .unwrap();
    let from_small = stdout_of(&output);
    parse_credentials(&from_small);
    // The agent it started is the `sso-agent` beside it, not one found on PATH.
    let pid = common::home::status(&world)["pid"].as_u64().unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        std::path::Path::new(small)
            .with_file_name("sso-agent")
            .canonicalize()
            .unwrap()
    );
    let from_subcommand = stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    assert_eq!(
        from_small, from_subcommand,
        "one agent, one cached answer, the same output"
    );

    // `--profile=NAME` is the same request.
    let joined = world.program(small).arg("--profile=dev").output().unwrap();
    assert_eq!(stdout_of(&joined), from_subcommand);

    // A reader that is gone: one line and status 1 (SIGPIPE is ignored, as std's start-up does).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let broken = world
        .program(small)
        .args(["--profile", "dev"])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    assert!(String::from_utf8_lossy(&broken.stderr).contains("cannot write the credentials"));

    // Every wrong command line is one line on stderr, status 2, nothing on stdout.
    for (args, reason) in [
        (
            &["--profile", "a", "--profile", "b"][..],
            "--profile is given more than once",
        ),
        (&[][..], "--profile PROFILE is required"),
        (
            &["--profile"][..],
            "missing argument for option '--profile'",
        ),
        (
            &["--profile", "dev", "--region", "x"][..],
            "invalid option '--region'",
        ),
        (&["dev"][..], "unexpected argument \"dev\""),
        (
            &["--proflie", "dev"][..],
            "invalid option '--proflie' (did you mean --profile?)",
        ),
    ] {
        let usage = world.program(small).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&usage.stderr);
        assert_eq!(usage.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(usage.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: sso-agent-credential-process --profile PROFILE"));
    }
    let help = world.program(small).arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout_of(&help).contains("--profile <PROFILE>"));
    let version = world.program(small).arg("-V").output().unwrap();
    assert_eq!(
        stdout_of(&version).trim(),
        format!("sso-agent-credential-process {}", env!("CARGO_PKG_VERSION"))
    );

    let status: Value =
        serde_json::from_str(&stdout_of(&world.run(&["status", "--json"]))).unwrap();
    world.run(&["logout", "--all"]);
    signal(status["pid"].as_u64().unwrap() as u32, "TERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_the_requests_in_flight_before_the_agent_exits() {
    let emulator = emulator().await;
    let mut world = AgentHome::new(&emulator, "drain");
    let pid = world.start_agent();
    // A request in flight: it waits for a login nobody approves.
    let waiting = world
        .command(&["credential-process", "--profile", "dev"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let status: Value =
            serde_json::from_str(&stdout_of(&world.run(&["status", "--json"]))).unwrap();
        if status["sessions"][0]["pending_login"].is_object() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no pending login");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(pid, "TERM");
    // The waiting caller gets an answer (the login was ended), not a dropped connection.
    let output = tokio::task::spawn_blocking(move || waiting.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("was cancelled"), "{stderr}");
    assert!(world.wait_agent(pid).success(), "{}", world.logs());
    assert!(!world.socket.exists(), "the socket is removed");
}

/// The endpoints may come from the config file instead of the environment: the SDK still
/// resolves them with its own rules, from the sections the agent hands it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_from_a_services_section_of_the_config_are_used() {
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "services");
    let config_path = world.home.join(".aws/config");
    let mut config = std::fs::read_to_string(&config_path).unwrap();
    config.push_str(&format!(
        "\n[default]\nservices = emulator\n\n[services emulator]\nsso =\n  endpoint_url = {url}\n\
         sso-oidc =\n  endpoint_url = {url}\n",
        url = emulator.base_url
    ));
    std::fs::write(&config_path, config).unwrap();
    world.start_agent_with(|agent| {
        agent
            .env_remove("AWS_ENDPOINT_URL_SSO_OIDC")
            .env_remove("AWS_ENDPOINT_URL_SSO");
    });
    let output = world.run(&["credential-process", "--profile", "dev"]);
    assert!(output.status.success(), "{}", world.logs());
    parse_credentials(&stdout_of(&output));
    let calls = calls_now(&emulator).await;
    assert_eq!(operations(&calls, "GetRoleCredentials"), 1);
    world.run(&["logout", "--all"]);
}
