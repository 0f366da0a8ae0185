//! The AWS CLI's own configuration file is ours: `[sso-session NAME]` and `[profile NAME]`
//! sections of `~/.aws/config` (or `$AWS_CONFIG_FILE`). It is parsed by aws-config's own parser,
//! so comments, `[default]`, sub-sections and whitespace behave exactly as in the SDKs.

use aws_config::profile::ProfileSet;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_types::os_shim_internal::{Env, Fs};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub const DEFAULT_SCOPE: &str = "sso:account:access";

/// One `[sso-session NAME]` (or the session a legacy profile implies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSessionConfig {
    /// The section's name; for a legacy profile, its start URL (profiles that share a start URL
    /// share a login, as in the AWS CLI's cache).
    pub name: String,
    pub start_url: String,
    pub region: String,
    pub registration_scopes: Vec<String>,
}

/// One `[profile NAME]` that names an SSO role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileConfig {
    pub name: String,
    pub session: SsoSessionConfig,
    pub account_id: String,
    pub role_name: String,
    pub region: Option<String>,
}

/// The role a profile's credentials come from. The index keeps one per profile and the agent's
/// role cache shares it, so a request allocates no key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleKey {
    pub session: String,
    pub account_id: String,
    pub role_name: String,
}

/// A profile as the agent's hot path needs it: shared, nothing copied.
#[derive(Debug, Clone)]
pub struct ProfileRole {
    pub session: Arc<SsoSessionConfig>,
    pub role: Arc<RoleKey>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read {file}: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("there is no [sso-session {name}] in {file}")]
    UnknownSession { file: String, name: String },
    #[error("there is no [profile {name}] in {file}")]
    UnknownProfile { file: String, name: String },
    #[error("[{section}] in {file} has no `{key}`; add `{key} = …` to it")]
    MissingKey {
        file: String,
        section: String,
        key: String,
    },
    #[error("[{section}] in {file}: `sso_start_url = {value}` is not an http(s) URL")]
    InvalidStartUrl {
        file: String,
        section: String,
        value: String,
    },
    #[error("[profile {profile}] in {file} names `sso_session = {name}`, but there is no [sso-session {name}]")]
    DanglingSession {
        file: String,
        profile: String,
        name: String,
    },
}

/// The parsed configuration file.
pub struct AwsConfig {
    file: String,
    sections: ProfileSet,
}

impl AwsConfig {
    /// Reads the user's configuration as the SDKs do (`AWS_CONFIG_FILE`, else `~/.aws/config`).
    pub async fn load() -> Result<Self, ConfigError> {
        Self::load_from(&Fs::real(), &Env::real()).await
    }

