//! `sso-agent demo`, the README's first command, end to end.

#[test]
fn the_demo_logs_in_and_serves_credentials_with_one_upstream_call() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sso-agent"))
        .arg("demo")
        .env_remove("SSO_AGENT_SOCKET")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "Logged in to sso-session demo",
        "\"Version\": 1",
        "runs of sso-agent-credential-process: ",
        "StartDeviceAuthorization   1",
        "GetRoleCredentials         1",
        "license profile licensed (",
        "AWSLicenseManager.GetAccessToken  1",
        "AssumeRoleWithWebIdentity         1",
        "Logged out of sso-session demo.",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // The summary counts what the demo asked for: dev once, then the timed runs, then once more
    // by create-token; licensed once, then ten times.
    let timed: usize = stdout
        .split_once(" runs of sso-agent-credential-process: ")
        .and_then(|(before, _)| before.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count of timed runs in:\n{stdout}"));
    for summary in [
        format!(
            "({} credential requests for dev: steps 3 and 4, and one by create-token in step 5; 1 GetRoleCredentials)",
            timed + 2
        ),
        "(11 credential requests for licensed in step 5, 1 GetAccessToken, 1 AssumeRoleWithWebIdentity)"
            .to_string(),
    ] {
        assert!(
            stdout.contains(&summary),
            "missing {summary:?} in:\n{stdout}"
        );
    }
}

/// The demo's home is made by `tempfile` under `$TMPDIR`: not `sso-agent-demo-<pid>`, a name
/// another local user could create first; and it is gone afterwards.
#[test]
fn the_demo_home_has_a_name_nobody_can_guess() {
    let tmp = std::env::temp_dir().join(format!("sso-agent-demo-tmp-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sso-agent"))
        .arg("demo")
        .env("TMPDIR", &tmp)
        .env_remove("SSO_AGENT_SOCKET")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let home = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("temporary home"))
        .unwrap_or_else(|| panic!("no temporary home in:\n{stdout}"))
        .trim();
    let dir = std::path::Path::new(home).parent().unwrap();
    assert_eq!(dir.parent(), Some(tmp.as_path()), "{home}");
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("sso-agent-demo-"), "{name}");
    assert_ne!(name, format!("sso-agent-demo-{pid}"), "a predictable name");
    assert!(!dir.exists(), "{} was left behind", dir.display());
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// The demo runs the helper the README has tools run; without it next to the binary it says how
/// to build it, and starts nothing.
#[test]
fn the_demo_without_the_helper_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("sso-agent");
    std::fs::copy(env!("CARGO_BIN_EXE_sso-agent"), &lone).unwrap();
    let output = std::process::Command::new(&lone)
        .arg("demo")
        .env_remove("SSO_AGENT_SOCKET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("sso-agent-credential-process")
            && stderr.contains("cargo build --release --locked"),
        "{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "it started: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}
