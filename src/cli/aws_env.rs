//! The environment that hands a profile's credentials to any AWS tool, shared by `exec`,
//! `export` and `ecs-env`: which variables are set, and which are removed because the SDKs
//! would prefer them (a profile name, or another source) over the ones given.

use anyhow::{bail, Context, Result};
use sso_agent::client::{AgentClient, REQUEST_TIMEOUT};
use sso_agent::protocol::{ContainerGrant, Credentials};
use sso_agent::protocol::{Request, Response};
use zeroize::Zeroizing;

/// Set for a command run by `exec`, so a nested `exec` knows it is nested.
pub const PROFILE_VAR: &str = "SSO_AGENT_PROFILE";

/// With keys in the environment, a profile named there would make an SDK that is told a
/// profile explicitly (`AWS_PROFILE`) read that profile instead.
const PROFILE_NAMES: [&str; 2] = ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"];
/// Other sources the SDKs try before the container endpoint, or beside it: under `--ecs`
/// these would win over the grant.
const OTHER_SOURCES: [&str; 9] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    // Read before AWS_CONTAINER_AUTHORIZATION_TOKEN by the SDKs that know it.
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_ROLE_ARN",
];

/// A container-credentials grant: with the keys given, an inherited one (an `ecs-env` in this
/// shell) must not reach the command, which should neither use it nor see its token.
const CONTAINER_GRANT: [&str; 4] = [
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

/// Variables to set (values may be secret) and to remove, in order.
#[derive(Default)]
pub struct AwsEnvironment {
    pub set: Vec<(&'static str, Zeroizing<String>)>,
    pub unset: Vec<&'static str>,
}

impl AwsEnvironment {
    /// The keys themselves.
    pub fn keys(credentials: &Credentials, region: Option<&str>) -> Self {
        let mut env = Self {
            unset: PROFILE_NAMES.to_vec(),
            ..Self::default()
        };
        env.put("AWS_ACCESS_KEY_ID", &credentials.access_key_id);
        env.put("AWS_SECRET_ACCESS_KEY", &credentials.secret_access_key);
        env.put("AWS_SESSION_TOKEN", &credentials.session_token);
        env.put("AWS_CREDENTIAL_EXPIRATION", &credentials.expiration);
        env.unset.push("AWS_SECURITY_TOKEN");
        env.unset.extend(CONTAINER_GRANT);
        env.region(region);
        env
    }

    /// Where to ask for them: the container-credentials endpoint, and no key at all.
    pub fn container(grant: &ContainerGrant, region: Option<&str>) -> Self {
        let mut env = Self {
            unset: PROFILE_NAMES
                .iter()
                .chain(&OTHER_SOURCES)
                .copied()
                .collect(),
            ..Self::default()
        };
        env.put("AWS_CONTAINER_CREDENTIALS_FULL_URI", &grant.url);
        env.put("AWS_CONTAINER_AUTHORIZATION_TOKEN", &grant.token);
        env.region(region);
        env
    }

    fn put(&mut self, name: &'static str, value: &str) {
        self.set.push((name, Zeroizing::new(value.to_string())));
    }

    fn region(&mut self, region: Option<&str>) {
        if let Some(region) = region {
            self.put("AWS_REGION", region);
            self.put("AWS_DEFAULT_REGION", region);
        }
    }
}

/// The profile's `region`, as the agent read it from the config file.
pub fn profile_region(profile: &str) -> Result<Option<String>> {
    Ok(served_profile(profile, false)?.0)
}

/// The profile's `region` (asked of the agent, which has the config parsed, starting it if
/// need be), and with `for_endpoint` a warning when `[default]` would win over a
/// container-credentials grant.
pub fn served_profile(
    profile: &str,
    for_endpoint: bool,
) -> Result<(Option<String>, Option<String>)> {
    served_profile_for(profile, for_endpoint, false)
}

/// `served_profile`, worded for `exec --ecs` when `for_exec`.
pub fn served_profile_for(
    profile: &str,
    for_endpoint: bool,
    for_exec: bool,
) -> Result<(Option<String>, Option<String>)> {
    let mut client = AgentClient::connect()?;
    let request = Request::Profile {
        profile: profile.to_string(),
    };
    let info = match client.request(request, REQUEST_TIMEOUT)? {
        Response::Profile(info) => info,
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    };
    if !for_endpoint {
        return Ok((info.region, None));
    }
    let shadowing = match &info.default_source {
        Some(key) => Some(format!(
            "[default] in {} has `{key}`",
            sso_agent::config::config_file_path(&aws_types::os_shim_internal::Env::real())
        )),
        None => tokio::runtime::Builder::new_current_thread()
            .build()
            .context("starting a runtime to read the credentials file")?
            .block_on(sso_agent::config::default_credentials_file_keys())
            .map(|file| format!("[default] in {file} has keys")),
    };
    let warning = shadowing.map(|found| {
        format!(
            "sso-agent: warning: {found}, and the SDKs take the default profile before the container endpoint: tools will use it, not profile {profile}. Move it to a named profile{}",
            if for_exec { ", or use `exec` without --ecs" } else { "" }
        )
    });
    Ok((info.region, warning))
}