    /// Reads it through the given file system and environment (tests use in-memory ones).
    pub async fn load_from(fs: &Fs, env: &Env) -> Result<Self, ConfigError> {
        let file = config_file_path(env);
        let files = EnvConfigFiles::builder()
            .with_file(EnvConfigFileKind::Config, &file)
            .build();
        let sections = aws_config::profile::load(fs, env, &files, None)
            .await
            .map_err(|err| ConfigError::Unreadable {
                file: file.clone(),
                reason: err.to_string(),
            })?;
        Ok(Self { file, sections })
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// The `[sso-session NAME]` section.
    pub fn sso_session(&self, name: &str) -> Result<SsoSessionConfig, ConfigError> {
        let section =
            self.sections
                .sso_session(name)
                .ok_or_else(|| ConfigError::UnknownSession {
                    file: self.file.clone(),
                    name: name.to_string(),
                })?;
        let title = format!("sso-session {name}");
        let get = |key: &str| self.required(&title, key, section.get(key));
        let start_url = get("sso_start_url")?;
        self.check_url(&title, &start_url)?;
        Ok(SsoSessionConfig {
            name: name.to_string(),
            start_url,
            region: get("sso_region")?,
            registration_scopes: scopes(section.get("sso_registration_scopes")),
        })
    }

    /// Every `[sso-session NAME]` section, in name order.
    pub fn sso_sessions(&self) -> Result<Vec<SsoSessionConfig>, ConfigError> {
        let mut names: Vec<&str> = self.sections.sso_sessions().collect();
        names.sort_unstable();
        names
            .into_iter()
            .map(|name| self.sso_session(name))
            .collect()
    }

    /// The `[profile NAME]` section (`[default]` for `default`).
    pub fn profile(&self, name: &str) -> Result<ProfileConfig, ConfigError> {
        let profile =
            self.sections
                .get_profile(name)
                .ok_or_else(|| ConfigError::UnknownProfile {
                    file: self.file.clone(),
                    name: name.to_string(),
                })?;
        let title = if name == "default" {
            "default".to_string()
        } else {
            format!("profile {name}")
        };
        let session = match profile.get("sso_session") {
            Some(session_name) => self.sso_session(session_name).map_err(|err| match err {
                ConfigError::UnknownSession {
                    file,
                    name: session,
                } => ConfigError::DanglingSession {
                    file,
                    profile: name.to_string(),
                    name: session,
                },
                other => other,
            })?,
            None => {
                // A legacy profile: the session's keys sit in the profile itself.
                let start_url =
                    self.required(&title, "sso_start_url", profile.get("sso_start_url"))?;
                self.check_url(&title, &start_url)?;
                SsoSessionConfig {
                    name: start_url.clone(),
                    region: self.required(&title, "sso_region", profile.get("sso_region"))?,
                    start_url,
                    registration_scopes: vec![DEFAULT_SCOPE.to_string()],
                }
            }
        };
        Ok(ProfileConfig {
            name: name.to_string(),
            session,
            account_id: self.required(&title, "sso_account_id", profile.get("sso_account_id"))?,
            role_name: self.required(&title, "sso_role_name", profile.get("sso_role_name"))?,
            region: profile.get("region").map(str::to_string),
        })
    }

    fn required(
        &self,
        section: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<String, ConfigError> {
        value
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ConfigError::MissingKey {
                file: self.file.clone(),
                section: section.to_string(),
                key: key.to_string(),
            })
    }

    fn check_url(&self, section: &str, value: &str) -> Result<(), ConfigError> {
        match url::Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => Ok(()),
            _ => Err(ConfigError::InvalidStartUrl {
                file: self.file.clone(),
                section: section.to_string(),
                value: value.to_string(),
            }),
        }
    }
}

/// What the agent keeps of the file: the SSO sessions and profiles, already checked, without the
/// parser's copy of every property. A config with thousands of profiles costs a few MiB less
/// this way, for as long as the agent runs.
pub struct ConfigIndex {
    file: String,
    sessions: HashMap<String, Result<Arc<SsoSessionConfig>, ConfigError>>,
    /// Boxed errors keep the table's slots small: most profiles are valid.
    profiles: HashMap<String, Result<ProfileEntry, Box<ConfigError>>>,
}

struct ProfileEntry {
    session: Arc<SsoSessionConfig>,
    role: Arc<RoleKey>,
    region: Option<String>,
}

impl AwsConfig {
    /// Checks every session and profile once and keeps the outcome.
    pub fn index(&self) -> ConfigIndex {
        let sessions: HashMap<_, _> = self
            .sections
            .sso_sessions()
            .map(|name| (name.to_string(), self.sso_session(name).map(Arc::new)))
            .collect();
        let profiles = self
            .sections
            .profiles()
            .map(|name| {
                let entry = self
                    .profile(name)
                    .map_err(Box::new)
                    .map(|profile| ProfileEntry {
                        role: Arc::new(RoleKey {
                            session: profile.session.name.clone(),
                            account_id: profile.account_id,
                            role_name: profile.role_name,
                        }),
                        // Share the session's config instead of a copy per profile.
                        session: sessions
                            .get(&profile.session.name)
                            .and_then(|session| session.as_ref().ok())
                            .filter(|session| ***session == profile.session)
                            .cloned()
                            .unwrap_or_else(|| Arc::new(profile.session)),
                        region: profile.region,
                    });
                (name.to_string(), entry)
            })
            .collect();
        ConfigIndex {
            file: self.file.clone(),
            sessions,
            profiles,
        }
    }
}

impl ConfigIndex {
    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn sso_session(&self, name: &str) -> Result<SsoSessionConfig, ConfigError> {
        match self.sessions.get(name) {
            Some(Ok(session)) => Ok((**session).clone()),
            Some(Err(err)) => Err(err.clone()),
            None => Err(ConfigError::UnknownSession {
                file: self.file.clone(),
                name: name.to_string(),
            }),
        }
    }

