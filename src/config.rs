//! The AWS CLI's own configuration file is ours: `[sso-session NAME]` and `[profile NAME]`
//! sections of `~/.aws/config` (or `$AWS_CONFIG_FILE`). It is parsed by aws-config's own parser,
//! so comments, `[default]`, sub-sections and whitespace behave exactly as in the SDKs; section
//! names are read as botocore reads them (`[profile "my dev"]`, see `headers`).

mod endpoint;
pub mod generated;
mod headers;
mod index;
pub mod license;

pub use endpoint::{configured_endpoint, reachability_advice, Service, SSO_OIDC, SSO_PORTAL};
pub use index::{ConfigIndex, LicenseEntry};
pub use license::LicenseProfileConfig;

use aws_config::profile::ProfileSet;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_types::os_shim_internal::{Env, Fs};
use headers::{IgnoredSection, SectionKind};
use std::collections::HashMap;
use std::sync::Arc;

pub const DEFAULT_SCOPE: &str = "sso:account:access";
/// The `[sso-session]` key that chooses the login flow (`auto | browser | device-code`).
pub const LOGIN_FLOW_KEY: &str = "sso_agent_login_flow";
/// The `[sso-session]` key that turns on the AWS CLI token cache export.
pub const CLI_CACHE: &str = "sso_agent_cli_cache";

/// One `[sso-session NAME]` (or the session a legacy profile implies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSessionConfig {
    /// The section's name; for a legacy profile, its start URL (profiles that share a start URL
    /// share a login, as in the AWS CLI's cache).
    pub name: String,
    pub start_url: String,
    pub region: String,
    pub registration_scopes: Vec<String>,
    /// `sso_agent_login_flow`: which login the agent runs (default `auto`: by the display).
    pub login_flow: crate::login_flow::FlowSetting,
    /// `sso_agent_cli_cache = true`: the agent keeps the AWS CLI's token cache file for this
    /// session (`cli_cache`). Off by default, and always off for a legacy profile's session.
    pub cli_cache: bool,
}

impl SsoSessionConfig {
    /// Whether a session opened with `self` still serves `other`: every key that decides its
    /// token and its files is the same. `sso_agent_login_flow` is not one of them: it is read
    /// at each login, so an edit of it alone keeps the session and its token.
    pub fn same_session(&self, other: &Self) -> bool {
        let Self {
            name,
            start_url,
            region,
            registration_scopes,
            login_flow: _,
            cli_cache,
        } = self;
        *name == other.name
            && *start_url == other.start_url
            && *region == other.region
            && *registration_scopes == other.registration_scopes
            && *cli_cache == other.cli_cache
    }

    /// A legacy profile's session is named by its start URL; a section's name never is one.
    pub fn is_legacy(&self) -> bool {
        self.name == self.start_url
    }
}

/// The command that logs in to a session, for messages. A legacy session (named by its start
/// URL) is logged in through a profile that uses it: `sso-agent login --profile P`. Without the
/// configuration at hand (`profile` None), a legacy session's command names its start URL, which
/// `login --sso-session` also accepts.
pub fn login_command(session: &str, legacy_profile: Option<&str>) -> String {
    match legacy_profile {
        Some(profile) => format!("sso-agent login --profile {}", shell_word(profile)),
        None => format!("sso-agent login --sso-session {}", shell_word(session)),
    }
}

/// A name as one shell word: as it is when that is safe, else in single quotes.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
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
///
/// The three names live in one allocation, not three `String`s: two allocations a profile instead
/// of four, for as long as the agent runs (configs have thousands of profiles).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RoleKey {
    /// The session, the account and the role name, one after the other.
    names: Box<str>,
    /// Where the account and the role name start in `names`.
    account_at: usize,
    role_at: usize,
    /// A License Manager profile's role (its credentials come from AssumeRoleWithWebIdentity).
    pub license: bool,
}

impl RoleKey {
    pub fn new(session: &str, account_id: &str, role_name: &str, license: bool) -> Self {
        Self {
            names: [session, account_id, role_name].concat().into_boxed_str(),
            account_at: session.len(),
            role_at: session.len() + account_id.len(),
            license,
        }
    }

    pub fn license(profile: &LicenseProfileConfig) -> Self {
        let (account_id, role_name) = profile
            .role_arn
            .split_once(":role/")
            .map(|(head, path)| {
                let account = head.rsplit(':').next().unwrap_or_default();
                let name = path.rsplit('/').next().unwrap_or(path);
                (account, name)
            })
            .unwrap_or_default();
        Self::new(&profile.name, account_id, role_name, true)
    }

