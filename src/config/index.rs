//! What the agent keeps of the file (`ConfigIndex`), built once per edit by `AwsConfig::index`.

use super::headers::{IgnoredSection, SectionKind};
use super::{
    login_command, unknown, AwsConfig, ConfigError, LicenseProfileConfig, ProfileConfig,
    ProfileRole, RoleKey, SsoSessionConfig,
};
use std::collections::HashMap;
use std::sync::Arc;

/// What the agent keeps of the file: the SSO sessions and profiles, already checked, without the
/// parser's copy of every property. A config with thousands of profiles costs a few MiB less
/// this way, for as long as the agent runs.
pub struct ConfigIndex {
    pub(super) file: String,
    pub(super) sessions: HashMap<String, Result<Arc<SsoSessionConfig>, ConfigError>>,
    /// The sessions legacy profiles imply, by start URL, in start URL order: (the first profile
    /// that has it, the session). Few: only legacy profiles add one.
    pub(super) legacy: Vec<(String, String, Result<Arc<SsoSessionConfig>, ConfigError>)>,
    /// Boxed errors and `Box<str>` names keep the table's slots small: most profiles are valid.
    pub(super) profiles: HashMap<Box<str>, Result<ProfileEntry, Box<ConfigError>>>,
    pub(super) ignored: Vec<IgnoredSection>,
    /// The License Manager profiles (and the profiles that fail as one), by name.
    pub(super) licenses: HashMap<String, Result<LicenseEntry, ConfigError>>,
    /// `AwsConfig::default_profile_source`, kept for `Request::Profile`.
    pub(super) default_source: Option<&'static str>,
}

/// A License Manager profile and its role cache key, shared like an SSO profile's.
#[derive(Clone)]
pub struct LicenseEntry {
    pub profile: Arc<LicenseProfileConfig>,
    pub role: Arc<RoleKey>,
}

pub(super) struct ProfileEntry {
    pub(super) session: Arc<SsoSessionConfig>,
    pub(super) role: Arc<RoleKey>,
    pub(super) region: Option<Box<str>>,
}

impl AwsConfig {
    /// Checks every session and profile once and keeps the outcome.
    pub fn index(&self) -> ConfigIndex {
        let sessions: HashMap<_, _> = self
            .session_names()
            .into_iter()
            .map(|name| (name.to_string(), self.sso_session(name).map(Arc::new)))
            .collect();
        let legacy: Vec<_> = self
            .legacy_sessions()
            .into_iter()
            .map(|(url, profile, session)| (url, profile, session.map(Arc::new)))
            .collect();
        let shared = |session: SsoSessionConfig| {
            let known = match sessions.get(&session.name) {
                Some(known) => Some(known),
                None => legacy
                    .iter()
                    .find(|(url, _, _)| *url == session.name)
                    .map(|(_, _, known)| known),
            };
            known
                .and_then(|known| known.as_ref().ok())
                .filter(|known| ***known == session)
                .cloned()
                .unwrap_or_else(|| Arc::new(session))
        };
        let profiles = self
            .profile_names()
            .into_iter()
            .map(|name| {
                let entry = self
                    .profile(name)
                    .map_err(Box::new)
                    .map(|profile| ProfileEntry {
                        role: Arc::new(RoleKey::new(
                            &profile.session.name,
                            &profile.account_id,
                            &profile.role_name,
                            false,
                        )),
                        // Share the session's config instead of a copy per profile.
                        session: shared(profile.session),
                        region: profile.region.map(String::into_boxed_str),
                    });
                (Box::from(name), entry)
            })
            .collect();
        let licenses = self
            .profile_names()
            .into_iter()
            .filter_map(|name| {
                let entry = match self.license_profile(name) {
                    Ok(None) => return None,
                    Ok(Some(profile)) => Ok(LicenseEntry {
                        role: Arc::new(RoleKey::license(&profile)),
                        profile: Arc::new(profile),
                    }),
                    Err(err) => Err(err),
                };
                Some((name.to_string(), entry))
            })
            .collect();
        ConfigIndex {
            file: self.file.clone(),
            sessions,
            legacy,
            profiles,
            ignored: self.ignored.clone(),
            licenses,
            default_source: self.default_profile_source(),
        }
    }
}