    /// Every `[sso-session NAME]`, in name order; the first invalid one is the error.
    pub fn sso_sessions(&self) -> Result<Vec<SsoSessionConfig>, ConfigError> {
        let mut names: Vec<&String> = self.sessions.keys().collect();
        names.sort_unstable();
        names
            .into_iter()
            .map(|name| self.sso_session(name))
            .collect()
    }

    pub fn profile(&self, name: &str) -> Result<ProfileConfig, ConfigError> {
        let entry = self.entry(name)?;
        Ok(ProfileConfig {
            name: name.to_string(),
            session: (*entry.session).clone(),
            account_id: entry.role.account_id.clone(),
            role_name: entry.role.role_name.clone(),
            region: entry.region.clone(),
        })
    }

    /// The profile's session and role, shared with the index.
    pub fn profile_role(&self, name: &str) -> Result<ProfileRole, ConfigError> {
        let entry = self.entry(name)?;
        Ok(ProfileRole {
            session: entry.session.clone(),
            role: entry.role.clone(),
        })
    }

    fn entry(&self, name: &str) -> Result<&ProfileEntry, ConfigError> {
        match self.profiles.get(name) {
            Some(Ok(entry)) => Ok(entry),
            Some(Err(err)) => Err((**err).clone()),
            None => Err(ConfigError::UnknownProfile {
                file: self.file.clone(),
                name: name.to_string(),
            }),
        }
    }
}

/// `sso_registration_scopes` is comma-separated; absent, it is `sso:account:access`, the scope
/// that makes IAM Identity Center issue refresh tokens.
fn scopes(value: Option<&str>) -> Vec<String> {
    let scopes: Vec<String> = value
        .unwrap_or(DEFAULT_SCOPE)
        .split(',')
        .map(str::trim)
        .filter(|scope| !scope.is_empty())
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        vec![DEFAULT_SCOPE.to_string()]
    } else {
        scopes
    }
}

/// `$AWS_CONFIG_FILE`, else `$HOME/.aws/config`, as a path to show in messages.
/// The file the SDKs read: `AWS_CONFIG_FILE` (a leading `~` is the home directory, as in the
/// SDKs), else `~/.aws/config`.
pub fn config_file_path(env: &Env) -> String {
    let home = env.get("HOME").ok();
    match env.get("AWS_CONFIG_FILE") {
        Ok(path) => match (path.strip_prefix('~'), home) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{home}{rest}")
            }
            _ => path,
        },
        Err(_) => PathBuf::from(home.as_deref().unwrap_or("~"))
            .join(".aws")
            .join("config")
            .display()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(text: &str) -> AwsConfig {
        let fs = Fs::from_slice(&[("/home/me/.aws/config", text)]);
        let env = Env::from_slice(&[("HOME", "/home/me")]);
        AwsConfig::load_from(&fs, &env).await.unwrap()
    }

    const SAMPLE: &str = "\
# a comment
[default]
region = eu-west-1

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1   ; trailing comment
sso_registration_scopes = sso:account:access, openid

[profile dev]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Developer
region = us-west-2
s3 =
  max_concurrent_requests = 20

[profile legacy]
sso_start_url = https://legacy.awsapps.com/start
sso_region = eu-central-1
sso_account_id = 222233334444
sso_role_name = ReadOnly

[profile broken]
sso_session = corp
sso_account_id = 111122223333