    /// The sso-session; for a License Manager profile, the profile's name.
    pub fn session(&self) -> &str {
        &self.names[..self.account_at]
    }

    pub fn account_id(&self) -> &str {
        &self.names[self.account_at..self.role_at]
    }

    pub fn role_name(&self) -> &str {
        &self.names[self.role_at..]
    }

    fn parts(&self) -> (&str, &str, &str, bool) {
        (
            self.session(),
            self.account_id(),
            self.role_name(),
            self.license,
        )
    }
}

/// By session, account, role name, then source, as `status` lists them.
impl Ord for RoleKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl PartialOrd for RoleKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for RoleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleKey")
            .field("session", &self.session())
            .field("account_id", &self.account_id())
            .field("role_name", &self.role_name())
            .field("license", &self.license)
            .finish()
    }
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
    #[error("{file} is not UTF-8 text (the first bad byte is on line {line}); save it as UTF-8")]
    NotUtf8 { file: String, line: usize },
    #[error("{file} line {line}: {reason}; fix that line (the SDKs cannot read the file either)")]
    Syntax {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("there is no [sso-session {name}] in {file}{}", did_you_mean("sso-session", .nearest))]
    UnknownSession {
        file: String,
        name: String,
        /// The configured name closest to it, when one is close: likely a typo.
        nearest: Option<String>,
    },
    #[error("there is no [profile {name}] in {file}{}", did_you_mean("profile", .nearest))]
    UnknownProfile {
        file: String,
        name: String,
        nearest: Option<String>,
    },
    #[error(
        "there is no [{section}] in {file}: the section on line {line} is ignored because {reason}"
    )]
    IgnoredSection {
        file: String,
        section: String,
        line: usize,
        reason: String,
    },
    #[error("[{section}] in {file} has no `{key}`; add `{key} = …` to it")]
    MissingKey {
        file: String,
        section: String,
        key: String,
    },
    #[error("[{section}] in {file} is a credential_process profile, not the one with the SSO keys: name the profile its `credential_process --profile` names (keep SSO keys out of this one, or the SDKs stop running the helper)")]
    HelperProfile { file: String, section: String },
    #[error("[{section}] in {file} is not an SSO profile: its credentials come from {source_keys}; sso-agent serves profiles with `sso_session` (`sso-agent configure` writes them) or a License Manager token")]
    NotSsoProfile {
        file: String,
        section: String,
        source_keys: &'static str,
    },
    #[error("[{section}] in {file}: `{key}` goes on over indented lines below it; put its value on one line and un-indent the lines after it")]
    MultiLine {
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
    #[error("[{section}] in {file} has both an SSO source ({sso_keys}) and a License Manager token ({license_keys}); a profile has one source: keep one set of keys and move the other to a profile of its own")]
    TwoSources {
        file: String,
        section: String,
        sso_keys: String,
        license_keys: String,
    },
    #[error("[{section}] in {file} is a License Manager profile (its credentials come from its token, not an sso-session); use it with credential-process, exec or export, and `sso-agent license import|create-token --profile` for its token")]
    LicenseProfile { file: String, section: String },
    #[error("[{section}] in {file}: `{key}` must be {expected}")]
    InvalidValue {
        file: String,
        section: String,
        key: String,
        expected: String,
    },
    #[error("[profile {profile}] in {file} names `{key} = {name}`, but there is no [sso-session {name}]")]
    DanglingSession {
        file: String,
        profile: String,
        /// `sso_session`, or a generated profile's `sso_agent_session`.
        key: &'static str,
        name: String,
    },
}

/// The parsed configuration file.
pub struct AwsConfig {
    file: String,
    sections: ProfileSet,
    /// Names as written for the stand-ins aws-config knows quoted sections by.
    stand_ins: HashMap<(SectionKind, String), String>,
    ignored: Vec<IgnoredSection>,
}

impl AwsConfig {
    /// Reads the user's configuration as the SDKs do (`AWS_CONFIG_FILE`, else `~/.aws/config`).
    pub async fn load() -> Result<Self, ConfigError> {
        Self::load_from(&Fs::real(), &Env::real()).await
    }

