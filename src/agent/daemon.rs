//! `sso-agent daemon`: claim the socket (one agent per socket), open the store, serve until
//! SIGTERM or SIGINT, and leave no socket file behind.

use super::Agent;
use crate::paths::{self, PathError};
use crate::store::{self, StoreError};
use std::fs::File;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("an agent is already running on {0}")]
    AlreadyRunning(String),
    #[error("cannot listen on {socket}: {reason}")]
    Bind { socket: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The claimed socket, with the lock that makes it this agent's.
pub struct ClaimedSocket {
    pub path: PathBuf,
    pub listener: UnixListener,
    lock: File,
    /// Handed over by systemd or launchd: the manager owns the socket file.
    inherited: bool,
}

/// The socket the service manager handed over, else one bound here (`claim_socket`).
pub fn claim_or_inherit(path: &Path) -> Result<ClaimedSocket, DaemonError> {
    let shown = path.display().to_string();
    let bind_error = |err: std::io::Error| DaemonError::Bind {
        socket: shown.clone(),
        reason: err.to_string(),
    };
    let Some(listener) = super::activation::inherited_listener().map_err(bind_error)? else {
        return claim_socket(path);
    };
    tracing::info!("using the socket handed over by the service manager");
    let lock = take_lock(path)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    Ok(ClaimedSocket {
        path: path.to_path_buf(),
        listener: UnixListener::from_std(listener).map_err(bind_error)?,
        lock,
        inherited: true,
    })
}

fn take_lock(path: &Path) -> Result<File, DaemonError> {
    let shown = path.display().to_string();
    if let Some(dir) = path.parent() {
        paths::ensure_private_dir(dir)?;
    }
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        // The directory was checked; a symlink planted as the lock is still not followed.
        .custom_flags(libc::O_NOFOLLOW)
        .open(paths::lock_path(path))
        .map_err(|err| DaemonError::Bind {
            socket: shown.clone(),
            reason: err.to_string(),
        })?;
    if lock.try_lock().is_err() {
        return Err(DaemonError::AlreadyRunning(shown));
    }
    Ok(lock)
}

/// Takes the socket's lock, replaces a stale socket file, binds, and makes the socket 0600.
pub fn claim_socket(path: &Path) -> Result<ClaimedSocket, DaemonError> {
    let shown = path.display().to_string();
    let lock = take_lock(path)?;
    // Holding the lock, any socket file left is a dead agent's.
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path).map_err(|err| DaemonError::Bind {
            socket: shown.clone(),
            reason: err.to_string(),
        })?;
    }
    let listener = UnixListener::bind(path).map_err(|err| DaemonError::Bind {
        socket: shown.clone(),
        reason: err.to_string(),
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|err| {
        DaemonError::Bind {
            socket: shown,
            reason: err.to_string(),
        }
    })?;
    Ok(ClaimedSocket {
        path: path.to_path_buf(),
        listener,
        lock,
        inherited: false,
    })
}

/// Runs the agent on `socket` until SIGTERM/SIGINT.
pub async fn run(socket: ClaimedSocket) -> Result<(), DaemonError> {
    let shutdown = shutdown_signal();
    crate::hardening::harden();
    raise_open_file_limit();
    let opened = tokio::task::spawn_blocking(store::open_from_env)
        .await
        .expect("opening the store does not panic")?;
    tracing::info!(
        "store: {} (tokens {})",
        opened.store.kind(),
        opened.store.kind().durability()
    );
    let (notifier, mut log_in_now) = crate::notify::DesktopNotifier::start();
    let agent = Agent::new(opened, std::sync::Arc::new(notifier));
    {
        let agent = agent.clone();
        tokio::spawn(async move {
            while let Some(session) = log_in_now.recv().await {
                agent.start_login(&session);
            }
        });
    }
    agent.open_configured_sessions().await;
    tokio::spawn(agent.clone().refresh_sessions());
    tokio::spawn(super::credentials::renew_roles(agent.clone()));
    tracing::info!(socket = %socket.path.display(), pid = std::process::id(), "agent ready");
    notify_service_manager(sd_notify::NotifyState::Ready);
    let ClaimedSocket {
        path,
        listener,
        lock,
        inherited,
    } = socket;
    super::server::serve(listener, agent.clone(), shutdown).await;
    // Tokens a failed keyring write left in memory only are not lost by a normal stop.
    agent.save_before_stop().await;
    notify_service_manager(sd_notify::NotifyState::Stopping);
    // Remove the socket while still holding the lock, so no new agent's socket is removed; an
    // inherited socket belongs to the service manager.
    if !inherited {
        let _ = std::fs::remove_file(&path);
    }
    remove_own_autostart_marker(&path);
    drop(lock);
    tracing::info!("agent stopped");
    Ok(())
}

/// The autostart marker names the agent autostart started; once that agent is gone, so is it.
fn remove_own_autostart_marker(socket: &Path) {
    let marker = paths::autostart_marker(socket);
    let ours = std::fs::read_to_string(&marker)
        .is_ok_and(|pid| pid.trim() == std::process::id().to_string());
    if ours {
        let _ = std::fs::remove_file(marker);
    }
}

/// Lifts the soft limit on open files to the hard one: the agent serves up to
/// `server::MAX_CONNECTIONS` clients, more than the common soft limit of 1024 descriptors allows.
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(err) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!("cannot raise the open-file limit: {err}");
        }
    }
}

/// Tells systemd (`NOTIFY_SOCKET`, `Type=notify`) where the agent stands; a no-op elsewhere.
fn notify_service_manager(state: sd_notify::NotifyState) {
    if let Err(err) = sd_notify::notify(&[state]) {
        tracing::warn!("cannot notify the service manager: {err}");
    }
}

/// Completes on SIGTERM or SIGINT. The handlers are installed when this is called, not when the
/// future is first polled: a SIGTERM that comes while the agent is busy must not kill it.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut terminate), Ok(mut interrupt)) = handlers else {
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    }
}
