//! `sso-agent console` against the emulator's federation endpoint: the real binary and agent,
//! the link followed in headless Chromium, and the endpoint's own answers to bad requests.
//! Run under scripts/with-keyring (the agent keeps its tokens in the real Secret Service).

mod common;

use common::browser::HeadlessChromium;
use common::home::{stdout_of, AgentHome};
use common::*;
use serde_json::{json, Value};
use sso_agent::emulator::RunningEmulator;
use std::collections::HashMap;
use std::process::Output;

/// The profiles AgentHome has, plus one in eu-west-1 and one in GovCloud.
fn world(emulator: &RunningEmulator, label: &str) -> AgentHome {
    let world = AgentHome::new(emulator, label);
    let config = world.home.join(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[profile eu]\nsso_session = {session}\nsso_account_id = 222233334444\nsso_role_name = ReadOnly\nregion = eu-west-1\n\n\
         [profile gov]\nsso_session = {session}\nsso_account_id = 111122223333\nsso_role_name = Developer\nregion = us-gov-west-1\n",
        session = world.session
    ));
    std::fs::write(&config, text).unwrap();
    world
}

/// `sso-agent console ARGS` in `world`, with the federation endpoint on the emulator.
fn console(world: &AgentHome, emulator: &RunningEmulator, args: &[&str]) -> Output {
    let mut command = world.command(&[&["console"], args].concat());
    command.env(
        "SSO_AGENT_FEDERATION_URL",
        format!("{}/federation", emulator.base_url),
    );
    let output = command.output().unwrap();
    // Kept with the world's other stderr, which Drop searches for every issued secret (the
    // sign-in tokens included).
    let mut kept = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(world.root.join("commands.stderr"))
        .unwrap();
    std::io::Write::write_all(&mut kept, &output.stderr).unwrap();
    output
}

fn query_of(link: &str) -> (url::Url, HashMap<String, String>) {
    let url = url::Url::parse(link.trim()).unwrap_or_else(|err| panic!("{link:?}: {err}"));
    let query = url.query_pairs().into_owned().collect();
    (url, query)
}