[profile dangling]
sso_session = nope
sso_account_id = 1
sso_role_name = R
";

    #[tokio::test]
    async fn reads_sessions_and_profiles() {
        let config = parse(SAMPLE).await;
        let session = config.sso_session("corp").unwrap();
        assert_eq!(session.start_url, "https://corp.awsapps.com/start");
        assert_eq!(session.region, "us-east-1");
        assert_eq!(
            session.registration_scopes,
            ["sso:account:access", "openid"]
        );
        let dev = config.profile("dev").unwrap();
        assert_eq!(dev.session, session);
        assert_eq!(dev.account_id, "111122223333");
        assert_eq!(dev.role_name, "Developer");
        assert_eq!(dev.region.as_deref(), Some("us-west-2"));
        assert_eq!(config.sso_sessions().unwrap(), [session]);
    }

    #[tokio::test]
    async fn the_index_answers_as_the_file_does() {
        let config = parse(SAMPLE).await;
        let index = config.index();
        for name in ["dev", "legacy", "broken", "dangling", "default", "nobody"] {
            assert_eq!(index.profile(name), config.profile(name), "{name}");
            let role = index.profile_role(name).map(|role| {
                let key = &*role.role;
                (key.clone(), (*role.session).clone())
            });
            let expected = config.profile(name).map(|profile| {
                let key = RoleKey {
                    session: profile.session.name.clone(),
                    account_id: profile.account_id,
                    role_name: profile.role_name,
                };
                (key, profile.session)
            });
            assert_eq!(role, expected, "{name}");
        }
        assert_eq!(index.sso_session("corp"), config.sso_session("corp"));
        assert_eq!(index.sso_session("other"), config.sso_session("other"));
        assert_eq!(index.sso_sessions(), config.sso_sessions());
        assert_eq!(index.file(), config.file());
    }

    #[tokio::test]
    async fn a_legacy_profile_implies_its_session() {
        let legacy = parse(SAMPLE).await.profile("legacy").unwrap();
        assert_eq!(legacy.session.name, "https://legacy.awsapps.com/start");
        assert_eq!(legacy.session.region, "eu-central-1");
        assert_eq!(legacy.session.registration_scopes, [DEFAULT_SCOPE]);
    }

    #[tokio::test]
    async fn errors_name_the_file_the_section_and_the_key() {
        let config = parse(SAMPLE).await;
        let file = "/home/me/.aws/config";
        assert_eq!(
            config.profile("broken").unwrap_err().to_string(),
            format!(
                "[profile broken] in {file} has no `sso_role_name`; add `sso_role_name = …` to it"
            )
        );
        assert_eq!(
            config.sso_session("other").unwrap_err().to_string(),
            format!("there is no [sso-session other] in {file}")
        );
        assert_eq!(
            config.profile("nobody").unwrap_err().to_string(),
            format!("there is no [profile nobody] in {file}")
        );
        assert!(matches!(
            config.profile("dangling").unwrap_err(),
            ConfigError::DanglingSession { .. }
        ));
        assert!(matches!(
            config.profile("default").unwrap_err(),
            ConfigError::MissingKey { section, .. } if section == "default"
        ));
    }

    #[tokio::test]
    async fn a_start_url_that_is_not_a_url_is_refused() {
        let config =
            parse("[sso-session x]\nsso_start_url = corp.awsapps.com\nsso_region = us-east-1\n")
                .await;
        let err = config.sso_session("x").unwrap_err();
        assert!(
            err.to_string()
                .contains("`sso_start_url = corp.awsapps.com` is not an http(s) URL"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn aws_config_file_overrides_the_path() {
        let fs = Fs::from_slice(&[(
            "/etc/aws.conf",
            "[sso-session s]\nsso_start_url = https://s.example/start\nsso_region = us-east-1\n",
        )]);
        let env = Env::from_slice(&[("HOME", "/home/me"), ("AWS_CONFIG_FILE", "/etc/aws.conf")]);
        let config = AwsConfig::load_from(&fs, &env).await.unwrap();
        assert_eq!(config.file(), "/etc/aws.conf");
        assert_eq!(
            config.sso_session("s").unwrap().registration_scopes,
            [DEFAULT_SCOPE]
        );
    }

    #[test]
    fn a_config_file_path_under_the_home_directory_is_expanded() {
        let with = |vars: &[(&str, &str)]| config_file_path(&Env::from_slice(vars));
        assert_eq!(
            with(&[("HOME", "/home/me"), ("AWS_CONFIG_FILE", "~/work/aws")]),
            "/home/me/work/aws"
        );
        assert_eq!(
            with(&[("HOME", "/home/me"), ("AWS_CONFIG_FILE", "~other/aws")]),
            "~other/aws"
        );
        assert_eq!(with(&[("HOME", "/home/me")]), "/home/me/.aws/config");
    }
}
