//! Profiles whose credentials come from a License Manager token instead of an sso-session.
//!
//! ```ini
//! [profile licensed]
//! sso_agent_license_role_arn = arn:aws:iam::111122223333:role/AWSLicenseManagerConsumptionRole
//! sso_agent_license_role_session_name = build-box      # optional, default `sso-agent`
//! sso_agent_license_token_properties = seat=1, site=a  # optional, sent to GetAccessToken
//! region = us-east-1                                   # the license's home Region
//! ```
//! The keys are `sso_agent_` ones: the SDKs and the AWS CLI ignore them. The refresh token
//! itself lives in the keyring, never here.

use super::{profile_title, AwsConfig, ConfigError, SectionKind};

pub const ROLE_ARN: &str = "sso_agent_license_role_arn";
pub const ROLE_SESSION_NAME: &str = "sso_agent_license_role_session_name";
pub const TOKEN_PROPERTIES: &str = "sso_agent_license_token_properties";
/// Every key that makes a profile a License Manager one.
pub const KEYS: [&str; 3] = [ROLE_ARN, ROLE_SESSION_NAME, TOKEN_PROPERTIES];
/// The keys that make a profile an SSO one, the ones `configure` writes included.
pub const SSO_KEYS: [&str; 7] = [
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "sso_role_name",
    super::generated::SESSION,
    super::generated::ACCOUNT_ID,
    super::generated::ROLE_NAME,
];
pub const DEFAULT_ROLE_SESSION_NAME: &str = "sso-agent";

/// One `[profile NAME]` whose source is a License Manager token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseProfileConfig {
    pub name: String,
    pub role_arn: String,
    pub role_session_name: String,
    pub token_properties: Vec<String>,
    /// The license's home Region: GetAccessToken and STS are called there.
    pub region: String,
}

impl AwsConfig {
    /// The profile as a License Manager profile; `None` when it has none of those keys. A
    /// profile whose only source is sso-agent's helper is the profile it names, as for SSO.
    pub fn license_profile(&self, name: &str) -> Result<Option<LicenseProfileConfig>, ConfigError> {
        match self.direct_license_profile(name)? {
            Some(profile) => Ok(Some(profile)),
            None => match self.helper_target(name) {
                Some(target) if target != name => self.direct_license_profile(&target),
                _ => Ok(None),
            },
        }
    }

    fn direct_license_profile(
        &self,
        name: &str,
    ) -> Result<Option<LicenseProfileConfig>, ConfigError> {
        let Some(profile) = self
            .sections
            .get_profile(self.parsed(SectionKind::Profile, name))
        else {
            return Ok(None);
        };
        self.check_one_source(name)?;
        let title = profile_title(name);
        if !KEYS.iter().any(|key| profile.get(key).is_some()) {
            return Ok(None);
        }
        let role_arn = self.required(&title, ROLE_ARN, profile.get(ROLE_ARN))?;
        if !is_role_arn(&role_arn) {
            return Err(ConfigError::InvalidValue {
                file: self.file.clone(),
                section: title,
                key: ROLE_ARN.to_string(),
                expected:
                    "an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), one of the token's roles"
                        .to_string(),
            });
        }
        let role_session_name = self
            .optional(&title, ROLE_SESSION_NAME, profile.get(ROLE_SESSION_NAME))?
            .unwrap_or(DEFAULT_ROLE_SESSION_NAME)
            .to_string();
        let session_name_ok = (2..=64).contains(&role_session_name.len())
            && role_session_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        if !session_name_ok {
            return Err(ConfigError::InvalidValue {
                file: self.file.clone(),
                section: title,
                key: ROLE_SESSION_NAME.to_string(),
                expected: "2 to 64 letters, digits or _+=,.@-".to_string(),
            });
        }
        let token_properties: Vec<String> = self
            .optional(&title, TOKEN_PROPERTIES, profile.get(TOKEN_PROPERTIES))?
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|property| !property.is_empty())
            .map(str::to_string)
            .collect();
        if token_properties.len() > 3 {
            return Err(ConfigError::InvalidValue {
                file: self.file.clone(),
                section: title,
                key: TOKEN_PROPERTIES.to_string(),
                expected: "at most 3 comma-separated properties".to_string(),
            });
        }
        let region = self.required(&title, "region", profile.get("region"))?;
        Ok(Some(LicenseProfileConfig {
            name: name.to_string(),
            role_arn,
            role_session_name,
            token_properties,
            region,
        }))
    }

    /// A profile has one source: SSO keys and License Manager keys together are refused, with
    /// the keys named.
    pub(super) fn check_one_source(&self, name: &str) -> Result<(), ConfigError> {
        let Some(profile) = self
            .sections
            .get_profile(self.parsed(SectionKind::Profile, name))
        else {
            return Ok(());
        };
        let present = |keys: &[&str]| -> Vec<String> {
            keys.iter()
                .filter(|key| profile.get(key).is_some())
                .map(|key| key.to_string())
                .collect()
        };
        let (sso, license) = (present(&SSO_KEYS), present(&KEYS));
        if sso.is_empty() || license.is_empty() {
            return Ok(());
        }
        Err(ConfigError::TwoSources {
            file: self.file.clone(),
            section: profile_title(name),
            sso_keys: sso.join(", "),
            license_keys: license.join(", "),
        })
    }

    /// Whether the profile is a License Manager one (has any of its keys).
    pub(super) fn has_license_keys(&self, name: &str) -> bool {
        self.sections
            .get_profile(self.parsed(SectionKind::Profile, name))
            .is_some_and(|profile| KEYS.iter().any(|key| profile.get(key).is_some()))
    }
}

