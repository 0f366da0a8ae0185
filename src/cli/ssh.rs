//! `sso-agent ssh [SSH ARGS…] HOST [COMMAND]` and `sso-agent ssh-config HOST`: the agent's
//! socket forwarded to a remote host, where `sso-agent-credential-process` finds it by itself
//! (see `sso_agent::forward` for the path and its checks).
//!
//! `ssh` becomes the real `ssh` (execvp: its terminal, signals and exit status are ssh's own),
//! with one `RemoteForward` of a fresh remote path to a socket the agent opened for this process
//! put before the user's arguments. `ssh-config` cannot ask the agent per connection: its lines
//! forward the agent's own socket.

use anyhow::{bail, Context, Result};
use sso_agent::client::{AgentClient, REQUEST_TIMEOUT};
use sso_agent::forward;
use sso_agent::protocol::{Request, Response};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The ssh program (`SSO_AGENT_SSH` names another, e.g. a wrapper; default `ssh` on PATH).
fn ssh_program() -> OsString {
    std::env::var_os("SSO_AGENT_SSH")
        .filter(|program| !program.is_empty())
        .unwrap_or_else(|| "ssh".into())
}

pub fn run(confirm: bool, args: &[OsString]) -> Result<()> {
    if args.is_empty() {
        bail!("name the host: sso-agent ssh [--confirm] [SSH ARGS…] HOST [COMMAND]");
    }
    let local = forward_socket(confirm, args)?;
    let remote = forward::forward_path(&random_id()?);
    let program = ssh_program();
    let mut ssh = Command::new(&program);
    ssh.arg("-o")
        .arg(remote_forward_option(&remote, &local)?)
        .args(args);
    super::exec::exec_or_exit(&mut ssh, &program)
}

pub fn config(host: &str) -> Result<()> {
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        bail!("name one host pattern without spaces: sso-agent ssh-config HOST");
    }
    let client = AgentClient::connect()?;
    if client.is_forwarded() {
        // That path is this connection's: written into ~/.ssh/config it outlives it, and once
        // it is gone anyone here could listen on the name.
        bail!("this host reaches its agent through a forwarded socket, which ends with that SSH connection: run `sso-agent ssh-config {host}` on the agent's own host, or use `sso-agent ssh` here");
    }
    let local = std::path::absolute(client.socket()).context("the agent's socket path")?;
    print!("{}", config_lines(host, &local)?);
    Ok(())
}

/// The `~/.ssh/config` lines for `host`.
fn config_lines(host: &str, local: &Path) -> Result<String> {
    Ok(format!(
        "# sso-agent: the agent's socket forwarded to {host} (see `sso-agent ssh --help`).\n\
         # ssh_config has no per-connection token: the remote path is the same for every\n\
         # connection from here to that host, so a reconnection needs `StreamLocalBindUnlink yes`\n\
         # in the remote sshd_config (sshd leaves the socket behind); `sso-agent ssh` needs nothing.\n\
         Host {host}\n    RemoteForward {} {}\n",
        forward::config_forward_path(),
        quoted(local)?
    ))
}

/// The socket to forward: one the agent opens for this process (which becomes ssh, so the
/// agent closes it when ssh exits), the agent started if it is not running. A socket this host
/// got forwarded from another is forwarded on as it is, so `sso-agent ssh` chains across hops
/// (the first hop's `--confirm` is the one that holds).
fn forward_socket(confirm: bool, args: &[OsString]) -> Result<PathBuf> {
    let mut client = AgentClient::connect()?;
    if client.is_forwarded() {
        if confirm {
            // Asked for, so never silently without: the first hop is where it can be asked.
            bail!("this host's agent is itself forwarded, so --confirm cannot be asked here: run `sso-agent ssh --confirm` on the first hop, or leave --confirm out");
        }
        return std::path::absolute(client.socket()).context("the agent's socket path");
    }
    let label = args
        .iter()
        .map(|arg| arg.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let request = Request::ForwardOpen { confirm, label };
    match client.request(request, REQUEST_TIMEOUT)? {
        Response::ForwardOpened { socket } => Ok(PathBuf::from(socket)),
        other => bail!("unexpected answer from the agent: {}", other.kind()),
    }
}

fn remote_forward_option(remote: &Path, local: &Path) -> Result<String> {
    Ok(format!(
        "RemoteForward {} {}",
        quoted(remote)?,
        quoted(local)?
    ))
}

/// A path as one ssh_config argument: double-quoted when it has blanks. ssh_config has no
/// escape for `"` itself, and `%` starts a token there.
fn quoted(path: &Path) -> Result<String> {
    let Some(text) = path.to_str() else {
        bail!(
            "the socket path {} is not UTF-8, which ssh_config cannot name",
            path.display()
        );
    };
    if text.contains(['"', '%', '\n']) {
        bail!("the socket path {text} has a character ssh_config cannot name (\", % or a newline); set SSO_AGENT_SOCKET to a plainer path");
    }
    Ok(if text.contains(char::is_whitespace) {
        format!("\"{text}\"")
    } else {
        text.to_string()
    })
}

/// 128 random bits, hex: a fresh remote path per connection.
fn random_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forward_option_names_both_sockets() {
        let option = remote_forward_option(
            Path::new("/tmp/sso-agent-forward-ab.sock"),
            Path::new("/run/user/1000/sso-agent/agent.sock"),
        )
        .unwrap();
        assert_eq!(
            option,
            "RemoteForward /tmp/sso-agent-forward-ab.sock /run/user/1000/sso-agent/agent.sock"
        );
        assert_eq!(
            quoted(Path::new("/home/a b/agent.sock")).unwrap(),
            "\"/home/a b/agent.sock\""
        );
        assert!(quoted(Path::new("/home/100%/agent.sock")).is_err());
    }

    #[test]
    fn every_connection_gets_its_own_remote_path() {
        let (a, b) = (random_id().unwrap(), random_id().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn the_config_lines_are_a_host_block() {
        let lines =
            config_lines("devbox", Path::new("/run/user/1000/sso-agent/agent.sock")).unwrap();
        assert!(lines.contains(
            "Host devbox\n    RemoteForward /tmp/sso-agent-forward-%C.sock /run/user/1000/sso-agent/agent.sock\n"
        ), "{lines}");
    }
}
