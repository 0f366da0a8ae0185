//! The `credential_process` helper's whole job: ask the agent for a profile's credentials and
//! print exactly the Version 1 JSON on stdout. Shared by `sso-agent credential-process` and the
//! small `sso-agent-credential-process` binary. Nothing secret goes anywhere but stdout.

use crate::client::{AgentClient, ClientError, LOGIN_WAIT, REQUEST_TIMEOUT};
use crate::protocol::{Credentials, Request, Response};
use serde::Serialize;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("unexpected answer from the agent: {0}")]
    Unexpected(&'static str),
    #[error("cannot write the credentials: {0}")]
    Output(#[from] std::io::Error),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessCredentials<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: &'a str,
}

pub fn run(profile: &str) -> Result<(), HelperError> {
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
                other => return Err(HelperError::Unexpected(other.kind())),
            }
        }
        other => return Err(HelperError::Unexpected(other.kind())),
    };
    print(&credentials)
}

fn print(credentials: &Credentials) -> Result<(), HelperError> {
    let json = zeroize::Zeroizing::new(
        serde_json::to_vec(&ProcessCredentials {
            version: 1,
            access_key_id: &credentials.access_key_id,
            secret_access_key: &credentials.secret_access_key,
            session_token: &credentials.session_token,
            expiration: &credentials.expiration,
        })
        .expect("credentials always serialize"),
    );
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&json)?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(())
}
