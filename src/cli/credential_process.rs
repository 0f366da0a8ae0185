//! `sso-agent credential-process --profile P`: the `credential_process` helper. It prints
//! exactly the Version 1 JSON on stdout; anything else goes to stderr, and never a secret.

use anyhow::{bail, Result};
use serde::Serialize;
use sso_agent::client::{AgentClient, LOGIN_WAIT, REQUEST_TIMEOUT};
use sso_agent::protocol::{Credentials, Request, Response};
use std::io::Write;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessCredentials<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: &'a str,
}

pub fn run(profile: &str) -> Result<()> {
    let mut client = AgentClient::connect()?;
    let request = |wait| Request::Credentials {
        profile: profile.to_string(),
        wait,
    };
    let credentials = match client.request(request(false), REQUEST_TIMEOUT)? {
        Response::Credentials(credentials) => credentials,
        Response::LoginPending(pending) => {
            eprintln!(
                "sso-agent: sso-session {} needs a login: open {} and confirm the code {} (or run `sso-agent login --sso-session {}`); waiting up to {} min",
                pending.session,
                pending.verification_uri_complete,
                pending.user_code,
                pending.session,
                pending.expires_in / 60
            );
            match client.request(request(true), LOGIN_WAIT)? {
                Response::Credentials(credentials) => credentials,
                other => bail!("unexpected answer from the agent: {}", kind(&other)),
            }
        }
        other => bail!("unexpected answer from the agent: {}", kind(&other)),
    };
    print(&credentials)
}

fn print(credentials: &Credentials) -> Result<()> {
    let json = zeroize::Zeroizing::new(serde_json::to_vec(&ProcessCredentials {
        version: 1,
        access_key_id: &credentials.access_key_id,
        secret_access_key: &credentials.secret_access_key,
        session_token: &credentials.session_token,
        expiration: &credentials.expiration,
    })?);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&json)?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(())
}

/// A response's type name, for messages (never its content).
pub fn kind(response: &Response) -> &'static str {
    match response {
        Response::Credentials(_) => "credentials",
        Response::LoginPending(_) => "login_pending",
        Response::LoggedIn { .. } => "logged_in",
        Response::Status(_) => "status",
        Response::LoggedOut { .. } => "logged_out",
        Response::Error { .. } => "error",
    }
}