    /// Reads it through the given file system and environment (tests use in-memory ones).
    pub async fn load_from(fs: &Fs, env: &Env) -> Result<Self, ConfigError> {
        let file = config_file_path(env);
        let bytes = fs
            .read_to_end(&file)
            .await
            .map_err(|err| ConfigError::Unreadable {
                file: file.clone(),
                reason: err.to_string(),
            })?;
        // aws-config would log the error with the file's bytes and read an empty file instead.
        let text = String::from_utf8(bytes).map_err(|err| ConfigError::NotUtf8 {
            file: file.clone(),
            line: line_of(err.as_bytes(), err.utf8_error().valid_up_to()),
        })?;
        let mut prepared = headers::prepare(&text);
        drop(text);
        let files = EnvConfigFiles::builder()
            .with_contents(
                EnvConfigFileKind::Config,
                std::mem::take(&mut prepared.text),
            )
            .build();
        let sections = aws_config::profile::load(fs, env, &files, None)
            .await
            .map_err(|err| syntax_error(&file, &err))?;
        Ok(Self {
            file,
            sections,
            stand_ins: prepared.stand_ins,
            ignored: prepared.ignored,
        })
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// The key that makes `[default]` a credentials source the SDKs take before a container
    /// endpoint (their chain tries the profile first), if it has one.
    pub fn default_profile_source(&self) -> Option<&'static str> {
        let profile = self.sections.get_profile("default")?;
        CREDENTIAL_SOURCE_KEYS
            .into_iter()
            .find(|key| profile.get(key).is_some())
    }

    /// The name aws-config knows a section by.
    fn parsed<'a>(&'a self, kind: SectionKind, name: &'a str) -> &'a str {
        self.stand_ins
            .get(&(kind, name.to_string()))
            .map(String::as_str)
            .unwrap_or(name)
    }

    /// The name as written of a section aws-config reports.
    fn written<'a>(&'a self, kind: SectionKind, parsed: &'a str) -> &'a str {
        self.stand_ins
            .iter()
            .find(|((k, _), stand_in)| *k == kind && stand_in.as_str() == parsed)
            .map(|((_, written), _)| written.as_str())
            .unwrap_or(parsed)
    }

