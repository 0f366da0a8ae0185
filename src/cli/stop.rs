//! `sso-agent stop`: ask the running agent to stop (it answers, then shuts down as on SIGTERM)
//! and wait until it is gone. Never starts an agent.

use anyhow::{bail, Result};
use sso_agent::client::{AgentClient, REQUEST_TIMEOUT};
use sso_agent::protocol::{Request, Response, Status};
use sso_agent::store::StoreKind;
use std::time::{Duration, Instant};

/// The agent finishes requests in flight for up to 5 s before it exits.
const EXIT_WAIT: Duration = Duration::from_secs(10);

pub fn run() -> Result<()> {
    let socket = sso_agent::paths::socket_path();
    let Some(mut client) = AgentClient::connect_existing(&socket)? else {
        println!("No agent is running on {}.", socket.display());
        return Ok(());
    };
    let status = match client.request(Request::Stop, REQUEST_TIMEOUT)? {
        Response::Status(status) => status,
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    };
    let (pid, grants) = (status.pid, &status.container_grants);
    drop(client);
    let deadline = Instant::now() + EXIT_WAIT;
    while running(pid) {
        if Instant::now() >= deadline {
            bail!(
                "the agent (pid {pid}) did not stop within {} s; stop it with `kill {pid}`",
                EXIT_WAIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("Stopped the agent (pid {pid}) on {}.", socket.display());
    if let Some(lost) = logins_lost(&status) {
        eprintln!("sso-agent: {lost}");
    }
    if !grants.is_empty() {
        let mut profiles: Vec<&str> = grants.iter().map(|grant| grant.profile.as_str()).collect();
        profiles.dedup();
        // Their URL names a loopback port that is free now: whoever binds it next would be
        // asked for credentials by those tools, so they must not keep running on it.
        eprintln!(
            "sso-agent: {} container-credentials grant(s) ended with it (profile {}): restart the `exec --ecs` commands and re-run `ecs-env` for the tools that used them, so none keeps asking the old port",
            grants.len(),
            profiles.join(", ")
        );
    }
    Ok(())
}

/// What a stopped agent took with it: the logins and License Manager tokens of a store that
/// keeps them in memory only.
fn logins_lost(status: &Status) -> Option<String> {
    if status.store != StoreKind::Memory.name() {
        return None;
    }
    let sessions: Vec<&str> = status
        .sessions
        .iter()
        .filter(|session| session.logged_in)
        .map(|session| session.name.as_str())
        .collect();
    let licenses: Vec<&str> = status
        .licenses
        .iter()
        .filter(|license| license.token.is_some())
        .map(|license| license.profile.as_str())
        .collect();
    let mut again = Vec::new();
    if !sessions.is_empty() {
        again.push(format!(
            "`sso-agent login` for sso-session {}",
            sessions.join(", ")
        ));
    }
    if !licenses.is_empty() {
        again.push(format!(
            "`sso-agent license import` (or `license create-token`) for profile {}",
            licenses.join(", ")
        ));
    }
    if again.is_empty() {
        return None;
    }
    Some(format!(
        "its logins and tokens were kept in memory only (the memory store) and are gone with it; after the next start: {}",
        again.join("; ")
    ))
}

/// The process exists and is not a zombie waiting for its parent.
fn running(pid: u32) -> bool {
    let Some(target) = rustix::process::Pid::from_raw(pid as i32) else {
        return false;
    };
    if rustix::process::test_kill_process(target).is_err() {
        return false;
    }
    // A zombie (its parent has not reaped it yet) has finished.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(')')
                .is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
