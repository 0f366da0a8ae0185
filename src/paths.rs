//! Where the agent's socket lives, and the checks that keep it private to its user.

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("cannot create {dir}: {reason}")]
    Create { dir: String, reason: String },
    #[error("{dir} is owned by uid {owner}, not by you (uid {uid}); remove it or point SSO_AGENT_SOCKET elsewhere")]
    NotOwned { dir: String, owner: u32, uid: u32 },
    #[error("{dir} can be reached by other users (mode {mode:o}); run `chmod 700 {dir}`")]
    TooOpen { dir: String, mode: u32 },
}

/// `$SSO_AGENT_SOCKET`; else `$XDG_RUNTIME_DIR/sso-agent/agent.sock`; else, on Linux,
/// `/tmp/sso-agent-<uid>/agent.sock` and on macOS `$TMPDIR/sso-agent/agent.sock`.
pub fn socket_path() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(path) = var("SSO_AGENT_SOCKET") {
        return PathBuf::from(path);
    }
    if let Some(runtime) = var("XDG_RUNTIME_DIR") {
        return PathBuf::from(runtime).join("sso-agent").join("agent.sock");
    }
    if cfg!(target_os = "macos") {
        let tmp = var("TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
        return tmp.join("sso-agent").join("agent.sock");
    }
    PathBuf::from(format!("/tmp/sso-agent-{}", current_uid())).join("agent.sock")
}

/// The agent's log when a CLI command started it in the background.
pub fn log_path(socket: &Path) -> PathBuf {
    socket.with_file_name("agent.log")
}

/// Held by the running agent: one agent per socket.
pub fn lock_path(socket: &Path) -> PathBuf {
    socket.with_extension("lock")
}

pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Creates the socket's directory 0700 if missing; refuses one that another user owns or that
/// others can reach (it never chmods a directory it did not create).
pub fn ensure_private_dir(dir: &Path) -> Result<(), PathError> {
    let shown = dir.display().to_string();
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| PathError::Create {
                dir: shown.clone(),
                reason: err.to_string(),
            })?;
        // `recursive` applies the mode to the last component only after umask; set it exactly.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|err| {
            PathError::Create {
                dir: shown.clone(),
                reason: err.to_string(),
            }
        })?;
    }
    let metadata = std::fs::metadata(dir).map_err(|err| PathError::Create {
        dir: shown.clone(),
        reason: err.to_string(),
    })?;
    let uid = current_uid();
    if metadata.uid() != uid {
        return Err(PathError::NotOwned {
            dir: shown,
            owner: metadata.uid(),
            uid,
        });
    }
    let mode = metadata.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PathError::TooOpen { dir: shown, mode });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sso-agent-paths-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_missing_directory_is_created_private() {
        let dir = scratch("new").join("nested");
        ensure_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn an_open_directory_is_refused_with_the_chmod_that_fixes_it() {
        let dir = scratch("open");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = ensure_private_dir(&dir).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} can be reached by other users (mode 755); run `chmod 700 {}`",
                dir.display(),
                dir.display()
            )
        );
        assert_eq!(
            std::fs::metadata(&dir).unwrap().mode() & 0o777,
            0o755,
            "left as it was"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        let err = ensure_private_dir(Path::new("/")).unwrap_err();
        if current_uid() == 0 {
            assert!(matches!(err, PathError::TooOpen { .. }), "{err}");
        } else {
            assert!(matches!(err, PathError::NotOwned { owner: 0, .. }), "{err}");
        }
    }

    #[test]
    fn derived_paths_sit_beside_the_socket() {
        let socket = Path::new("/run/user/1000/sso-agent/agent.sock");
        assert_eq!(
            log_path(socket),
            Path::new("/run/user/1000/sso-agent/agent.log")
        );
        assert_eq!(
            lock_path(socket),
            Path::new("/run/user/1000/sso-agent/agent.lock")
        );
    }
}
