//! The `credential_process` helper's whole job: ask the agent for a profile's credentials and
//! print exactly the Version 1 JSON on stdout. Shared by `sso-agent credential-process` and the
//! small `sso-agent-credential-process` binary. Nothing secret goes anywhere but stdout.
//!
//! When the session needs a login, a person must see the code: the AWS CLI and the SDKs keep a
//! helper's stderr to themselves unless it fails, so the prompt goes to the controlling terminal
//! (`/dev/tty`, as sudo and ssh do). If neither the terminal nor the agent's desktop
//! notification reached anyone, waiting would only hang the caller: the helper fails at once.

use crate::client::{AgentClient, ClientError, LOGIN_WAIT, REQUEST_TIMEOUT};
use crate::protocol::{Credentials, PendingLoginInfo, Request, Response};
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// `SSO_AGENT_LOGIN_WAIT=always`: wait for a login even when no terminal or notification showed
/// its code (someone approves it another way: `sso-agent status` shows the code, a script, a test).
pub const LOGIN_WAIT_VAR: &str = "SSO_AGENT_LOGIN_WAIT";

#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("unexpected answer from the agent: {0}")]
    Unexpected(&'static str),
    #[error("sso-session {session} needs a login and there is no terminal or desktop notification to show it: {finish}, or run `{login}`, then try again")]
    NobodyToTell {
        session: String,
        login: String,
        /// What finishes the login already under way (its link, and its code if it has one).
        finish: String,
    },
    #[error("the agent answered credentials without an expiration; restart it (`sso-agent stop`) and try again")]
    NoExpiration,
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
    let credentials = fetch(profile)?;
    let json = process_json(&credentials)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&json)?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(())
}

/// A profile's role credentials from the agent (started if needed). A login the session needs
/// is shown on the terminal and waited for, or refused at once when nobody could see it.
pub fn fetch(profile: &str) -> Result<Credentials, HelperError> {
    let mut client = AgentClient::connect()?;
    let request = |wait| Request::Credentials {
        profile: profile.to_string(),
        wait,
    };
    match request_through_login(&mut client, request, REQUEST_TIMEOUT)? {
        Response::Credentials(credentials) => Ok(credentials),
        other => Err(HelperError::Unexpected(other.kind())),
    }
}

/// Sends `request(false)` (answered within `timeout`); when the agent answers that the session
/// needs a login, shows the prompt (as `fetch` does) and sends `request(true)`, which waits for
/// it. Any other answer is the caller's.
pub fn request_through_login(
    client: &mut AgentClient,
    request: impl Fn(bool) -> Request,
    timeout: std::time::Duration,
) -> Result<Response, HelperError> {
    match client.request(request(false), timeout)? {
        Response::LoginPending(pending) => {
            let shown_on_terminal = prompt(&pending);
            let wait_anyway = std::env::var(LOGIN_WAIT_VAR).as_deref() == Ok("always");
            if !(shown_on_terminal || pending.notified || wait_anyway) {
                return Err(HelperError::NobodyToTell {
                    login: crate::config::login_command(&pending.session, None),
                    finish: finish_text(&pending),
                    session: pending.session,
                });
            }
            if !std::io::stderr().is_terminal() {
                // Kept by a caller that shows a helper's stderr only when it fails.
                eprintln!("{}", login_prompt(&pending));
            }
            match client.request(request(true), LOGIN_WAIT)? {
                Response::LoginPending(_) => Err(HelperError::Unexpected("login_pending")),
                answer => Ok(answer),
            }
        }
        answer => Ok(answer),
    }
}

/// What a person does to finish the login under way, for a message that cannot wait for it.
fn finish_text(pending: &PendingLoginInfo) -> String {
    if pending.flow == crate::protocol::LoginFlow::Browser {
        format!(
            "open {} in a browser on the agent's machine",
            pending.verification_uri_complete
        )
    } else {
        format!(
            "open {} and confirm the code {}",
            pending.verification_uri_complete, pending.user_code
        )
    }
}

/// The line that asks for a login; its wording agrees with `sso-agent login`'s.
pub fn login_prompt(pending: &PendingLoginInfo) -> String {
    if pending.flow == crate::protocol::LoginFlow::Browser {
        return format!(
            "sso-agent: sso-session {} needs a login: approve it in the browser the agent opened, or open {} (it waits {} min), or run `{}` (`--use-device-code` where the browser cannot reach this machine)",
            pending.session,
            pending.verification_uri_complete,
            pending.expires_in.div_ceil(60),
            crate::config::login_command(&pending.session, None)
        );
    }
    format!(
        "sso-agent: sso-session {} needs a login: open {} and confirm the code {} (it expires in {} min), or run `{}`",
        pending.session,
        pending.verification_uri_complete,
        pending.user_code,
        pending.expires_in.div_ceil(60),
        crate::config::login_command(&pending.session, None)
    )
}

/// Shows the prompt on the person's terminal: stderr when it is one, else the controlling
/// terminal (the caller keeps stderr); true when a terminal took it. On a captured stderr it is
/// written only once the helper is going to wait (see `fetch`), never beside a refusal.
fn prompt(pending: &PendingLoginInfo) -> bool {
    let line = login_prompt(pending);
    if std::io::stderr().is_terminal() {
        // The person's terminal already: once is enough.
        eprintln!("{line}");
        return true;
    }
    let terminal = std::fs::OpenOptions::new().write(true).open("/dev/tty");
    match terminal {
        // "\r\n": the terminal may be in raw mode under a caller that draws its own screen.
        Ok(mut tty) => tty
            .write_all(format!("{line}\r\n").as_bytes())
            .and_then(|()| tty.flush())
            .is_ok(),
        Err(_) => false,
    }
}

/// The credential_process JSON (Version 1) of `credentials`, without a newline.
pub fn process_json(credentials: &Credentials) -> Result<zeroize::Zeroizing<Vec<u8>>, HelperError> {
    // An empty Expiration reads as "never expires" to the SDKs: never print one.
    if credentials.expiration.trim().is_empty() {
        return Err(HelperError::NoExpiration);
    }
    Ok(zeroize::Zeroizing::new(
        serde_json::to_vec(&ProcessCredentials {
            version: 1,
            access_key_id: &credentials.access_key_id,
            secret_access_key: &credentials.secret_access_key,
            session_token: &credentials.session_token,
            expiration: &credentials.expiration,
        })
        .expect("credentials always serialize"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_says_the_same_minutes_as_login() {
        let pending = PendingLoginInfo {
            session: "corp".into(),
            verification_uri: "https://device.example/".into(),
            verification_uri_complete: "https://device.example/?user_code=ABCD-EFGH".into(),
            user_code: "ABCD-EFGH".into(),
            expires_in: 599,
            notified: false,
            flow: crate::protocol::LoginFlow::DeviceCode,
            flow_reason: "no display (SSH session without X forwarding)".into(),
        };
        let line = login_prompt(&pending);
        assert!(line.contains("expires in 10 min"), "{line}");
        assert!(line.contains("ABCD-EFGH"), "{line}");
        assert!(
            line.contains("sso-agent login --sso-session corp"),
            "{line}"
        );
        let browser = PendingLoginInfo {
            verification_uri_complete: "https://oidc.example/authorize?client_id=c".into(),
            user_code: String::new(),
            flow: crate::protocol::LoginFlow::Browser,
            ..pending
        };
        let line = login_prompt(&browser);
        assert!(
            line.contains("https://oidc.example/authorize?client_id=c") && line.contains("browser"),
            "{line}"
        );
        assert!(!line.contains("confirm the code"), "{line}");
    }
}