    /// The `[sso-session NAME]` names as written, sorted (also for completion).
    pub fn session_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .sections
            .sso_sessions()
            .map(|name| self.written(SectionKind::SsoSession, name))
            .collect();
        names.sort_unstable();
        names
    }

    /// The profiles that name an SSO role or a License Manager token (the ones sso-agent serves),
    /// sorted: for completion.
    pub fn served_profiles(&self) -> Vec<String> {
        self.profile_names()
            .into_iter()
            .filter(|name| {
                self.profile(name).is_ok() || matches!(self.license_profile(name), Ok(Some(_)))
            })
            .map(str::to_string)
            .collect()
    }

    fn profile_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .sections
            .profiles()
            .map(|name| self.written(SectionKind::Profile, name))
            .collect();
        names.sort_unstable();
        names
    }

    /// The `[sso-session NAME]` section; a start URL names the session of the legacy profiles
    /// that have it (the first of them, by name, gives its region).
    pub fn sso_session(&self, name: &str) -> Result<SsoSessionConfig, ConfigError> {
        match self
            .sections
            .sso_session(self.parsed(SectionKind::SsoSession, name))
        {
            Some(section) => self.session_section(name, section),
            None => self
                .legacy_sessions()
                .into_iter()
                .find(|(url, _, _)| url == name)
                .map(|(_, _, session)| session)
                .unwrap_or_else(|| {
                    Err(unknown(
                        &self.file,
                        &self.ignored,
                        SectionKind::SsoSession,
                        name,
                        self.session_names(),
                    ))
                }),
        }
    }

    fn session_section(
        &self,
        name: &str,
        section: &aws_runtime::env_config::section::SsoSession,
    ) -> Result<SsoSessionConfig, ConfigError> {
        let title = format!("sso-session {name}");
        let get = |key: &str| self.required(&title, key, section.get(key));
        let start_url = get("sso_start_url")?;
        self.check_url(&title, &start_url)?;
        Ok(SsoSessionConfig {
            name: name.to_string(),
            start_url,
            region: get("sso_region")?,
            registration_scopes: scopes(self.optional(
                &title,
                "sso_registration_scopes",
                section.get("sso_registration_scopes"),
            )?),
            login_flow: self.login_flow(&title, section.get(LOGIN_FLOW_KEY))?,
            cli_cache: self.flag(&title, CLI_CACHE, section.get(CLI_CACHE))?,
        })
    }

    /// Every `[sso-session NAME]` section, in name order; the first invalid one is the error.
    pub fn sso_sessions(&self) -> Result<Vec<SsoSessionConfig>, ConfigError> {
        self.session_names()
            .into_iter()
            .map(|name| self.sso_session(name))
            .collect()
    }

    /// Every session on its own, so that one broken section does not hide the rest: the
    /// `[sso-session]` sections in name order, then the sessions legacy profiles imply (named by
    /// their start URLs), in order of those names.
    pub fn sso_sessions_each(&self) -> Vec<(String, Result<SsoSessionConfig, ConfigError>)> {
        let mut each: Vec<_> = self
            .session_names()
            .into_iter()
            .map(|name| (name.to_string(), self.sso_session(name)))
            .collect();
        let named: Vec<String> = each.iter().map(|(name, _)| name.clone()).collect();
        each.extend(
            self.legacy_sessions()
                .into_iter()
                .filter(|(url, _, _)| !named.contains(url))
                .map(|(url, _, session)| (url, session)),
        );
        each
    }

    /// The command that logs in to `session`, for messages: `--profile P` for a legacy session.
    pub fn login_command(&self, session: &str) -> String {
        let legacy = if self
            .sections
            .sso_session(self.parsed(SectionKind::SsoSession, session))
            .is_some()
        {
            None
        } else {
            self.legacy_sessions()
                .into_iter()
                .find(|(url, _, _)| url == session)
                .map(|(_, profile, _)| profile)
        };
        login_command(session, legacy.as_deref())
    }

    /// The sessions legacy profiles imply: (start URL, the first profile by name that has it,
    /// the session as that profile describes it), one per start URL, in start URL order.
    fn legacy_sessions(&self) -> Vec<(String, String, Result<SsoSessionConfig, ConfigError>)> {
        let mut found: Vec<(String, String, Result<SsoSessionConfig, ConfigError>)> = Vec::new();
        for name in self.profile_names() {
            let Some(profile) = self
                .sections
                .get_profile(self.parsed(SectionKind::Profile, name))
            else {
                continue;
            };
            if profile.get("sso_session").is_some() {
                continue;
            }
            let Some(url) = profile
                .get("sso_start_url")
                .map(str::trim)
                .filter(|url| !url.is_empty())
            else {
                continue;
            };
            if found.iter().any(|(seen, _, _)| seen == url) {
                continue;
            }
            let session = self.legacy_session(&profile_title(name), profile);
            found.push((url.to_string(), name.to_string(), session));
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    fn legacy_session(
        &self,
        title: &str,
        profile: &aws_config::profile::Profile,
    ) -> Result<SsoSessionConfig, ConfigError> {
        // The profile the SDKs run the helper for: adding SSO keys to it would stop them from
        // running it, so point at the profile it names instead.
        if profile.get("sso_start_url").is_none() {
            let other_source = match profile.get("credential_process") {
                Some(command) if helper_target(command).is_some() => {
                    return Err(ConfigError::HelperProfile {
                        file: self.file.clone(),
                        section: title.to_string(),
                    })
                }
                Some(_) => Some("`credential_process` (another tool)"),
                None if profile.get("aws_access_key_id").is_some() => {
                    Some("keys (`aws_access_key_id`)")
                }
                None if profile.get("role_arn").is_some() => Some("`role_arn` (an assumed role)"),
                None => None,
            };
            if let Some(source_keys) = other_source {
                return Err(ConfigError::NotSsoProfile {
                    file: self.file.clone(),
                    section: title.to_string(),
                    source_keys,
                });
            }
        }
        let start_url = self.required(title, "sso_start_url", profile.get("sso_start_url"))?;
        self.check_url(title, &start_url)?;
        Ok(SsoSessionConfig {
            name: start_url.clone(),
            region: self.required(title, "sso_region", profile.get("sso_region"))?,
            start_url,
            registration_scopes: vec![DEFAULT_SCOPE.to_string()],
            login_flow: crate::login_flow::FlowSetting::Auto,
            cli_cache: false,
        })
    }

    /// The `[profile NAME]` section (`[default]` for `default`). A profile whose only source is
    /// sso-agent's own helper (`credential_process = sso-agent-credential-process --profile X`)
    /// is the profile X it names, so the name people use with the AWS CLI works everywhere;
    /// its own `region`, if it has one, wins over X's.
    pub fn profile(&self, name: &str) -> Result<ProfileConfig, ConfigError> {
        match self.direct_profile(name) {
            Err(ConfigError::HelperProfile { .. }) if self.helper_target(name).is_some() => {
                let target = self.helper_target(name).expect("checked just above");
                // One hop: a helper naming another helper profile is the error it was.
                let mut resolved = self.direct_profile(&target)?;
                let title = profile_title(name);
                if let Some(profile) = self
                    .sections
                    .get_profile(self.parsed(SectionKind::Profile, name))
                {
                    if let Some(region) = self.optional(&title, "region", profile.get("region"))? {
                        resolved.region = Some(region.to_string());
                    }
                }
                Ok(resolved)
            }
            other => other,
        }
    }

    /// The profile sso-agent's helper is told to serve in `name`'s `credential_process`.
    fn helper_target(&self, name: &str) -> Option<String> {
        let profile = self
            .sections
            .get_profile(self.parsed(SectionKind::Profile, name))?;
        helper_target(profile.get("credential_process")?)
    }

    fn direct_profile(&self, name: &str) -> Result<ProfileConfig, ConfigError> {
        let profile = self
            .sections
            .get_profile(self.parsed(SectionKind::Profile, name))
            .ok_or_else(|| {
                unknown(
                    &self.file,
                    &self.ignored,
                    SectionKind::Profile,
                    name,
                    self.profile_names(),
                )
            })?;
        let title = profile_title(name);
        self.check_one_source(name)?;
        if self.has_license_keys(name) {
            return Err(ConfigError::LicenseProfile {
                file: self.file.clone(),
                section: title,
            });
        }
        // Only where the SDKs would run the helper: with SSO keys of their own they do not.
        let sdk_sso =
            profile.get("sso_session").is_some() || profile.get("sso_start_url").is_some();
        if !sdk_sso {
            if let Some(session_name) =
                self.optional(&title, generated::SESSION, profile.get(generated::SESSION))?
            {
                return self.generated_profile(name, &title, session_name, profile);
            }
        }
        let session = match self.optional(&title, "sso_session", profile.get("sso_session"))? {
            Some(session_name) => self.named_session(name, "sso_session", session_name)?,
            // A legacy profile: the session's keys sit in the profile itself.
            None => self.legacy_session(&title, profile)?,
        };
        Ok(ProfileConfig {
            name: name.to_string(),
            session,
            account_id: self.required(&title, "sso_account_id", profile.get("sso_account_id"))?,
            role_name: self.required(&title, "sso_role_name", profile.get("sso_role_name"))?,
            region: self
                .optional(&title, "region", profile.get("region"))?
                .map(str::to_string),
        })
    }

    /// A profile `sso-agent configure` wrote: its role in `sso_agent_*` keys (see `generated`).
    fn generated_profile(
        &self,
        name: &str,
        title: &str,
        session_name: &str,
        profile: &aws_config::profile::Profile,
    ) -> Result<ProfileConfig, ConfigError> {
        let key = |key: &str| self.required(title, key, profile.get(key));
        Ok(ProfileConfig {
            name: name.to_string(),
            session: self.named_session(name, generated::SESSION, session_name)?,
            account_id: key(generated::ACCOUNT_ID)?,
            role_name: key(generated::ROLE_NAME)?,
            region: self
                .optional(title, "region", profile.get("region"))?
                .map(str::to_string),
        })
    }

    /// The `[sso-session NAME]` a profile names.
    fn named_session(
        &self,
        profile: &str,
        key: &'static str,
        session: &str,
    ) -> Result<SsoSessionConfig, ConfigError> {
        match self
            .sections
            .sso_session(self.parsed(SectionKind::SsoSession, session))
        {
            Some(section) => self.session_section(session, section),
            None => Err(ConfigError::DanglingSession {
                file: self.file.clone(),
                profile: profile.to_string(),
                key,
                name: session.to_string(),
            }),
        }
    }

    /// `sso_agent_login_flow`: absent is `auto`; another value is an error naming the three.
    fn login_flow(
        &self,
        section: &str,
        value: Option<&str>,
    ) -> Result<crate::login_flow::FlowSetting, ConfigError> {
        let Some(value) = self.optional(section, LOGIN_FLOW_KEY, value)? else {
            return Ok(crate::login_flow::FlowSetting::Auto);
        };
        crate::login_flow::FlowSetting::parse(value).ok_or_else(|| ConfigError::InvalidValue {
            file: self.file.clone(),
            section: section.to_string(),
            key: LOGIN_FLOW_KEY.to_string(),
            expected: format!(
                "one of {} (it is `{value}`)",
                crate::login_flow::FLOW_SETTINGS
            ),
        })
    }

    fn required(
        &self,
        section: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<String, ConfigError> {
        self.optional(section, key, value)?
            .map(str::to_string)
            .ok_or_else(|| ConfigError::MissingKey {
                file: self.file.clone(),
                section: section.to_string(),
                key: key.to_string(),
            })
    }

    /// A one-line value, trimmed; empty is absent. aws-config joins indented lines below a key
    /// into its value (`sso_region = us-east-1` then `  x` reads as "us-east-1\nx"): refused.
    fn optional<'v>(
        &self,
        section: &str,
        key: &str,
        value: Option<&'v str>,
    ) -> Result<Option<&'v str>, ConfigError> {
        let value = value.map(str::trim).filter(|value| !value.is_empty());
        match value {
            Some(value) if value.contains('\n') => Err(ConfigError::MultiLine {
                file: self.file.clone(),
                section: section.to_string(),
                key: key.to_string(),
            }),
            _ => Ok(value),
        }
    }

    /// A `true`/`false` key (absent: false); any other value is an error naming the key.
    fn flag(&self, section: &str, key: &str, value: Option<&str>) -> Result<bool, ConfigError> {
        match self.optional(section, key, value)? {
            None => Ok(false),
            Some(value) if value.eq_ignore_ascii_case("true") => Ok(true),
            Some(value) if value.eq_ignore_ascii_case("false") => Ok(false),
            // botocore's `ensure_boolean` takes any case too, but reads every other value as
            // false; here it is an error naming the value, as `sso_agent_login_flow`'s is.
            Some(value) => Err(ConfigError::InvalidValue {
                file: self.file.clone(),
                section: section.to_string(),
                key: key.to_string(),
                expected: format!("true or false, in any case (it is `{value}`)"),
            }),
        }
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

fn profile_title(name: &str) -> String {
    if name == "default" {
        "default".to_string()
    } else {
        format!("profile {name}")
    }
}

/// Keys that make a profile a source of credentials for the SDKs.
const CREDENTIAL_SOURCE_KEYS: [&str; 6] = [
    "aws_access_key_id",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "role_arn",
    "web_identity_token_file",
];

/// Whether the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
/// `~/.aws/credentials`) has keys for `[default]`: its path then. A missing file has none.
pub async fn default_credentials_file_keys() -> Option<String> {
    let files = EnvConfigFiles::builder()
        .include_default_credentials_file(true)
        .build();
    let sections = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None)
        .await
        .ok()?;
    let profile = sections.get_profile("default")?;
    profile.get("aws_access_key_id")?;
    Some(
        std::env::var("AWS_SHARED_CREDENTIALS_FILE")
            .unwrap_or_else(|_| "~/.aws/credentials".to_string()),
    )
}

/// `; did you mean [profile dev]?`, or nothing.
fn did_you_mean(kind: &str, nearest: &Option<String>) -> String {
    nearest
        .as_ref()
        .map(|name| format!("; did you mean [{kind} {name}]?"))
        .unwrap_or_default()
}

/// The name among `names` a typo of `name` most likely meant (Jaro-Winkler, as clap suggests
/// subcommands), if any is close.
fn nearest<'a>(name: &str, names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    names
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        // Ties go to the first name in order, so the answer does not depend on a map's order.
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, candidate)| candidate.to_string())
}

