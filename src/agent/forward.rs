//! `forward_open`: a listening socket of its own for one `sso-agent ssh`, which `ssh` forwards
//! to the remote host. The agent can tell those requests apart: they come from the remote host.
//! - They are answered from the agent's own config: the remote helper's `AWS_CONFIG_FILE` is a
//!   path on the remote host and means nothing here.
//! - `stop`, container grants and another `forward_open` are refused: they are about this host
//!   (its agent, its loopback endpoint, its files), never the remote one's.
//! - With `confirm` (`sso-agent ssh --confirm`), the first request waits for the person to choose
//!   Allow in a desktop notification. The choice holds for the socket's life: Deny refuses every
//!   request on it after, without asking again (a remote root cannot flood the desktop).
//!
//! The socket lives in `forwards/` beside the agent's socket (0700, the socket 0600), and is
//! closed and removed when the process that asked exits: `sso-agent ssh` becomes `ssh` (same pid),
//! so the socket ends with the SSH connection. That process is watched as `exec --ecs` is
//! (a pidfd taken from the connection).

use super::container::Caller;
use super::container::ProcessWatch;
use super::{error, Agent, Reply};
use crate::notify::ForwardConfirmation;
use crate::protocol::{ErrorKind, Request, Response};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Forward sockets open at once (each is a listener and a task).
pub const MAX_FORWARDS: usize = 64;
/// How often the process a socket is tied to is looked at.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// What a forward socket lets through.
pub struct ForwardGate {
    confirm: bool,
    label: String,
    /// The person's choice, once asked: the first request holds this while it asks, and the
    /// ones arriving meanwhile wait for the same answer.
    decision: tokio::sync::Mutex<Option<bool>>,
}

impl ForwardGate {
    pub(super) async fn admit(&self, agent: &Agent, request: &Request) -> Result<(), Reply> {
        // What outlasts the connection, or reads the laptop's own files, stays the laptop's:
        // a forward asks for credentials and logins, nothing more.
        if matches!(
            request,
            Request::Stop
                | Request::ContainerGrant { .. }
                | Request::ContainerRevoke { .. }
                | Request::ForwardOpen { .. }
                | Request::LicenseImport { .. }
                | Request::LicenseForget { .. }
                | Request::ImportCliCache { .. }
                | Request::Logout { .. }
        ) {
            return Err(error(
                ErrorKind::Forbidden,
                "this request is not served over a forwarded socket: run it on the agent's own host",
            ));
        }
        if !self.confirm {
            return Ok(());
        }
        let mut decision = self.decision.lock().await;
        match *decision {
            Some(true) => return Ok(()),
            Some(false) => return Err(denied()),
            None => {}
        }
        let ask = ForwardConfirmation {
            label: self.label.clone(),
            asking: asking(request),
        };
        match agent.notifier.confirm_forward(ask).await {
            Some(true) => {
                tracing::info!(label = %self.label, "a forwarded session was allowed");
                *decision = Some(true);
                Ok(())
            }
            Some(false) => {
                tracing::warn!(label = %self.label, "a forwarded session was denied");
                *decision = Some(false);
                Err(denied())
            }
            None => Err(error(
                ErrorKind::Forbidden,
                "this SSH connection was opened with `sso-agent ssh --confirm`, and no desktop notification could ask on the agent's host: nothing is served on it; reconnect without --confirm, or where the agent's host shows notifications",
            )),
        }
    }
}

fn denied() -> Reply {
    error(
        ErrorKind::Forbidden,
        "denied on the agent's host (Deny in its notification): this SSH connection gets no credentials; reconnect with `sso-agent ssh --confirm` to be asked again",
    )
}

/// What the notification says the remote side asks for.
fn asking(request: &Request) -> String {
    match request {
        Request::Credentials { profile, .. } => format!("credentials for profile {profile}"),
        Request::Login {
            session, profile, ..
        } => match (session, profile) {
            (Some(session), _) => format!("a login to {session}"),
            (None, Some(profile)) => format!("a login for profile {profile}"),
            (None, None) => "a login".to_string(),
        },
        Request::AccountRoles { .. } => "the list of accounts and roles".to_string(),
        Request::Status => "the agent's status".to_string(),
        Request::Logout { .. } => "a logout".to_string(),
        _ => "a request".to_string(),
    }
}

