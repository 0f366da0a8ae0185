//! `sso-agent credential-process --profile P`: the `credential_process` helper (see
//! `sso_agent::credential_process`; `sso-agent-credential-process` is the same, smaller).

pub fn run(profile: &str) -> anyhow::Result<()> {
    Ok(sso_agent::credential_process::run(profile)?)
}