impl ConfigIndex {
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The key that makes `[default]` a credentials source, if it has one.
    pub fn default_profile_source(&self) -> Option<&'static str> {
        self.default_source
    }

    /// The `[sso-session NAME]`, or the legacy session a start URL names.
    pub fn sso_session(&self, name: &str) -> Result<SsoSessionConfig, ConfigError> {
        let found = self.sessions.get(name).or_else(|| {
            self.legacy
                .iter()
                .find(|(url, _, _)| url == name)
                .map(|(_, _, session)| session)
        });
        match found {
            Some(Ok(session)) => Ok((**session).clone()),
            Some(Err(err)) => Err(err.clone()),
            None => Err(unknown(
                &self.file,
                &self.ignored,
                SectionKind::SsoSession,
                name,
                self.sessions.keys().map(String::as_str),
            )),
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

    /// Every session on its own, as `AwsConfig::sso_sessions_each` gives them: the sections in
    /// name order, then the legacy profiles' sessions by start URL.
    pub fn sso_sessions_each(&self) -> Vec<(String, Result<SsoSessionConfig, ConfigError>)> {
        let mut names: Vec<&String> = self.sessions.keys().collect();
        names.sort_unstable();
        let mut each: Vec<_> = names
            .into_iter()
            .map(|name| (name.clone(), self.sso_session(name)))
            .collect();
        each.extend(
            self.legacy
                .iter()
                .filter(|(url, _, _)| !self.sessions.contains_key(url))
                .map(|(url, _, session)| {
                    (
                        url.clone(),
                        session
                            .as_ref()
                            .map(|s| (**s).clone())
                            .map_err(Clone::clone),
                    )
                }),
        );
        each
    }

    /// The command that logs in to `session`, for messages: `sso-agent login --sso-session S`,
    /// or `sso-agent login --profile P` for the session of legacy profiles (P is the first).
    pub fn login_command(&self, session: &str) -> String {
        let legacy = match self.sessions.contains_key(session) {
            true => None,
            false => self
                .legacy
                .iter()
                .find(|(url, _, _)| url == session)
                .map(|(_, profile, _)| profile.as_str()),
        };
        login_command(session, legacy)
    }

    pub fn profile(&self, name: &str) -> Result<ProfileConfig, ConfigError> {
        let entry = self.entry(name)?;
        Ok(ProfileConfig {
            name: name.to_string(),
            session: (*entry.session).clone(),
            account_id: entry.role.account_id().to_string(),
            role_name: entry.role.role_name().to_string(),
            region: entry.region.as_deref().map(str::to_string),
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

    /// The role a served profile's credentials are for, whatever its source (SSO or a License
    /// Manager token).
    pub fn served_role(&self, name: &str) -> Result<Arc<RoleKey>, ConfigError> {
        match self.license_profile(name) {
            Some(license) => license.map(|license| license.role),
            None => self.profile_role(name).map(|profile| profile.role),
        }
    }

    /// The profile as a License Manager profile; `None`: it is not one.
    pub fn license_profile(&self, name: &str) -> Option<Result<LicenseEntry, ConfigError>> {
        self.licenses.get(name).cloned()
    }

    /// Every License Manager profile that reads without error, in name order (the ones a
    /// helper profile names once more are not repeated).
    pub fn license_profiles(&self) -> Vec<LicenseEntry> {
        let mut entries: Vec<LicenseEntry> = self
            .licenses
            .iter()
            .filter_map(|(name, entry)| entry.as_ref().ok().filter(|e| e.profile.name == *name))
            .cloned()
            .collect();
        entries.sort_by(|a, b| a.profile.name.cmp(&b.profile.name));
        entries
    }

    fn entry(&self, name: &str) -> Result<&ProfileEntry, ConfigError> {
        match self.profiles.get(name) {
            Some(Ok(entry)) => Ok(entry),
            Some(Err(err)) => Err((**err).clone()),
            None => Err(unknown(
                &self.file,
                &self.ignored,
                SectionKind::Profile,
                name,
                self.profiles.keys().map(|name| &**name),
            )),
        }
    }
}