/// "There is no such section" (with the nearest name `names` has), or, when the file has a
/// header for it that is ignored, why.
fn unknown<'a>(
    file: &str,
    ignored: &[IgnoredSection],
    kind: SectionKind,
    name: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> ConfigError {
    match ignored.iter().find(|s| s.kind == kind && s.name == name) {
        Some(section) => ConfigError::IgnoredSection {
            file: file.to_string(),
            section: format!("{} {name}", kind.prefix()),
            line: section.line,
            reason: section.reason.clone(),
        },
        None => match kind {
            SectionKind::Profile => ConfigError::UnknownProfile {
                file: file.to_string(),
                name: name.to_string(),
                nearest: nearest(name, names),
            },
            SectionKind::SsoSession => ConfigError::UnknownSession {
                file: file.to_string(),
                name: name.to_string(),
                nearest: nearest(name, names),
            },
        },
    }
}

/// The 1-based line of a byte offset.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// aws-config's parse error says only "could not parse profile file"; its source has the line
/// and the reason, as "error parsing <path> on line N:\n  <reason>".
fn syntax_error(file: &str, err: &aws_config::profile::ProfileFileLoadError) -> ConfigError {
    let detail = std::error::Error::source(err)
        .map(|source| source.to_string())
        .unwrap_or_else(|| err.to_string());
    let parsed = detail.split_once(" on line ").and_then(|(_, rest)| {
        let (line, reason) = rest.split_once(':')?;
        Some((line.trim().parse().ok()?, reason.trim().to_string()))
    });
    match parsed {
        Some((line, reason)) => ConfigError::Syntax {
            file: file.to_string(),
            line,
            reason,
        },
        None => ConfigError::Unreadable {
            file: file.to_string(),
            reason: detail.replace('\n', " "),
        },
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
    crate::paths::config_file(env.get("HOME").ok(), env.get("AWS_CONFIG_FILE").ok())
}

#[cfg(test)]
mod edge_tests;

/// `X` of `sso-agent-credential-process --profile X` or `sso-agent credential-process --profile
/// X` (any path to the binary, `--profile=X` too, X optionally quoted): another helper is not ours
/// to follow.
fn helper_target(command: &str) -> Option<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let program = words.first()?.trim_matches(|c| c == '\'' || c == '"');
    let binary = program.rsplit('/').next()?;
    let args = match binary {
        "sso-agent-credential-process" => &words[1..],
        "sso-agent" if words.get(1) == Some(&"credential-process") => &words[2..],
        _ => return None,
    };
    let value = match args {
        ["--profile", value] => *value,
        [flag] => flag.strip_prefix("--profile=")?,
        _ => return None,
    };
    let value = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
        .unwrap_or(value);
    (!value.is_empty()).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_key_keeps_its_three_names_apart_and_orders_by_them() {
        let key = RoleKey::new("corp", "111122223333", "Developer", false);
        assert_eq!(
            (key.session(), key.account_id(), key.role_name()),
            ("corp", "111122223333", "Developer")
        );
        // The same letters split differently are another role.
        assert_ne!(
            RoleKey::new("ab", "c", "d", false),
            RoleKey::new("a", "bc", "d", false)
        );
        assert_ne!(key, RoleKey::new("corp", "111122223333", "Developer", true));
        // By the names one at a time, not by the joined string: "corp-dev1A" < "corp2A", but the
        // session "corp" comes before "corp-dev".
        let mut keys = [
            RoleKey::new("corp-dev", "1", "A", false),
            RoleKey::new("corp", "2", "A", true),
            RoleKey::new("corp", "2", "A", false),
            RoleKey::new("corp", "1", "B", false),
        ];
        keys.sort();
        let order: Vec<_> = keys
            .iter()
            .map(|k| (k.session(), k.account_id(), k.role_name(), k.license))
            .collect();
        assert_eq!(
            order,
            [
                ("corp", "1", "B", false),
                ("corp", "2", "A", false),
                ("corp", "2", "A", true),
                ("corp-dev", "1", "A", false)
            ]
        );
    }

    #[test]
    fn only_our_own_helper_is_followed_to_the_profile_it_names() {
        for (command, target) in [
            (
                "sso-agent-credential-process --profile dev-sso",
                Some("dev-sso"),
            ),
            (
                "/home/me/.cargo/bin/sso-agent-credential-process --profile=dev",
                Some("dev"),
            ),
            ("sso-agent credential-process --profile 'my dev'", None), // spaces: not split here
            (
                "sso-agent credential-process --profile \"dev\"",
                Some("dev"),
            ),
            ("sso-agent status --profile dev", None),
            ("aws-vault export --format=json dev", None),
            ("sso-agent-credential-process --profile", None),
            ("sso-agent-credential-process --profile dev --extra", None),
        ] {
            assert_eq!(helper_target(command).as_deref(), target, "{command}");
        }
    }

    #[tokio::test]
    async fn a_helper_profile_is_the_profile_it_names_with_its_own_region() {
        let config = parse(
            "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\
             [profile dev-sso]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Dev\nregion = us-west-2\n\
             [profile dev]\ncredential_process = sso-agent-credential-process --profile dev-sso\nregion = eu-west-1\n\
             [profile loop]\ncredential_process = sso-agent-credential-process --profile dev\n\
             [profile vault]\ncredential_process = aws-vault export dev\n",
        )
        .await;
        let dev = config.profile("dev").unwrap();
        assert_eq!(dev.account_id, "111122223333");
        assert_eq!(dev.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            config.index().profile_role("dev").unwrap().role.role_name(),
            "Dev"
        );
        assert!(matches!(
            config.profile("loop"),
            Err(ConfigError::HelperProfile { .. })
        ));
        assert!(config.profile("vault").unwrap_err().to_string().contains(
            "is not an SSO profile: its credentials come from `credential_process` (another tool)"
        ));
        let keys =
            parse("[profile static]\naws_access_key_id = AKIA\naws_secret_access_key = x\n").await;
        assert!(keys
            .profile("static")
            .unwrap_err()
            .to_string()
            .contains("is not an SSO profile: its credentials come from keys"));
    }

    #[tokio::test]
    async fn a_generated_profile_is_the_role_its_sso_agent_keys_name() {
        let config = parse(
            "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\
             [profile dev/Developer]\nsso_agent_generated = true\nsso_agent_session = corp\n\
             sso_agent_account_id = 111122223333\nsso_agent_role_name = Developer\n\
             credential_process = sso-agent-credential-process --profile dev/Developer\nregion = eu-west-1\n\
             [profile via]\ncredential_process = sso-agent-credential-process --profile dev/Developer\n\
             [profile half]\nsso_agent_session = corp\nsso_agent_account_id = 1\n\
             [profile dangling]\nsso_agent_session = nope\nsso_agent_account_id = 1\nsso_agent_role_name = R\n",
        )
        .await;
        let generated = config.profile("dev/Developer").unwrap();
        assert_eq!(generated.session, config.sso_session("corp").unwrap());
        assert_eq!(
            (generated.account_id.as_str(), generated.role_name.as_str()),
            ("111122223333", "Developer")
        );
        assert_eq!(generated.region.as_deref(), Some("eu-west-1"));
        assert_eq!(config.profile("via").unwrap().role_name, "Developer");
        assert_eq!(config.index().profile("dev/Developer"), Ok(generated));
        assert!(matches!(
            config.profile("half"),
            Err(ConfigError::MissingKey { key, .. }) if key == "sso_agent_role_name"
        ));
        assert!(matches!(
            config.profile("dangling"),
            Err(ConfigError::DanglingSession { .. })
        ));
    }

    #[tokio::test]
    async fn the_login_flow_key_takes_three_values_and_names_them_otherwise() {
        let section = |value: &str| {
            format!("[sso-session s]\nsso_start_url = https://s.example/start\nsso_region = us-east-1\n{value}")
        };
        use crate::login_flow::FlowSetting;
        for (line, expected) in [
            ("", FlowSetting::Auto),
            ("sso_agent_login_flow = auto\n", FlowSetting::Auto),
            ("sso_agent_login_flow = browser\n", FlowSetting::Browser),
            (
                "sso_agent_login_flow = device-code\n",
                FlowSetting::DeviceCode,
            ),
        ] {
            let config = parse(&section(line)).await;
            assert_eq!(
                config.sso_session("s").unwrap().login_flow,
                expected,
                "{line}"
            );
        }
        let config = parse(&section("sso_agent_login_flow = pkce\n")).await;
        let err = config.sso_session("s").unwrap_err().to_string();
        assert!(
            err.contains("sso_agent_login_flow")
                && err.contains("auto, browser, device-code")
                && err.contains("pkce"),
            "{err}"
        );
    }

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
                let key = RoleKey::new(
                    &profile.session.name,
                    &profile.account_id,
                    &profile.role_name,
                    false,
                );
                (key, profile.session)
            });
            assert_eq!(role, expected, "{name}");
        }
        assert_eq!(index.sso_session("corp"), config.sso_session("corp"));
        assert_eq!(index.sso_session("other"), config.sso_session("other"));
        assert_eq!(index.sso_sessions(), config.sso_sessions());
        assert_eq!(index.sso_sessions_each(), config.sso_sessions_each());
        let legacy = "https://legacy.awsapps.com/start";
        assert_eq!(index.sso_session(legacy), config.sso_session(legacy));
        for session in ["corp", legacy, "other"] {
            assert_eq!(index.login_command(session), config.login_command(session));
        }
        assert_eq!(index.file(), config.file());
    }

    #[tokio::test]
    async fn the_cli_cache_key_is_true_or_false_and_off_by_default() {
        let session = |value: &str| {
            format!("[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n{value}")
        };
        assert!(
            !parse(&session(""))
                .await
                .sso_session("corp")
                .unwrap()
                .cli_cache
        );
        for (value, wanted) in [
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("  tRuE  ", true),
            ("false", false),
            ("FALSE", false),
            ("False", false),
        ] {
            let text = session(&format!("sso_agent_cli_cache = {value}\n"));
            let config = parse(&text).await.sso_session("corp").unwrap();
            assert_eq!(config.cli_cache, wanted, "{value}");
        }
        let err = parse(&session("sso_agent_cli_cache = yes\n"))
            .await
            .sso_session("corp")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "[sso-session corp] in /home/me/.aws/config: `sso_agent_cli_cache` must be true or false, in any case (it is `yes`)"
        );
        // The same rules as `sso_agent_login_flow`: case and surrounding space do not matter.
        assert_eq!(
            crate::login_flow::FlowSetting::parse("  Device-Code "),
            Some(crate::login_flow::FlowSetting::DeviceCode)
        );
        let legacy = parse(SAMPLE).await.profile("legacy").unwrap();
        assert!(!legacy.session.cli_cache);
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
        // A typo is answered with the name it most likely meant, by the parser and the index.
        let typo = format!("there is no [profile devv] in {file}; did you mean [profile dev]?");
        assert_eq!(config.profile("devv").unwrap_err().to_string(), typo);
        assert_eq!(
            config.index().profile("devv").unwrap_err().to_string(),
            typo
        );
        assert_eq!(
            config.sso_session("crop").unwrap_err().to_string(),
            format!("there is no [sso-session crop] in {file}; did you mean [sso-session corp]?")
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
