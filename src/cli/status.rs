//! `sso-agent status [--json]`: what the agent holds — never a secret.

use anyhow::{bail, Result};
use sso_agent::client::{AgentClient, REQUEST_TIMEOUT};
use sso_agent::protocol::{Request, Response};

pub fn run(json: bool) -> Result<()> {
    let mut client = AgentClient::connect()?;
    let status = match client.request(Request::Status, REQUEST_TIMEOUT)? {
        Response::Status(status) => status,
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    println!(
        "agent pid {}; tokens in the {} store ({}); config {}",
        status.pid, status.store, status.store_durability, status.config_file
    );
    for passed in &status.store_passed_over {
        println!("  passed over: {passed}");
    }
    if let Some(error) = &status.config_error {
        println!("the config cannot be read: {error}");
    } else if status.sessions.is_empty() {
        println!("no sessions");
    }
    for session in &status.sessions {
        if session.start_url.is_empty() {
            // Named in the config but not open: its error says why and what to fix.
            let why = session.last_error.as_deref().unwrap_or("unknown error");
            println!("sso-session {}: not usable: {why}", session.name);
            continue;
        }
        let state = match (
            &session.pending_login,
            session.logged_in,
            &session.expires_at,
        ) {
            (Some(pending), _, _) if pending.flow == sso_agent::protocol::LoginFlow::Browser => {
                format!(
                    "login pending in the browser: open {}",
                    pending.verification_uri_complete
                )
            }
            (Some(pending), _, _) => format!(
                "login pending: open {} (code {})",
                pending.verification_uri_complete, pending.user_code
            ),
            (None, true, Some(expires)) => format!(
                "logged in until {expires}{}",
                if session.refreshable {
                    ", renewed automatically"
                } else {
                    ""
                }
            ),
            _ => format!(
                "not logged in: run `{}`",
                sso_agent::config::login_command(&session.name, None)
            ),
        };
        println!(
            "sso-session {} ({}, {}): {state}",
            session.name, session.start_url, session.region
        );
        if let Some(flow) = &session.login_flow {
            println!("  login flow: {} ({})", flow.flow, flow.reason);
        }
        if let Some(file) = &session.imported_from {
            println!("  login imported from the AWS CLI's cache ({file})");
        }
        if let Some(error) = &session.last_error {
            println!("  {error}");
        }
    }
    for role in &status.roles {
        println!(
            "  role {}/{} of {}: credentials until {}",
            role.account_id, role.role_name, role.session, role.expiration
        );
    }
    for license in &status.licenses {
        let token = match &license.token {
            Some(token) => format!(
                "token {} for {} until {}",
                token.token_id, token.license_arn, token.expires_at
            ),
            None => "no token".to_string(),
        };
        let credentials = license
            .credentials_expiration
            .as_deref()
            .map(|until| format!("; credentials until {until}"))
            .unwrap_or_default();
        println!(
            "license profile {} ({}, {}): {token}{credentials}",
            license.profile, license.role_arn, license.region
        );
        if let Some(problem) = &license.problem {
            println!("  {problem}");
        }
    }
    if let Some(endpoint) = &status.container_endpoint {
        println!(
            "container-credentials endpoint {endpoint}: {} live grant(s)",
            status.container_grants.len()
        );
    }
    for grant in &status.container_grants {
        let ends = match (&grant.ends_at, grant.pid) {
            (Some(at), _) => format!("until {at} (ecs-env)"),
            (None, Some(pid)) => format!("while pid {pid} runs (exec --ecs)"),
            (None, None) => "until the agent stops".to_string(),
        };
        println!("  grant for profile {}: {ends}", grant.profile);
    }
    Ok(())
}
