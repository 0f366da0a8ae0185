//! Where the agent's socket lives, and the checks that keep it private to its user. Every check
//! looks at the path itself (`symlink_metadata`), never through a symlink: a link to another
//! user's directory is how a squatter would hand out its own socket.

use std::ffi::OsString;
use std::fs::{DirBuilder, Metadata};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What a user can always do instead: put the socket in a directory only they can reach.
pub const PRIVATE_PATH_FIX: &str = "set SSO_AGENT_SOCKET to a socket in a private directory of yours (e.g. SSO_AGENT_SOCKET=$HOME/.sso-agent/agent.sock) or XDG_RUNTIME_DIR to your own 0700 runtime directory";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("cannot create {dir}: {reason}")]
    Create { dir: String, reason: String },
    #[error("{dir} is a symlink (to {target}), not a directory of yours: another user may be impersonating the agent; {fix}", fix = PRIVATE_PATH_FIX)]
    Symlink { dir: String, target: String },
    #[error("{dir} is not a directory; {fix}", fix = PRIVATE_PATH_FIX)]
    NotADirectory { dir: String },
    #[error("{dir} belongs to {owner} and you are {uid}: another user may be impersonating the agent{cannot_remove}; {fix}", fix = PRIVATE_PATH_FIX)]
    NotOwned {
        dir: String,
        owner: String,
        uid: String,
        /// Set when the user cannot remove it (it sits in a sticky directory such as /tmp).
        cannot_remove: String,
    },
    /// The agent's own directory, open to others: `chmod` is the fix.
    #[error("{dir} can be reached by other users (mode {mode:o}); run `chmod 700 {dir}`")]
    TooOpen { dir: String, mode: u32 },
    /// A directory shared with others (such as /tmp): never change it, go elsewhere.
    #[error("{dir} is shared with other users (mode {mode:o}), so a socket there is not private; {fix}", fix = PRIVATE_PATH_FIX)]
    Shared { dir: String, mode: u32 },
}

/// `$SSO_AGENT_SOCKET`; else `$XDG_RUNTIME_DIR/sso-agent/agent.sock`; else (Linux)
/// `/run/user/<uid>/sso-agent/agent.sock` when that runtime directory is the user's, so an SSH
/// login without `XDG_RUNTIME_DIR` finds the agent systemd started; else
/// `/tmp/sso-agent-<uid>/agent.sock`. macOS: `$TMPDIR/sso-agent/agent.sock`.
pub fn socket_path() -> PathBuf {
    socket_path_from(
        |name| std::env::var_os(name),
        current_uid(),
        |dir| check_private_dir(dir).is_ok(),
    )
}

/// `socket_path` with its inputs given, for tests.
pub fn socket_path_from(
    var: impl Fn(&str) -> Option<OsString>,
    uid: u32,
    is_private: impl Fn(&Path) -> bool,
) -> PathBuf {
    let var = |name: &str| var(name).filter(|value| !value.is_empty());
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
    let run_user = PathBuf::from(format!("/run/user/{uid}"));
    if is_private(&run_user) {
        return run_user.join("sso-agent").join("agent.sock");
    }
    PathBuf::from(format!("/tmp/sso-agent-{uid}")).join("agent.sock")
}

/// The agent's log when a CLI command started it in the background.
pub fn log_path(socket: &Path) -> PathBuf {
    socket.with_file_name("agent.log")
}

/// Held by the running agent: one agent per socket.
pub fn lock_path(socket: &Path) -> PathBuf {
    socket.with_extension("lock")
}

/// Written by autostart: the pid of the agent it started, so a client may restart that agent
/// (and only that one) after an upgrade.
pub fn autostart_marker(socket: &Path) -> PathBuf {
    socket.with_extension("autostarted")
}

pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// "uid 65534 (nobody)": a uid as a person reads it.
pub fn describe_uid(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
}

/// The name /etc/passwd gives a uid (no NSS: this is for messages only).
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid.to_string()).then(|| name.to_string())
    })
}

