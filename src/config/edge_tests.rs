//! The file's edges: names botocore accepts, lines the parser refuses, one broken session among
//! good ones, legacy profiles' sessions and the commands messages give for them.

use super::*;

const FILE: &str = "/home/me/.aws/config";

async fn load(bytes: &[u8]) -> Result<AwsConfig, ConfigError> {
    let fs = Fs::from_raw_map(
        [(std::ffi::OsString::from(FILE), bytes.to_vec())]
            .into_iter()
            .collect(),
    );
    let env = Env::from_slice(&[("HOME", "/home/me")]);
    AwsConfig::load_from(&fs, &env).await
}

async fn parse(text: &str) -> AwsConfig {
    load(text.as_bytes()).await.unwrap()
}

const QUOTED: &str = "\
[sso-session \"my corp\"]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1

[profile \"my dev\"]
sso_session = my corp
sso_account_id = 111122223333
sso_role_name = Developer

[profile 'ops']
sso_session = my corp
sso_account_id = 111122223333
sso_role_name = Ops

[profile my test]
sso_session = my corp

[profile a$b]
sso_session = my corp
sso_account_id = 111122223333
sso_role_name = Dollar
";

#[tokio::test]
async fn quoted_names_are_read_as_botocore_reads_them() {
    let config = parse(QUOTED).await;
    let dev = config.profile("my dev").unwrap();
    assert_eq!(dev.name, "my dev");
    assert_eq!(dev.session.name, "my corp");
    assert_eq!(dev.role_name, "Developer");
    assert_eq!(config.profile("ops").unwrap().role_name, "Ops");
    // One shlex word that is no aws-config identifier: botocore 1.43 keeps it too.
    assert_eq!(config.profile("a$b").unwrap().role_name, "Dollar");
    let index = config.index();
    assert_eq!(index.profile("my dev"), config.profile("my dev"));
    assert_eq!(
        index.profile_role("my dev").unwrap().role.session(),
        "my corp"
    );
    assert_eq!(
        index.sso_sessions().unwrap(),
        [config.sso_session("my corp").unwrap()]
    );
    assert_eq!(
        index.login_command("my corp"),
        "sso-agent login --sso-session 'my corp'"
    );
}

#[tokio::test]
async fn a_section_botocore_ignores_is_named_with_the_reason() {
    let config = parse(QUOTED).await;
    let err = config.profile("my test").unwrap_err().to_string();
    assert_eq!(
        err,
        format!("there is no [profile my test] in {FILE}: the section on line 15 is ignored because a name with spaces must be quoted, as in [profile \"my test\"]")
    );
    assert_eq!(
        config.index().profile("my test").unwrap_err().to_string(),
        err
    );
}

#[tokio::test]
async fn a_parse_error_names_the_line_and_the_reason() {
    let err = load(b"[profile a]\nregion = x\nthis line has no equals sign\n")
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        ConfigError::Syntax {
            file: FILE.into(),
            line: 3,
            reason: "Expected an '=' sign defining a property".into()
        }
    );
    assert!(!err.to_string().contains('\n'), "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_utf8_is_one_line() {
    let err = load(b"[profile a]\nregion = x\nname = caf\xe9\n")
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        format!("{FILE} is not UTF-8 text (the first bad byte is on line 3); save it as UTF-8")
    );
}

#[tokio::test]
async fn a_value_with_continuation_lines_is_refused() {
    let config = parse(
        "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n  eu-west-1\n",
    )
    .await;
    let err = config.sso_session("corp").unwrap_err();
    assert_eq!(
        err,
        ConfigError::MultiLine {
            file: FILE.into(),
            section: "sso-session corp".into(),
            key: "sso_region".into()
        }
    );
    assert!(
        err.to_string().contains("put its value on one line"),
        "{err}"
    );
    assert_eq!(config.index().sso_session("corp"), Err(err));
}

const MIXED: &str = "\
[sso-session broken]
sso_start_url = https://broken.awsapps.com/start

[sso-session good]
sso_start_url = https://good.awsapps.com/start
sso_region = us-east-1

[profile zeta]
sso_start_url = https://legacy.awsapps.com/start
sso_region = eu-central-1
sso_account_id = 222233334444
sso_role_name = ReadOnly

[profile alpha]
sso_start_url = https://legacy.awsapps.com/start
sso_region = eu-central-1
sso_account_id = 222233334444
sso_role_name = Admin

[profile noregion]
sso_start_url = https://other.awsapps.com/start
sso_account_id = 1
sso_role_name = R
";

#[tokio::test]
async fn each_session_is_given_on_its_own_legacy_ones_included() {
    let config = parse(MIXED).await;
    assert!(
        config.sso_sessions().is_err(),
        "the old API fails as a whole"
    );
    for each in [
        config.sso_sessions_each(),
        config.index().sso_sessions_each(),
    ] {
        let names: Vec<&str> = each.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "broken",
                "good",
                "https://legacy.awsapps.com/start",
                "https://other.awsapps.com/start"
            ]
        );
        assert!(matches!(
            &each[0].1,
            Err(ConfigError::MissingKey { key, .. }) if key == "sso_region"
        ));
        assert_eq!(each[1].1.as_ref().unwrap().region, "us-east-1");
        let legacy = each[2].1.as_ref().unwrap();
        assert!(legacy.is_legacy());
        assert_eq!(legacy.region, "eu-central-1");
        assert_eq!(legacy.registration_scopes, [DEFAULT_SCOPE]);
        assert!(matches!(
            &each[3].1,
            Err(ConfigError::MissingKey { section, .. }) if section == "profile noregion"
        ));
    }
}

#[tokio::test]
async fn a_legacy_session_is_logged_in_through_a_profile() {
    let config = parse(MIXED).await;
    let index = config.index();
    let url = "https://legacy.awsapps.com/start";
    // `login --sso-session URL` finds the session too.
    assert_eq!(
        index.sso_session(url),
        config.profile("alpha").map(|p| p.session)
    );
    for command in [index.login_command(url), config.login_command(url)] {
        assert_eq!(command, "sso-agent login --profile alpha");
    }
    assert_eq!(
        index.login_command("good"),
        "sso-agent login --sso-session good"
    );
    assert_eq!(
        login_command(url, None),
        format!("sso-agent login --sso-session {url}")
    );
}
