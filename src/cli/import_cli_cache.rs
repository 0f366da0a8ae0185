//! `sso-agent import-cli-cache [--sso-session S]`: the agent takes the AWS CLI's login.

use anyhow::{bail, Result};
use sso_agent::client::{AgentClient, REQUEST_TIMEOUT};
use sso_agent::protocol::{Request, Response};

pub fn run(session: Option<String>) -> Result<()> {
    let mut client = AgentClient::connect()?;
    match client.request(Request::ImportCliCache { session }, REQUEST_TIMEOUT)? {
        Response::CliCacheImported {
            session,
            file,
            expires_at,
            refreshable: true,
        } => println!(
            "Imported the AWS CLI's login for sso-session {session} from {file} (token until {expires_at}; the agent refreshes it)."
        ),
        Response::CliCacheImported {
            session,
            file,
            expires_at,
            refreshable: false,
        } => println!(
            "Imported the AWS CLI's token for sso-session {session} from {file}; it cannot be refreshed (the file has no refresh token with an unexpired client registration), so it ends at {expires_at}: then run `sso-agent login --sso-session {session}`."
        ),
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    }
    Ok(())
}
