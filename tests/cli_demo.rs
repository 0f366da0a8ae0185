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
        "StartDeviceAuthorization   1",
        "GetRoleCredentials         1",
        "Logged out of sso-session demo.",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}
