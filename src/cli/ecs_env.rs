//! `sso-agent ecs-env --profile P [--ttl D]`: a grant on the agent's container-credentials
//! endpoint, printed as the two variables the SDKs read (`AWS_CONTAINER_CREDENTIALS_FULL_URI`,
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN`), for tools and containers that should keep asking for
//! fresh credentials rather than hold one set.

use super::aws_env::{served_profile, AwsEnvironment};
use super::export::{shell_lines, write_secret};
use super::shell::Shell;
use anyhow::{bail, Result};
use sso_agent::client::{AgentClient, REQUEST_TIMEOUT};
use sso_agent::protocol::{Request, Response};
use std::time::Duration;

pub fn run(profile: &str, ttl: Duration, shell: Shell) -> Result<()> {
    let (region, shadowed) = served_profile(profile, true)?;
    if let Some(warning) = shadowed {
        eprintln!("{warning}");
    }
    // Logged in now, with the prompt visible, rather than at the tool's first request.
    drop(sso_agent::credential_process::fetch(profile)?);
    let mut client = AgentClient::connect()?;
    let request = Request::ContainerGrant {
        profile: profile.to_string(),
        ttl_seconds: Some(ttl.as_secs()),
        for_caller: false,
    };
    let grant = match client.request(request, REQUEST_TIMEOUT)? {
        Response::ContainerGrant(grant) => grant,
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    };
    let mut text = shell_lines(shell, &AwsEnvironment::container(&grant, region.as_deref()));
    if let Some(expires_at) = &grant.expires_at {
        text.push_str(&format!("# this grant ends at {expires_at}\n"));
    }
    write_secret(&text)
}

/// `--revoke`: ends the profile's `ecs-env` grants; a tool still holding one gets 403 from then on.
pub fn revoke(profile: &str) -> Result<()> {
    let Some(mut client) = AgentClient::connect_existing(&sso_agent::paths::socket_path())? else {
        println!("No agent is running, so no grant is live.");
        return Ok(());
    };
    let request = Request::ContainerRevoke {
        profile: profile.to_string(),
    };
    match client.request(request, REQUEST_TIMEOUT)? {
        Response::ContainerRevoked { ended } => {
            println!("Ended {ended} ecs-env grant(s) for profile {profile}.");
            Ok(())
        }
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    }
}

/// `--ttl`: a whole number with its unit, `s`, `m`, `h` or `d` (a bare `8` could mean hours as
/// easily as seconds, so it is refused rather than guessed), from 1 second to 7 days.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = super::duration::with_unit(text)?;
    if ttl.is_zero() {
        return Err(format!("{text:?}: a grant lasts at least 1s"));
    }
    if ttl > sso_agent::agent::container::MAX_TTL {
        return Err(format!("{text:?}: a grant lasts at most 7d"));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_read_as_people_write_them() {
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("8h"), Ok(Duration::from_secs(28800)));
        assert_eq!(parse_ttl("2d"), Ok(Duration::from_secs(172800)));
        for bad in ["", "8", "h", "5w", "-1", "1.5h", "1h30m"] {
            assert!(
                parse_ttl(bad)
                    .unwrap_err()
                    .contains("a whole number and a unit"),
                "{bad}"
            );
        }
        assert!(parse_ttl("0s").unwrap_err().contains("at least 1s"));
        for long in ["8d", "99999999999999999999d", "99999999999999999999s"] {
            assert!(
                parse_ttl(long).unwrap_err().contains("at most 7d"),
                "{long}"
            );
        }
    }
}