/// Checks, without following symlinks and without changing anything, that `dir` is a directory
/// owned by the user that nobody else can reach: what the client demands before it sends a byte.
pub fn check_private_dir(dir: &Path) -> Result<(), std::io::Error> {
    check_private_dir_detailed(dir).map_err(|err| match err {
        DirCheck::Missing(err) => err,
        DirCheck::Refused(err) => std::io::Error::new(std::io::ErrorKind::PermissionDenied, err),
    })
}

/// Why `check_private_dir` said no.
#[derive(Debug)]
pub enum DirCheck {
    /// It does not exist (or cannot be looked at).
    Missing(std::io::Error),
    /// It exists and must not be used.
    Refused(PathError),
}

pub fn check_private_dir_detailed(dir: &Path) -> Result<(), DirCheck> {
    let metadata = std::fs::symlink_metadata(dir).map_err(DirCheck::Missing)?;
    judge(dir, &metadata).map_err(DirCheck::Refused)
}

fn judge(dir: &Path, metadata: &Metadata) -> Result<(), PathError> {
    let shown = dir.display().to_string();
    let file_type = metadata.file_type();
    if file_type.is_symlink() {
        let target = std::fs::read_link(dir)
            .map(|target| target.display().to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(PathError::Symlink { dir: shown, target });
    }
    if !file_type.is_dir() || file_type.is_socket() {
        return Err(PathError::NotADirectory { dir: shown });
    }
    let uid = current_uid();
    let mode = metadata.mode() & 0o7777;
    if metadata.uid() != uid {
        // /tmp and its like: shared by design, not someone impersonating the agent.
        if mode & 0o1022 != 0 {
            return Err(PathError::Shared { dir: shown, mode });
        }
        return Err(PathError::NotOwned {
            cannot_remove: cannot_remove_note(dir),
            dir: shown,
            owner: describe_uid(metadata.uid()),
            uid: describe_uid(uid),
        });
    }
    if mode & 0o077 != 0 {
        return Err(if is_shared(dir, mode) {
            PathError::Shared { dir: shown, mode }
        } else {
            PathError::TooOpen { dir: shown, mode }
        });
    }
    Ok(())
}

/// A directory meant for others too: sticky, writable by others, or holding more than the
/// agent's own files. Changing its mode would break whatever else uses it, so only a directory
/// that is the agent's alone gets the `chmod` advice.
fn is_shared(dir: &Path, mode: u32) -> bool {
    const AGENT_FILES: [&str; 7] = [
        "agent.sock",
        "forwards",
        "agent.lock",
        "agent.log",
        "agent.autostarted",
        "autostart.lock",
        "agent.pid",
    ];
    let named_ours = dir
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with("sso-agent"));
    let only_agent_files = std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().all(|entry| {
            AGENT_FILES
                .iter()
                .any(|name| entry.file_name() == std::ffi::OsStr::new(name))
        })
    });
    mode & 0o1000 != 0 || mode & 0o022 != 0 || !(named_ours || only_agent_files)
}

/// In a sticky directory (such as /tmp) a user cannot remove another user's entry.
fn cannot_remove_note(dir: &Path) -> String {
    let sticky_parent = dir
        .parent()
        .and_then(|parent| std::fs::symlink_metadata(parent).ok())
        .is_some_and(|parent| parent.mode() & 0o1000 != 0 && parent.uid() != current_uid());
    if sticky_parent {
        " (you cannot remove it: only its owner or root can; ask your administrator to)".into()
    } else {
        String::new()
    }
}

