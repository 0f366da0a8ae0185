//! `sso-agent logout [--sso-session S | --profile P | --all]`.

use anyhow::{bail, Result};
use sso_agent::client::{AgentClient, REQUEST_TIMEOUT};
use sso_agent::protocol::{Request, Response};

pub fn run(session: Option<String>, profile: Option<String>, all: bool) -> Result<()> {
    let mut client = AgentClient::connect()?;
    let request = Request::Logout {
        session,
        profile,
        all,
    };
    match client.request(request, REQUEST_TIMEOUT)? {
        Response::LoggedOut { sessions } if sessions.is_empty() => {
            println!("No sessions to log out of.")
        }
        Response::LoggedOut { sessions } => {
            println!("Logged out of sso-session {}.", sessions.join(", "))
        }
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    }
    Ok(())
}
