//! `sso-agent profiles [--sso-session S] [--template T] [--json]`: every account and role the
//! session may use, and the profile name `configure` gives each. The agent lists them with its
//! token (which never reaches this process); a session that needs a login is prompted for as
//! `credential-process` does.

use super::configure::template::ProfileTemplate;
use anyhow::{bail, Result};
use sso_agent::client::AgentClient;
use sso_agent::credential_process::request_through_login;
use sso_agent::protocol::{AccountRoles, Request, Response};
use std::time::Duration;

/// How long the agent may take to list: an organisation with thousands of accounts makes as many
/// ListAccountRoles calls (eight at a time), each retried when the portal throttles.
const LISTING_TIMEOUT: Duration = Duration::from_secs(10 * 60);

pub fn run(session: Option<String>, template: &str, json: bool) -> Result<()> {
    let template: ProfileTemplate = template.parse().map_err(anyhow::Error::msg)?;
    let listed = account_roles(session)?;
    let rows = listed
        .roles
        .iter()
        .map(|role| {
            let profile = template
                .name(&listed.session, role)
                .map_err(anyhow::Error::msg)?;
            Ok([
                role.account_name.as_str(),
                role.account_id.as_str(),
                role.role_name.as_str(),
            ]
            .map(str::to_string)
            .into_iter()
            .chain([profile])
            .collect::<Vec<_>>())
        })
        .collect::<Result<Vec<_>>>()?;
    if json {
        let roles: Vec<_> = rows
            .iter()
            .map(|row| {
                serde_json::json!({"account_name": row[0], "account_id": row[1],
                                   "role_name": row[2], "profile": row[3]})
            })
            .collect();
        let answer = serde_json::json!({"session": listed.session, "region": listed.region,
                                        "roles": roles});
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    if rows.is_empty() {
        eprintln!("sso-session {} may use no account", listed.session);
        return Ok(());
    }
    print!(
        "{}",
        table(&["ACCOUNT NAME", "ACCOUNT ID", "ROLE", "PROFILE"], &rows)
    );
    Ok(())
}

/// The session's accounts and roles, from the agent, through a login if it needs one.
pub fn account_roles(session: Option<String>) -> Result<AccountRoles> {
    let mut client = AgentClient::connect()?;
    let request = |wait| Request::AccountRoles {
        session: session.clone(),
        wait,
    };
    match request_through_login(&mut client, request, LISTING_TIMEOUT)? {
        Response::AccountRoles(listed) => Ok(listed),
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    }
}

/// Columns padded to their widest cell, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}