/// `arn:aws…:iam::ACCOUNT:role/…NAME`.
pub fn is_role_arn(value: &str) -> bool {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    matches!(parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|name| !name.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_types::os_shim_internal::{Env, Fs};

    async fn parse(text: &str) -> AwsConfig {
        let fs = Fs::from_slice(&[("/cfg", text)]);
        let env = Env::from_slice(&[("AWS_CONFIG_FILE", "/cfg"), ("HOME", "/home")]);
        AwsConfig::load_from(&fs, &env).await.unwrap()
    }

    const ROLE: &str = "arn:aws:iam::111122223333:role/AWSLicenseManagerConsumptionRole";

    #[tokio::test]
    async fn a_license_profile_reads_its_keys() {
        let config = parse(&format!(
            "[profile lic]\n{ROLE_ARN} = {ROLE}\n{TOKEN_PROPERTIES} = seat=1, site=a\nregion = eu-west-1\n\
             [profile app]\ncredential_process = sso-agent-credential-process --profile lic\n\
             [profile plain]\nregion = us-east-1\n"
        ))
        .await;
        let lic = config.license_profile("lic").unwrap().unwrap();
        assert_eq!(lic.role_arn, ROLE);
        assert_eq!(lic.role_session_name, DEFAULT_ROLE_SESSION_NAME);
        assert_eq!(lic.token_properties, ["seat=1", "site=a"]);
        assert_eq!(lic.region, "eu-west-1");
        assert_eq!(config.license_profile("app").unwrap().unwrap().name, "lic");
        assert_eq!(config.license_profile("plain").unwrap(), None);
        assert_eq!(config.license_profile("nobody").unwrap(), None);
        let err = config.profile("lic").unwrap_err().to_string();
        assert!(err.contains("License Manager"), "{err}");
    }

    #[tokio::test]
    async fn both_sources_in_one_profile_are_an_error_naming_file_section_and_keys() {
        let config = parse(&format!(
            "[sso-session corp]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\n\
             [profile both]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = R\n{ROLE_ARN} = {ROLE}\nregion = us-east-1\n"
        ))
        .await;
        for err in [
            config.license_profile("both").unwrap_err(),
            config.profile("both").unwrap_err(),
        ] {
            let message = err.to_string();
            for part in ["/cfg", "[profile both]", "sso_session", ROLE_ARN] {
                assert!(message.contains(part), "{part} in {message}");
            }
        }
    }

    #[tokio::test]
    async fn a_generated_profile_with_license_keys_is_two_sources() {
        let config = parse(&format!(
            "[sso-session corp]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\n\
             [profile gen]\nsso_agent_session = corp\nsso_agent_account_id = 111122223333\n\
             sso_agent_role_name = R\n{ROLE_ARN} = {ROLE}\nregion = us-east-1\n"
        ))
        .await;
        let message = config.license_profile("gen").unwrap_err().to_string();
        for part in ["[profile gen]", "sso_agent_session", ROLE_ARN] {
            assert!(message.contains(part), "{part} in {message}");
        }
    }

    #[tokio::test]
    async fn missing_or_bad_keys_are_named() {
        let config = parse(&format!(
            "[profile noregion]\n{ROLE_ARN} = {ROLE}\n\
             [profile norole]\n{TOKEN_PROPERTIES} = a\nregion = us-east-1\n\
             [profile badrole]\n{ROLE_ARN} = arn:aws:iam::1:user/x\nregion = us-east-1\n"
        ))
        .await;
        let message = |name| config.license_profile(name).unwrap_err().to_string();
        assert!(
            message("noregion").contains("`region`"),
            "{}",
            message("noregion")
        );
        assert!(
            message("norole").contains(ROLE_ARN),
            "{}",
            message("norole")
        );
        assert!(
            message("badrole").contains("IAM role ARN"),
            "{}",
            message("badrole")
        );
    }
}