async fn logged_in_world(emulator: &RunningEmulator, label: &str) -> AgentHome {
    scenario(emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = world(emulator, label);
    world.start_agent();
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_gives_the_login_link_for_the_profiles_region_after_one_signin_token_call() {
    let emulator = emulator().await;
    let world = logged_in_world(&emulator, "console-print").await;

    // `dev` has no `region`: its sso-session's (us-east-1) names the console home.
    let output = console(&world, &emulator, &["--profile", "dev", "--print"]);
    let link = stdout_of(&output);
    let (url, query) = query_of(&link);
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{}/federation", emulator.base_url)
    );
    assert_eq!(query["Action"], "login");
    assert_eq!(query["Issuer"], "sso-agent");
    assert_eq!(
        query["Destination"],
        "https://us-east-1.console.aws.amazon.com/console/home?region=us-east-1"
    );
    let token = &query["SigninToken"];
    assert!(token.starts_with("emu-signin-"), "{token}");
    assert_eq!(query.len(), 4, "{query:?}");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains(token.as_str()),
        "the sign-in token goes to stdout only"
    );
    let log = calls(&emulator).await;
    assert_eq!(
        count(&log, "GetSigninToken", Some("SessionDuration=3600")),
        1,
        "{log:#?}"
    );
    assert_eq!(count(&log, "GetSigninToken", None), 1);
    assert_eq!(
        count(&log, "FederationLogin", None),
        0,
        "--print opens nothing"
    );

    // The profile's own region, another duration, and the GovCloud console host.
    let link = stdout_of(&console(
        &world,
        &emulator,
        &["--profile", "eu", "--print", "--duration", "43200"],
    ));
    assert_eq!(
        query_of(&link).1["Destination"],
        "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"
    );
    let link = stdout_of(&console(
        &world,
        &emulator,
        &["--profile", "gov", "--print"],
    ));
    assert_eq!(
        query_of(&link).1["Destination"],
        "https://console.amazonaws-us-gov.com/console/home?region=us-gov-west-1"
    );
    let destination = "https://eu-west-1.console.aws.amazon.com/s3/home?region=eu-west-1";
    let link = stdout_of(&console(
        &world,
        &emulator,
        &["--profile", "eu", "--print", "--destination", destination],
    ));
    assert_eq!(query_of(&link).1["Destination"], destination);
    let log = calls(&emulator).await;
    assert_eq!(
        count(&log, "GetSigninToken", Some("SessionDuration=43200")),
        1
    );
    assert_eq!(count(&log, "GetSigninToken", None), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_link_signs_headless_chromium_in_as_the_profiles_role() {
    let Some(chromium) = HeadlessChromium::start().await else {
        return;
    };
    let emulator = emulator().await;
    let world = logged_in_world(&emulator, "console-browser").await;

    let link = stdout_of(&console(&world, &emulator, &["--profile", "eu", "--print"]));
    chromium.browser().goto(link.trim()).await.unwrap();
    assert_eq!(chromium.text_of("account-id").await, "222233334444");
    assert_eq!(chromium.text_of("role-name").await, "ReadOnly");
    assert_eq!(
        chromium.text_of("destination").await,
        "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"
    );
    assert_eq!(chromium.text_of("issuer").await, "sso-agent");
    let landed = chromium.browser().current_url().await.unwrap();
    assert_eq!(landed.path(), "/console", "{landed}");

    // Another profile's link lands as that role.
    let link = stdout_of(&console(
        &world,
        &emulator,
        &["--profile", "dev", "--print"],
    ));
    chromium.browser().goto(link.trim()).await.unwrap();
    assert_eq!(chromium.text_of("account-id").await, "111122223333");
    assert_eq!(chromium.text_of("role-name").await, "Developer");
    chromium.stop().await;
    assert_eq!(
        count(
            &calls(&emulator).await,
            "FederationLogin",
            Some("signed in")
        ),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_print_the_link_goes_to_the_browser_or_with_no_display_to_stdout() {
    use std::os::unix::fs::PermissionsExt;
    let emulator = emulator().await;
    let world = logged_in_world(&emulator, "console-open").await;

    // $BROWSER (webbrowser honours it) is a script that keeps the URL it was given on its
    // command line and asks it once, as a browser would, keeping where it was sent. Both stay
    // outside the world's files: the sign-in token is a secret the world's search would find.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let scratch = std::env::temp_dir().join(format!(
        "sso-agent-console-browser-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&scratch).unwrap();
    let (argv, opened, browser) = (
        scratch.join("argv"),
        scratch.join("opened"),
        scratch.join("browser.sh"),
    );
    let follow_once = "import sys, urllib.request as r\n\
        class Stay(r.HTTPRedirectHandler):\n    def redirect_request(self, *a, **k): return None\n\
        try: r.build_opener(Stay).open(sys.argv[1])\n\
        except r.HTTPError as e: print(e.code, e.headers['Location'])\n";
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" > {argv}\n/usr/bin/python3 -c \"{follow_once}\" \"$1\" > {opened}.part && mv {opened}.part {opened}\n",
            argv = argv.display(),
            opened = opened.display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = world.command(&["console", "--profile", "dev"]);
    command.env("BROWSER", &browser).env(
        "SSO_AGENT_FEDERATION_URL",
        format!("{}/federation", emulator.base_url),
    );
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    std::fs::write(world.root.join("commands.stderr"), &stderr).unwrap();
    assert!(
        stdout_of(&output).is_empty(),
        "the link went to the browser only"
    );
    assert!(
        stderr.contains(
            "Opened the AWS console as role Developer in account 111122223333 (profile dev)"
        ),
        "{stderr}"
    );
    // console returns once the browser was redirected, which the script then writes down.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let answer = loop {
        match std::fs::read_to_string(&opened) {
            Ok(answer) => break answer,
            _ if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            other => panic!("the browser was not sent to the link: {other:?}"),
        }
    };
    let started_with = std::fs::read_to_string(&argv).unwrap();
    std::fs::remove_dir_all(&scratch).unwrap();
    // The browser's command line has a one-use loopback URL, not the sign-in token.
    assert!(
        started_with.starts_with("http://127.0.0.1:"),
        "{started_with}"
    );
    assert!(!started_with.contains("SigninToken"), "{started_with}");
    let (code, link) = answer.trim().split_once(' ').unwrap();
    assert_eq!(code, "303");
    let (_, query) = query_of(link);
    assert_eq!(query["Action"], "login");
    assert!(query["SigninToken"].starts_with("emu-signin-"));
    // Used once, it is gone.
    let again = reqwest::get(started_with.trim()).await;
    assert!(again.is_err(), "{again:?}");

    // No DISPLAY, WAYLAND_DISPLAY nor BROWSER (AgentHome removes BROWSER): the link is printed.
    let output = world
        .command(&["console", "--profile", "dev"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env(
            "SSO_AGENT_FEDERATION_URL",
            format!("{}/federation", emulator.base_url),
        )
        .output()
        .unwrap();
    let link = stdout_of(&output);
    assert_eq!(query_of(&link).1["Action"], "login");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("No browser here"),
        "{output:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_the_endpoint_calls_expired_are_refused_with_what_to_do() {
    let emulator = emulator().await;
    let world = logged_in_world(&emulator, "console-expired").await;
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));

    // The emulator's clock passes the credentials' hour; the agent's (real) one does not, so it
    // still hands out the cached ones, and the endpoint refuses them.
    advance(&emulator, 3700).await;
    let output = console(&world, &emulator, &["--profile", "dev", "--print"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(output.stdout.is_empty(), "no link: {:?}", output.stdout);
    assert!(
        stderr.contains("the role credentials were refused by the federation endpoint"),
        "{stderr}"
    );
    assert!(stderr.contains("Invalid credentials parameter"), "{stderr}");
    assert!(stderr.contains("sso-agent login --profile dev"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert_eq!(
        count(&calls(&emulator).await, "GetRoleCredentials", None),
        1,
        "the cached credentials were used"
    );
    assert_eq!(
        count(
            &calls(&emulator).await,
            "GetSigninToken",
            Some("expired credentials")
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_starts_the_agent_and_waits_for_the_login_as_the_helper_does() {
    let emulator = emulator().await;
    // Nobody approves through the page: the emulator does on the first poll.
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let world = world(&emulator, "console-autostart");
    let output = world
        .command(&["console", "--profile", "staging", "--print"])
        .env_remove("SSO_AGENT_NO_AUTOSTART")
        .env(
            "SSO_AGENT_FEDERATION_URL",
            format!("{}/federation", emulator.base_url),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    std::fs::write(world.root.join("commands.stderr"), &stderr).unwrap();
    let link = stdout_of(&output);
    assert!(
        stderr.contains("needs a login"),
        "the login was shown: {stderr}"
    );
    assert!(query_of(&link).1["SigninToken"].starts_with("emu-signin-"));
    let log = calls(&emulator).await;
    assert_eq!(count(&log, "StartDeviceAuthorization", None), 1);
    assert_eq!(count(&log, "GetRoleCredentials", None), 1);
    assert_eq!(
        count(&log, "GetSigninToken", Some("SessionDuration=3600")),
        1
    );
    let status = common::home::status(&world);
    common::home::signal(status["pid"].as_u64().unwrap() as u32, "TERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_fails_is_named_and_no_secret_is_shown() {
    let emulator = emulator().await;
    let world = logged_in_world(&emulator, "console-faults").await;
    stdout_of(&world.run(&["credential-process", "--profile", "dev"]));
    scenario(
        &emulator,
        json!({"faults": [
            {"operation": "GetSigninToken", "status": 503},
            {"operation": "GetSigninToken", "garbage": true},
            {"operation": "GetSigninToken", "reset": true},
        ]}),
    )
    .await;
    let endpoint = format!("{}/federation", emulator.base_url);
    for expected in [
        format!("the federation endpoint {endpoint} answered HTTP 503; try again later"),
        format!("the federation endpoint {endpoint} answered without a SigninToken"),
        format!("cannot reach the federation endpoint {endpoint}: io error: client error (SendRequest): connection error: Connection reset by peer"),
    ] {
        let output = console(&world, &emulator, &["--profile", "dev", "--print"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains(&expected), "{expected}\n{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(output.stdout.is_empty());
        // Nothing of the request's query (Drop also searches stderr for every issued secret).
        assert!(!stderr.contains("Session="), "{stderr}");
        assert!(!stderr.contains("sessionKey"), "{stderr}");
    }
    // Nothing listens on the endpoint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let output = world
        .command(&["console", "--profile", "dev", "--print"])
        .env(
            "SSO_AGENT_FEDERATION_URL",
            format!("http://127.0.0.1:{port}/federation"),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    std::fs::write(world.root.join("unreachable.stderr"), &stderr).unwrap();
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!(
            "cannot reach the federation endpoint http://127.0.0.1:{port}/federation: io error: client error (Connect): tcp connect error: Connection refused"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ConnectorError {"),
        "no Debug dump: {stderr}"
    );
}

#[tokio::test]
async fn bad_flags_are_refused_before_anything_is_asked() {
    let emulator = emulator().await;
    // No agent runs and autostart is off: an attempt to reach it would fail differently.
    let world = world(&emulator, "console-flags");
    for (args, expected) in [
        (vec!["--duration", "100"], "900 to 43200 seconds"),
        (vec!["--duration", "43201"], "900 to 43200 seconds"),
        (vec!["--duration", "13h"], "900 to 43200 seconds"),
        (
            vec!["--duration", "1.5h"],
            "write seconds (3600) or a whole number and a unit",
        ),
        (
            vec!["--destination", "ftp://example.com/"],
            "not an http(s) URL",
        ),
    ] {
        let output = console(
            &world,
            &emulator,
            &[&["--profile", "dev", "--print"], &args[..]].concat(),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
    // A plain-http endpoint off loopback would carry the credentials in the clear.
    let output = world
        .command(&["console", "--profile", "dev", "--print"])
        .env(
            "SSO_AGENT_FEDERATION_URL",
            "http://signin.example.com/federation",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("must be https"), "{stderr}");
    assert!(calls(&emulator).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The endpoint itself

struct RoleCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
}

async fn role_credentials(emulator: &RunningEmulator) -> RoleCredentials {
    let oidc = oidc(emulator).await;
    let (_, access, _) = logged_in(emulator, &oidc).await;
    let answer = portal(emulator)
        .await
        .get_role_credentials()
        .access_token(access)
        .account_id("111122223333")
        .role_name("Developer")
        .send()
        .await
        .expect("GetRoleCredentials");
    let credentials = answer.role_credentials().unwrap();
    RoleCredentials {
        access_key_id: credentials.access_key_id().unwrap().to_string(),
        secret_access_key: credentials.secret_access_key().unwrap().to_string(),
        session_token: credentials.session_token().unwrap().to_string(),
    }
}

fn session_json(id: &str, key: &str, token: &str) -> String {
    json!({"sessionId": id, "sessionKey": key, "sessionToken": token}).to_string()
}

/// `GET /federation?…` without following redirects: (status, content type, body, Location).
async fn federation(
    emulator: &RunningEmulator,
    params: &[(&str, &str)],
) -> (u16, String, String, Option<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = url::Url::parse(&format!("{}/federation", emulator.base_url)).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    let response = client.get(url).send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_string())
    };
    let (content_type, location) = (
        header("content-type").unwrap_or_default(),
        header("location"),
    );
    let status = response.status().as_u16();
    (
        status,
        content_type,
        response.text().await.unwrap(),
        location,
    )
}

fn last_detail(log: &[Value]) -> String {
    log.last().unwrap()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn get_signin_token_refuses_what_it_did_not_issue_as_the_real_endpoint_does() {
    let emulator = emulator().await;
    let creds = role_credentials(&emulator).await;
    let good = session_json(
        &creds.access_key_id,
        &creds.secret_access_key,
        &creds.session_token,
    );
    // (extra parameters, the page's message, the log's detail)
    type Case<'a> = (Vec<(&'a str, String)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![(
                "Session",
                session_json(
                    "ASIAUNKNOWN0000000",
                    &creds.secret_access_key,
                    &creds.session_token,
                ),
            )],
            "Invalid credentials parameter",
            "unknown access key",
        ),
        (
            vec![(
                "Session",
                session_json(&creds.access_key_id, "not-the-secret", &creds.session_token),
            )],
            "Invalid credentials parameter",
            "wrong secret access key",
        ),
        (
            vec![(
                "Session",
                session_json(
                    &creds.access_key_id,
                    &creds.secret_access_key,
                    "not-the-token",
                ),
            )],
            "Invalid credentials parameter",
            "wrong session token",
        ),
        (
            vec![("Session", "{not json".to_string())],
            "Invalid credentials parameter",
            "Session is not the credentials JSON",
        ),
        (vec![], "Invalid credentials parameter", "no Session"),
        (
            vec![("Session", good.clone()), ("SessionDuration", "899".into())],
            "Invalid SessionDuration parameter",
            "SessionDuration out of range",
        ),
        (
            vec![
                ("Session", good.clone()),
                ("SessionDuration", "43201".into()),
            ],
            "Invalid SessionDuration parameter",
            "SessionDuration out of range",
        ),
        (
            vec![("Session", good.clone()), ("SessionDuration", "1h".into())],
            "Invalid SessionDuration parameter",
            "SessionDuration out of range",
        ),
    ];
    for (extra, message, why) in cases {
        let mut params = vec![("Action", "getSigninToken".to_string())];
        params.extend(extra.into_iter());
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, content_type, body, _) = federation(&emulator, &params).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert!(
            content_type.starts_with("text/html"),
            "{why}: {content_type}"
        );
        assert!(
            body.contains(&format!("HTTP Status 400 - {message}")),
            "{why}: {body}"
        );
        assert!(!body.contains("SigninToken"), "{why}");
        let log = calls(&emulator).await;
        assert_eq!(log.last().unwrap()["operation"], "GetSigninToken");
        assert_eq!(last_detail(&log), why);
    }
    let (status, _, body, _) = federation(&emulator, &[("Action", "getFederationToken")]).await;
    assert_eq!(status, 400);
    assert!(body.contains("Invalid Action parameter"), "{body}");

    // The bounds themselves are taken.
    for duration in ["900", "43200"] {
        let (status, content_type, body, _) = federation(
            &emulator,
            &[
                ("Action", "getSigninToken"),
                ("SessionDuration", duration),
                ("Session", &good),
            ],
        )
        .await;
        assert_eq!(status, 200, "{duration}: {body}");
        assert!(content_type.starts_with("application/json"));
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert!(answer["SigninToken"]
            .as_str()
            .unwrap()
            .starts_with("emu-signin-"));
    }

    // Valid credentials, once the emulator's clock passes their hour, are refused too.
    advance(&emulator, 3601).await;
    let (status, _, body, _) = federation(
        &emulator,
        &[
            ("Action", "getSigninToken"),
            ("SessionDuration", "3600"),
            ("Session", &good),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Invalid credentials parameter"));
    assert_eq!(last_detail(&calls(&emulator).await), "expired credentials");
}

#[tokio::test]
async fn a_signin_token_signs_in_until_it_expires_and_a_bad_one_gets_an_error_page() {
    let emulator = emulator().await;
    let creds = role_credentials(&emulator).await;
    let session = session_json(
        &creds.access_key_id,
        &creds.secret_access_key,
        &creds.session_token,
    );
    let (status, _, body, _) = federation(
        &emulator,
        &[
            ("Action", "getSigninToken"),
            ("SessionDuration", "900"),
            ("Session", &session),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["SigninToken"]
        .as_str()
        .unwrap()
        .to_string();
    let destination = "https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1";
    let login = |token: String| {
        let emulator = &emulator;
        async move {
            federation(
                emulator,
                &[
                    ("Action", "login"),
                    ("Issuer", "test"),
                    ("Destination", destination),
                    ("SigninToken", &token),
                ],
            )
            .await
        }
    };

    let (status, _, _, location) = login(token.clone()).await;
    assert_eq!(status, 302);
    let console_page = location.unwrap();
    assert!(
        console_page.starts_with("/console?session="),
        "{console_page}"
    );
    let page = reqwest::get(format!("{}{console_page}", emulator.base_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<b id=\"account-id\">111122223333</b>"),
        "{page}"
    );
    assert!(page.contains("<b id=\"role-name\">Developer</b>"), "{page}");
    assert!(page.contains(destination), "{page}");

    // Usable again within its 15 minutes (AWS documents the validity, not a single use).
    assert_eq!(login(token.clone()).await.0, 302);
    let (status, content_type, page, location) = login("emu-signin-forged".into()).await;
    assert_eq!(status, 400);
    assert!(content_type.starts_with("text/html"));
    assert!(location.is_none());
    assert!(page.contains("Sign-in failed"), "{page}");
    let (status, _, page, _) =
        federation(&emulator, &[("Action", "login"), ("SigninToken", &token)]).await;
    assert_eq!(status, 400, "no Destination: {page}");

    // 16 minutes on: the token is spent, and the 900 s console session it made has ended.
    advance(&emulator, 16 * 60).await;
    let (status, _, page, _) = login(token.clone()).await;
    assert_eq!(status, 400);
    assert!(page.contains("not valid or has expired"), "{page}");
    let expired = reqwest::get(format!("{}{console_page}", emulator.base_url))
        .await
        .unwrap();
    assert_eq!(expired.status().as_u16(), 401);
    assert!(expired.text().await.unwrap().contains("Session expired"));
    let unknown = reqwest::get(format!(
        "{}/console?session=emu-console-x",
        emulator.base_url
    ))
    .await
    .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let log = calls(&emulator).await;
    assert_eq!(count(&log, "FederationLogin", Some("signed in")), 2);
    assert_eq!(
        count(
            &log,
            "FederationLogin",
            Some("unknown or expired SigninToken")
        ),
        2
    );
    // The portal's own /federation/credentials is untouched by the new route.
    assert_eq!(count(&log, "GetRoleCredentials", None), 1);
}