/// Creates the socket's directory 0700 if missing; refuses one that another user owns, that
/// others can reach or that is a symlink (it never chmods a directory it did not create).
pub fn ensure_private_dir(dir: &Path) -> Result<(), PathError> {
    let shown = dir.display().to_string();
    let create_error = |err: std::io::Error| PathError::Create {
        dir: shown.clone(),
        reason: err.to_string(),
    };
    match check_private_dir_detailed(dir) {
        Ok(()) => return Ok(()),
        Err(DirCheck::Refused(err)) => return Err(err),
        Err(DirCheck::Missing(err)) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(create_error(err))
        }
        Err(DirCheck::Missing(_)) => {}
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(create_error)?;
    // `recursive` applies the mode after umask; set it exactly, on the directory just made
    // (checked not to be a symlink below, before anything is put in it).
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(create_error)?;
    let metadata = std::fs::symlink_metadata(dir).map_err(create_error)?;
    judge(dir, &metadata)
}

/// The AWS config file as the SDKs find it: `$AWS_CONFIG_FILE` (a leading `~` is HOME), else
/// `~/.aws/config`. Std only, so the small helper can name it in its requests.
pub fn config_file(home: Option<String>, aws_config_file: Option<String>) -> String {
    match aws_config_file {
        Some(path) => match (path.strip_prefix('~'), home) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{home}{rest}")
            }
            _ => path,
        },
        None => PathBuf::from(home.as_deref().unwrap_or("~"))
            .join(".aws")
            .join("config")
            .display()
            .to_string(),
    }
}

/// `config_file` from this process's environment.
pub fn config_file_from_env() -> String {
    let var = |name| std::env::var(name).ok();
    config_file(var("HOME"), var("AWS_CONFIG_FILE"))
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
    fn a_shared_sticky_directory_is_never_to_be_chmodded() {
        let dir = scratch("sticky");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let message = ensure_private_dir(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!message.contains("chmod"), "{message}");
        assert!(message.contains("mode 1777"), "{message}");
        assert!(message.contains("SSO_AGENT_SOCKET"), "{message}");
        assert_eq!(message.lines().count(), 1);
    }

    #[test]
    fn tmp_itself_is_shared_whoever_owns_it() {
        let message = ensure_private_dir(Path::new("/tmp"))
            .unwrap_err()
            .to_string();
        assert!(!message.contains("chmod"), "{message}");
        assert!(message.contains("SSO_AGENT_SOCKET"), "{message}");
        if current_uid() == 0 {
            assert!(message.contains("mode 1777"), "{message}");
        }
    }

    #[test]
    fn a_symlink_is_refused_even_to_a_private_directory() {
        let base = scratch("link");
        let real = base.join("sso-agent-real");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = base.join("sso-agent-link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = ensure_private_dir(&link).unwrap_err();
        std::fs::remove_dir_all(&base).unwrap();
        assert!(matches!(err, PathError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("is a symlink"), "{err}");
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        let err = ensure_private_dir(Path::new("/")).unwrap_err();
        if current_uid() == 0 {
            assert!(matches!(err, PathError::Shared { .. }), "{err}");
        } else {
            assert!(matches!(err, PathError::NotOwned { .. }), "{err}");
        }
        assert!(!err.to_string().contains("chmod"), "{err}");
    }

    #[test]
    fn the_socket_is_searched_in_the_documented_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| OsString::from(value))
            }
        };
        let never = |_: &Path| false;
        let always = |_: &Path| true;
        assert_eq!(
            socket_path_from(
                env(&[("SSO_AGENT_SOCKET", "/a.sock"), ("XDG_RUNTIME_DIR", "/x")]),
                7,
                always
            ),
            Path::new("/a.sock")
        );
        assert_eq!(
            socket_path_from(env(&[("XDG_RUNTIME_DIR", "/x")]), 7, always),
            Path::new("/x/sso-agent/agent.sock")
        );
        if cfg!(target_os = "linux") {
            assert_eq!(
                socket_path_from(env(&[("XDG_RUNTIME_DIR", "")]), 7, always),
                Path::new("/run/user/7/sso-agent/agent.sock")
            );
            assert_eq!(
                socket_path_from(env(&[]), 7, never),
                Path::new("/tmp/sso-agent-7/agent.sock")
            );
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
        assert_eq!(
            autostart_marker(socket),
            Path::new("/run/user/1000/sso-agent/agent.autostarted")
        );
    }
}