/// A label as a notification may show it: printable, at most 120 characters.
fn clean_label(label: &str) -> String {
    let printable: String = label
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect();
    if printable.trim().is_empty() {
        "an SSH connection".to_string()
    } else {
        format!("ssh {}", printable.trim())
    }
}

/// Not async (it awaits nothing): its task serves connections that may ask for another, and
/// an async `open` would make that future's type its own.
pub(super) fn open(
    agent: &Arc<Agent>,
    confirm: bool,
    label: &str,
    caller: Option<Caller<'_>>,
) -> Reply {
    let Some(caller) = caller else {
        return error(
            ErrorKind::BadRequest,
            "a forward socket needs a connection that tells its process",
        );
    };
    let watch = match ProcessWatch::of_caller(caller) {
        Ok(watch) => watch,
        Err(err) => {
            return error(
                ErrorKind::BadRequest,
                format!("cannot watch the calling process: {err}"),
            )
        }
    };
    if agent.forwards.fetch_add(1, Ordering::SeqCst) >= MAX_FORWARDS {
        agent.forwards.fetch_sub(1, Ordering::SeqCst);
        return error(
            ErrorKind::BadRequest,
            format!("{MAX_FORWARDS} forwarded sockets are open already: close an `sso-agent ssh`"),
        );
    }
    let (listener, path) = match bind() {
        Ok(bound) => bound,
        Err(message) => {
            agent.forwards.fetch_sub(1, Ordering::SeqCst);
            return error(ErrorKind::Store, message);
        }
    };
    let gate = Arc::new(ForwardGate {
        confirm,
        label: clean_label(label),
        decision: tokio::sync::Mutex::new(None),
    });
    tracing::info!(socket = %path.display(), pid = watch.pid(), confirm, "opened a forward socket");
    let serving = agent.clone();
    let socket = path.clone();
    tokio::spawn(async move {
        let mut stop = serving.stopping();
        let ended = async {
            while watch.running() {
                tokio::time::sleep(WATCH_EVERY).await;
            }
        };
        let until = async {
            tokio::select! {
                () = ended => {}
                () = super::stopped(&mut stop) => {}
            }
        };
        super::server::serve_forward(listener, serving.clone(), gate, until).await;
        let _ = std::fs::remove_file(&socket);
        serving.forwards.fetch_sub(1, Ordering::SeqCst);
        tracing::info!(socket = %socket.display(), "closed a forward socket: its ssh ended");
    });
    Response::ForwardOpened {
        socket: path.display().to_string(),
    }
    .into()
}

/// A fresh socket in `forwards/` beside the agent's own, 0600 in a 0700 directory.
fn bind() -> Result<(tokio::net::UnixListener, PathBuf), String> {
    let socket = crate::paths::socket_path();
    let dir = std::path::absolute(&socket)
        .unwrap_or(socket)
        .parent()
        .map(|parent| parent.join("forwards"))
        .ok_or_else(|| "the agent's socket has no directory".to_string())?;
    crate::paths::ensure_private_dir(&dir).map_err(|err| err.to_string())?;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| format!("no randomness: {err}"))?;
    let id: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let path = dir.join(format!("{id}.sock"));
    let listener = tokio::net::UnixListener::bind(&path)
        .map_err(|err| format!("cannot listen on {}: {err}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|err| format!("cannot make {} private: {err}", path.display()))?;
    Ok((listener, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_is_printable_and_short() {
        assert_eq!(clean_label("me@devbox"), "ssh me@devbox");
        assert_eq!(clean_label("a\u{1b}[2Jb"), "ssh a [2Jb");
        assert_eq!(clean_label(""), "an SSH connection");
        assert!(clean_label(&"x".repeat(500)).len() <= 124);
    }

    #[test]
    fn the_notification_names_what_is_asked() {
        let request = Request::Credentials {
            profile: "dev".into(),
            wait: false,
        };
        assert_eq!(asking(&request), "credentials for profile dev");
        assert_eq!(asking(&Request::Status), "the agent's status");
    }
}
